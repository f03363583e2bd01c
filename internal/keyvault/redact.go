package keyvault

import (
	"fmt"

	"github.com/docker-vault/docker-vault/internal/safefmt"
)

// Secret holds a value: it prints its name and version whatever the verb
// (see safefmt), never Value, and marshals to JSON without it (Value is
// `json:"-"`).

func (s Secret) String() string {
	out := "secret " + s.Name
	if s.Version != "" {
		out += " version " + s.Version
	}
	return out
}

func (s Secret) GoString() string              { return "keyvault.Secret{" + s.String() + "}" }
func (s Secret) Format(f fmt.State, verb rune) { safefmt.Format(f, verb, s) }
