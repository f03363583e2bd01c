package migrate

import (
	"fmt"

	"github.com/docker-vault/docker-vault/internal/safefmt"
)

// File and Push hold values (a file's old and new bytes, a value to store):
// they print paths and names whatever the verb (see safefmt), and marshal
// to JSON without the values (their value fields are `json:"-"`).

func (f File) String() string {
	out := f.Kind + " " + f.Path
	if f.Created {
		out += " (created)"
	}
	return out
}

func (f File) GoString() string              { return "migrate.File{" + f.String() + "}" }
func (f File) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, f) }

func (p Push) String() string                { return "push " + p.Secret + " to Key Vault secret " + p.KVName }
func (p Push) GoString() string              { return "migrate.Push{" + p.String() + "}" }
func (p Push) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, p) }

// Plan and Prepared hold the types above: they need their own Format too,
// as fmt prints a field it cannot format with the verb given (%s of a
// pointer to a struct) raw, without its Format.

func (p Plan) String() string {
	return fmt.Sprintf("migration plan: %d findings, %d files, %d pushes", len(p.Items), len(p.Files), len(p.Pushes))
}

func (p Plan) GoString() string              { return "migrate.Plan{" + p.String() + "}" }
func (p Plan) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, p) }

func (p Prepared) String() string {
	out := "prepared"
	if p.Project != nil {
		out += " " + p.Project.String()
	}
	if p.Plan != nil {
		out += ", " + p.Plan.String()
	}
	return out
}

func (p Prepared) GoString() string              { return "migrate.Prepared{" + p.String() + "}" }
func (p Prepared) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, p) }
