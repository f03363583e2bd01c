package migrate

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/docker-vault/docker-vault/compose"
)

// sharedCheck finds the findings whose entry lives in an anchored block
// (`<<: *common`, `environment: *env`) that other services share, where
// editing the block would change a service that is not migrated the same
// way: one whose image does not read the file variable, one that is not
// active, one that gets another secret. Those are reported, with the
// reason, for every service sharing the entry.
func (pl *planner) sharedCheck(todo []int) map[int]error {
	out := map[int]error{}
	type key struct{ service, variable string }
	byKey := map[key]int{}
	for _, i := range todo {
		f := pl.r.Findings[i]
		byKey[key{f.Service, f.Variable}] = i
	}
	for _, i := range todo {
		f := pl.r.Findings[i]
		if err := pl.readOnlyCheck(f); err != nil {
			out[i] = err
			continue
		}
		if f.Via == compose.ViaEntrypoint {
			if _, err := pl.canWrap(f); err != nil {
				out[i] = err
				continue
			}
		}
		if !f.Source.Shared || f.Source.Kind == compose.SourceEnvFile {
			continue
		}
		d, err := pl.doc(f.Source.Position.File)
		if err != nil {
			continue // reported when the edit is tried
		}
		for _, e := range d.EnvEntries(f.Service) {
			if e.Key != f.Variable {
				continue
			}
			for _, s := range e.Services {
				if s == f.Service {
					continue
				}
				j, ok := byKey[key{s, f.Variable}]
				if !ok {
					out[i] = cannotEdit{fmt.Sprintf("not rewritten: the entry is shared with service %s (through &%s), which would change too and is not migrated: move the entry out of the anchor, or give %s a file variable in x-vault", s, e.Anchor, s)}
					break
				}
				g := pl.r.Findings[j]
				if g.SecretName != f.SecretName || !wrappedEither(f, g) && (g.FileVariable != f.FileVariable || g.FileVariableKind != f.FileVariableKind) {
					out[i] = cannotEdit{fmt.Sprintf("not rewritten: the entry is shared with service %s (through &%s), which reads it differently (%s as secret %s): move the entry out of the anchor", s, e.Anchor, g.FileVariable, g.SecretName)}
					break
				}
			}
		}
	}
	// A finding that shares its entry with a reported one is reported
	// too: the entry is edited for all of them or for none.
	for changed := true; changed; {
		changed = false
		for _, i := range todo {
			f := pl.r.Findings[i]
			if out[i] != nil || !f.Source.Shared {
				continue
			}
			for j, err := range out {
				g := pl.r.Findings[j]
				if g.Variable == f.Variable && entryPosition(g) == entryPosition(f) {
					out[i], changed = err, true
					break
				}
			}
		}
	}
	pl.envFileCheck(todo, out)
	return out
}

// wrappedEither reports whether one of two findings sharing an entry is
// moved through the entrypoint wrapper. Such an entry becomes the other's
// file variable when the other reads one (each service gets its own way:
// the wrapped one exports VAR from the same secret, and a VAR_FILE it does
// not read changes nothing for it), or goes when both are wrapped.
func wrappedEither(f, g compose.Finding) bool {
	return f.Via == compose.ViaEntrypoint || g.Via == compose.ViaEntrypoint
}

// envFileCheck reports the wrapped findings whose variable comes from an
// env file that another service reads it from too, unless that service's
// finding is migrated as well, to the same secret: the line goes (or
// becomes the file variable) for every service using the file.
func (pl *planner) envFileCheck(todo []int, out map[int]error) {
	migrating := map[int]bool{}
	for _, i := range todo {
		migrating[i] = true
	}
	for changed := true; changed; {
		changed = false
		for _, i := range todo {
			f := pl.r.Findings[i]
			if out[i] != nil || f.Via != compose.ViaEntrypoint || f.Source.Kind != compose.SourceEnvFile {
				continue
			}
			if s := pl.disabledUser(f.Source.Position.File); s != "" {
				out[i], changed = cannotEdit{fmt.Sprintf("not rewritten: %s is also read from %s by service %s, whose profile is not active: migrate with every profile", f.Variable, f.Source.Position.File, s)}, true
				continue
			}
			for j, g := range pl.r.Findings {
				if j == i || g.Source.Kind != compose.SourceEnvFile || g.Variable != f.Variable || g.Source.Position.File != f.Source.Position.File {
					continue
				}
				switch {
				case !migrating[j]:
					out[i] = cannotEdit{fmt.Sprintf("not rewritten: %s is also read from %s by service %s, where it is not migrated: give that service its own env file", f.Variable, f.Source.Position.File, g.Service)}
				case out[j] != nil:
					out[i] = cannotEdit{fmt.Sprintf("not rewritten: %s is also read from %s by service %s, which is not migrated (%v)", f.Variable, f.Source.Position.File, g.Service, out[j])}
				case g.SecretName != f.SecretName:
					out[i] = cannotEdit{fmt.Sprintf("not rewritten: %s is also read from %s by service %s as secret %s", f.Variable, f.Source.Position.File, g.Service, g.SecretName)}
				}
				if out[i] != nil {
					changed = true
					break
				}
			}
		}
	}
}

// sharerFileVariable returns the finding of another service, migrated
// through a file variable, that shares f's entry (an anchored entry, or a
// line of one env file): f's entry becomes its file variable.
func (pl *planner) sharerFileVariable(f compose.Finding) *compose.Finding {
	for j := range pl.r.Findings {
		g := &pl.r.Findings[j]
		if g.Action != compose.ActionMigrate || g.Via == compose.ViaEntrypoint || g.Variable != f.Variable || g.Service == f.Service || g.SecretName != f.SecretName || g.Source.Kind != f.Source.Kind {
			continue
		}
		if f.Source.Kind == compose.SourceEnvFile && g.Source.Position.File == f.Source.Position.File ||
			f.Source.Kind != compose.SourceEnvFile && f.Source.Shared && g.Source.Shared && entryPosition(*g) == entryPosition(f) {
			return g
		}
	}
	return nil
}

// entryPosition is where a finding's environment entry is written: its key
// in the map form, its item in the list form. Two services that reach one
// entry (through `<<: *env` or `environment: *env`) share it; two entries
// whose values are one anchored scalar (`KEY: *pw`) do not.
func entryPosition(f compose.Finding) compose.Position {
	if f.Source.Key.File != "" {
		return f.Source.Key
	}
	return f.Source.Position
}

// groups splits the findings to migrate into groups edited together: the
// findings whose entry is one anchored entry that several services share
// (editing it changes all of them, so all are migrated or none is), and
// every other finding alone.
func (pl *planner) groups(todo []int, skip map[int]error) [][]int {
	type key struct {
		pos      compose.Position
		variable string
	}
	var out [][]int
	at := map[key]int{}
	for _, i := range todo {
		if skip[i] != nil {
			continue
		}
		f := pl.r.Findings[i]
		if f.Source.Shared {
			k := key{entryPosition(f), f.Variable}
			if g, ok := at[k]; ok {
				out[g] = append(out[g], i)
				continue
			}
			at[k] = len(out)
		}
		out = append(out, []int{i})
	}
	return out
}

// disabledUser returns a service of an inactive profile that reads the env
// file path, "" when none does: removing a line would change it unseen.
func (pl *planner) disabledUser(path string) string {
	names := make([]string, 0, len(pl.p.Compose.DisabledServices))
	for name := range pl.p.Compose.DisabledServices {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, ef := range pl.p.Compose.DisabledServices[name].EnvFiles {
			if filepath.Clean(ef.Path) == filepath.Clean(path) {
				return name
			}
		}
	}
	return ""
}
