// Package envrun hands a compose project's Key Vault values to a child
// process through its environment only: the core of `docker vault run`,
// `up` and `compose`.
//
// Compose can take a secret's value from a variable of its own process
// (a top-level secret with `environment: VAR`) and copies it straight into
// the container's /run/secrets, so a value that reaches compose that way is
// never on the host's disk. envrun finds those secrets (Environment), or
// turns every Key Vault-mapped secret into one through an override compose
// file that holds names only (Mapped, Override), reads the values
// concurrently and bounded (Read), and builds the child's environment
// (Select, Environ) within the limits the kernel sets on an environment.
//
// A value lives in a Value until the caller clears it, and in the child's
// environment: never in argv, a file, an error or a message.
package envrun

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/internal/mapping"
)

// Source is where the project itself takes a secret from.
type Source string

const (
	// FromEnvironment is a secret the project already reads from a
	// variable: it needs no override.
	FromEnvironment Source = "environment"
	// FromExternal and FromFile are converted by the override.
	FromExternal Source = Source(mapping.External)
	FromFile     Source = Source(mapping.File)
)

// VarPrefix names the variables the override makes for secrets the
// project does not already read from a variable.
const VarPrefix = "DOCKER_VAULT_SECRET_"

// Secret is one compose secret filled from Key Vault through a variable.
type Secret struct {
	Key     string // key under the top-level secrets:
	Source  Source
	Var     string // the variable compose reads it from
	KVName  string // Key Vault secret name
	Version string // pinned version, "" for the latest
}

// Environment finds every top-level secret whose source is `environment:`
// and that Key Vault backs (any but `x-vault: false`), sorted by key: what
// `docker vault run` fills. Services' build.secrets name top-level secrets,
// so theirs are among them.
func Environment(p *types.Project) ([]Secret, error) {
	all, err := Mapped(p)
	if err != nil {
		return nil, err
	}
	var out []Secret
	for _, s := range all {
		if s.Source == FromEnvironment {
			out = append(out, s)
		}
	}
	return out, nil
}

// Mapped finds every Key Vault-mapped secret of the project: the
// `environment:` ones (with their own variable), and the external and
// file ones Key Vault backs, each given a variable of its own (VarPrefix
// and its key). Local secrets (`x-vault: false`, unmarked file secrets)
// and `content:` ones are left as the project has them.
func Mapped(p *types.Project) ([]Secret, error) {
	all, err := mapping.MapAll(p)
	if err != nil {
		return nil, err
	}
	taken := map[string]bool{}
	for _, s := range all {
		if v := p.Secrets[s.Key].Environment; v != "" {
			taken[v] = true
		}
	}
	var out []Secret
	for _, s := range all {
		if s.Local {
			continue
		}
		sec := Secret{Key: s.Key, KVName: s.KVName, Version: s.Version}
		switch {
		case p.Secrets[s.Key].Environment != "":
			sec.Source, sec.Var = FromEnvironment, p.Secrets[s.Key].Environment
		case s.Kind == mapping.External || s.Kind == mapping.File:
			sec.Source, sec.Var = Source(s.Kind), varFor(s.Key, taken)
		default:
			continue // content: the project holds the value itself
		}
		out = append(out, sec)
	}
	return out, checkVars(out)
}

// varFor is VarPrefix and the key in upper case, every character a
// variable name cannot hold as '_', with a number when that is taken.
func varFor(key string, taken map[string]bool) string {
	name := VarPrefix + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, key)
	v := name
	for n := 2; taken[v]; n++ {
		v = fmt.Sprintf("%s_%d", name, n)
	}
	taken[v] = true
	return v
}

// checkVars fails when one variable would have to carry two Key Vault
// secrets.
func checkVars(secrets []Secret) error {
	byVar := map[string]Secret{}
	for _, s := range secrets {
		o, dup := byVar[s.Var]
		if dup && (!strings.EqualFold(o.KVName, s.KVName) || !strings.EqualFold(o.Version, s.Version)) {
			return fmt.Errorf("secrets %s and %s both read variable %s but map to different Key Vault secrets: give them one x-vault name, or separate variables", o.Key, s.Key, s.Var)
		}
		if !dup {
			byVar[s.Var] = s
		}
	}
	return nil
}

// Vars are the variables of secrets, sorted, each once.
func Vars(secrets []Secret) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range secrets {
		if !seen[s.Var] {
			seen[s.Var] = true
			out = append(out, s.Var)
		}
	}
	sort.Strings(out)
	return out
}
