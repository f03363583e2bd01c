package compose

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/docker-vault/docker-vault/internal/safefmt"
)

// The types of this package that hold secret values (file contents, env
// file values, findings, the process environment) print the same text
// whatever the verb (see safefmt): String and GoString say what the value
// is (names, paths, positions), never the value.

func (f File) String() string                    { return string(f.Role) + " " + f.Path }
func (f File) GoString() string                  { return "compose.File{" + f.String() + "}" }
func (f File) Format(s fmt.State, verb rune)     { safefmt.Format(s, verb, f) }
func (ef EnvFile) String() string                { return string(ef.Kind) + " " + ef.Path }
func (ef EnvFile) GoString() string              { return "compose.EnvFile{" + ef.String() + "}" }
func (ef EnvFile) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, ef) }
func (d Dockerfile) String() string              { return "Dockerfile " + d.Path }
func (d Dockerfile) GoString() string            { return "compose.Dockerfile{" + d.String() + "}" }
func (d Dockerfile) Format(s fmt.State, verb rune) {
	safefmt.Format(s, verb, d)
}

func (p Project) String() string {
	name := ""
	if p.Compose != nil {
		name = p.Compose.Name
	}
	paths := make([]string, len(p.Files))
	for i, f := range p.Files {
		paths[i] = f.Path
	}
	return "project " + name + " (" + strings.Join(paths, ", ") + ")"
}

func (p Project) GoString() string              { return "compose.Project{" + p.String() + "}" }
func (p Project) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, p) }

func (f Finding) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, f) }
func (s Secret) Format(f fmt.State, verb rune)  { safefmt.Format(f, verb, s) }
func (r Report) Format(s fmt.State, verb rune)  { safefmt.Format(s, verb, r) }

// LoadOptions holds the process environment, which may hold secrets
// (AZURE_CLIENT_SECRET, a password exported for compose): it prints the
// variables' names only, and marshals without their values.
func (o LoadOptions) String() string {
	return fmt.Sprintf("files %q, project directory %q, env files %q, profiles %q, project name %q, working directory %q, environment %q",
		o.Files, o.ProjectDir, o.EnvFiles, o.Profiles, o.ProjectName, o.WorkingDir, envNames(o.Environ))
}

func (o LoadOptions) GoString() string              { return "compose.LoadOptions{" + o.String() + "}" }
func (o LoadOptions) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, o) }

func (o LoadOptions) MarshalJSON() ([]byte, error) {
	type plain LoadOptions
	out := plain(o)
	out.Environ = envNames(o.Environ)
	return json.Marshal(out)
}

// envNames are the names of KEY=VALUE entries.
func envNames(env []string) []string {
	out := make([]string, len(env))
	for i, kv := range env {
		out[i], _, _ = strings.Cut(kv, "=")
	}
	return out
}

// Unexported types that hold values, which nothing prints: a mistake would
// show a name, not a value.

func (e envEntry) String() string                  { return "environment entry " + e.name }
func (e envEntry) GoString() string                { return "compose.envEntry{" + e.name + "}" }
func (e envEntry) Format(s fmt.State, verb rune)   { safefmt.Format(s, verb, e) }
func (v dfVar) String() string                     { return v.instr + " " + v.key }
func (v dfVar) GoString() string                   { return "compose.dfVar{" + v.String() + "}" }
func (v dfVar) Format(s fmt.State, verb rune)      { safefmt.Format(s, verb, v) }
func (h commandHit) String() string                { return "command copy (" + h.why + ")" }
func (h commandHit) GoString() string              { return "compose.commandHit{" + h.why + "}" }
func (h commandHit) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, h) }
