package build

import (
	"encoding/json"
	"fmt"

	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/docker-vault/docker-vault/internal/safefmt"
)

// Secret and Invocation hold values (Value, and the child's environment):
// they print ids, versions, arguments and variable names whatever the verb
// (see safefmt), and marshal to JSON without the values.

func (s Secret) String() string {
	out := "secret id " + s.ID
	if s.Version != "" {
		out += " version " + s.Version
	}
	return out
}

func (s Secret) GoString() string              { return "build.Secret{" + s.String() + "}" }
func (s Secret) Format(f fmt.State, verb rune) { safefmt.Format(f, verb, s) }

func (s Secret) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID      string `json:"id"`
		Version string `json:"version,omitempty"`
	}{s.ID, s.Version})
}

func (inv Invocation) String() string {
	return fmt.Sprintf("args %q, environment %v", inv.Args, runner.EnvNames(inv.Env))
}

func (inv Invocation) GoString() string { return "build.Invocation{" + inv.String() + "}" }
func (inv Invocation) Format(f fmt.State, verb rune) {
	safefmt.Format(f, verb, inv)
}

func (inv Invocation) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Args []string `json:"args"`
		Env  []string `json:"env"` // names only
	}{inv.Args, runner.EnvNames(inv.Env)})
}
