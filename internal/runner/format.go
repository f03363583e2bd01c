package runner

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/docker-vault/docker-vault/internal/safefmt"
)

// Cmd's environment holds values: it prints its name, arguments and the
// names of its environment variables whatever the verb (see safefmt), and
// marshals to JSON the same way.

func (c Cmd) String() string {
	return fmt.Sprintf("%s: %s args %q, environment %v", c.Name, c.Path, c.Args, EnvNames(c.Env))
}

func (c Cmd) GoString() string              { return "runner.Cmd{" + c.String() + "}" }
func (c Cmd) Format(f fmt.State, verb rune) { safefmt.Format(f, verb, c) }

func (c Cmd) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name string   `json:"name"`
		Path string   `json:"path"`
		Args []string `json:"args"`
		Env  []string `json:"env"` // names only
	}{c.Name, c.Path, c.Args, EnvNames(c.Env)})
}

// EnvNames are the names of KEY=VALUE environment entries: what may be
// shown of an environment that carries values.
func EnvNames(env []string) []string {
	out := make([]string, len(env))
	for i, kv := range env {
		out[i], _, _ = strings.Cut(kv, "=")
	}
	return out
}
