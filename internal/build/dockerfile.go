// Package build runs `docker buildx build` and `docker compose build` with
// the secret mounts of the build filled from Key Vault, masks the values in
// what the build prints, and checks the built images for leaked values.
//
// Values reach the builder only through the child process's environment
// (`--secret id=X,env=VAR`, or the variable a compose secret names): never
// a file, never argv.
package build

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// SecretMount is one secret id a Dockerfile's RUN --mount=type=secret uses.
type SecretMount struct {
	ID       string `json:"id"`
	Required bool   `json:"required"` // required=true in any use
	Stages   []string
	Line     int `json:"line"` // first use
	// Variable is set when the id uses a build arg ($X or ${X}): which
	// secret it names is only known once BuildKit expands it, so docker
	// vault leaves it to the user's --secret.
	Variable bool `json:"variable,omitempty"`
}

// SecretMounts returns the secret ids that building target (the last stage
// when empty) uses, read with BuildKit's own parser: only stages the target
// depends on (FROM, COPY --from, RUN --mount from=) count, as BuildKit
// skips the others.
func SecretMounts(dockerfile []byte, target string) ([]SecretMount, error) {
	stages, err := parseStages(dockerfile)
	if err != nil {
		return nil, err
	}
	needed, err := neededStages(stages, target)
	if err != nil {
		return nil, err
	}
	found := map[string]*SecretMount{}
	for i, s := range stages {
		if !needed[i] {
			continue
		}
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("%d", i)
		}
		for _, c := range s.Commands {
			if run, ok := c.(*instructions.RunCommand); ok {
				addSecretMounts(found, run, name)
			}
		}
	}
	out := make([]SecretMount, 0, len(found))
	for _, sm := range found {
		out = append(out, *sm)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Line < out[j].Line || (out[i].Line == out[j].Line && out[i].ID < out[j].ID)
	})
	return out, nil
}

// parseStages parses a Dockerfile with BuildKit's parser, its RUN mount
// options included.
func parseStages(dockerfile []byte) ([]instructions.Stage, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, withLine(err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, withLine(err)
	}
	if len(stages) == 0 {
		return nil, errors.New("dockerfile parse error: no FROM instruction")
	}
	// Mount options are evaluated only once a RUN is expanded (dockerfile2llb
	// expands build args there). Ids are taken literally: an id that uses a
	// build arg has no Key Vault mapping of its own anyway.
	literal := func(word string) (string, error) { return word, nil }
	for _, s := range stages {
		for _, c := range s.Commands {
			if run, ok := c.(*instructions.RunCommand); ok {
				if err := run.Expand(literal); err != nil {
					return nil, withLine(parser.WithLocation(err, run.Location()))
				}
			}
		}
	}
	return stages, nil
}

// neededStages are the indexes of the stages that building target (the
// last stage when empty) builds: the target and, transitively, the stages
// it names in FROM, COPY --from and RUN --mount from=.
func neededStages(stages []instructions.Stage, target string) (map[int]bool, error) {
	byName := map[string]int{}
	for i, s := range stages {
		if s.Name != "" {
			byName[strings.ToLower(s.Name)] = i
		}
	}
	last := len(stages) - 1
	if target != "" {
		i, ok := byName[strings.ToLower(target)]
		if !ok {
			return nil, fmt.Errorf("target stage %q could not be found", target)
		}
		last = i
	}
	needed := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if needed[i] {
			return
		}
		needed[i] = true
		// A stage depends only on earlier ones, by name or by index.
		dep := func(ref string) {
			if j, ok := byName[strings.ToLower(ref)]; ok && j < i {
				visit(j)
			} else if n, ok := stageIndex(ref); ok && n < i {
				visit(n)
			}
		}
		dep(stages[i].BaseName)
		for _, c := range stages[i].Commands {
			switch c := c.(type) {
			case *instructions.CopyCommand:
				if c.From != "" {
					dep(c.From)
				}
			case *instructions.RunCommand:
				for _, m := range instructions.GetMounts(c) {
					if m.From != "" {
						dep(m.From)
					}
				}
			}
		}
	}
	visit(last)
	return needed, nil
}

// addSecretMounts adds the secret mounts of run, in stage, to found (by
// id): an id is required when any use requires it, and its line is its
// first use.
func addSecretMounts(found map[string]*SecretMount, run *instructions.RunCommand, stage string) {
	for _, m := range instructions.GetMounts(run) {
		if m.Type != instructions.MountTypeSecret {
			continue
		}
		id := m.CacheID
		if m.Source != "" {
			id = m.Source
		}
		if id == "" {
			id = path.Base(m.Target)
		}
		line := 0
		if loc := run.Location(); len(loc) > 0 {
			line = loc[0].Start.Line
		}
		sm := found[id]
		if sm == nil {
			sm = &SecretMount{ID: id, Line: line, Variable: strings.Contains(id, "$")}
			found[id] = sm
		}
		sm.Required = sm.Required || m.Required
		if len(sm.Stages) == 0 || sm.Stages[len(sm.Stages)-1] != stage {
			sm.Stages = append(sm.Stages, stage)
		}
	}
}

// withLine turns a parse error into its line number and a reason that
// quotes none of the Dockerfile: BuildKit's messages repeat the text they
// stumbled on ("unknown instruction: X", "unexpected key 'k' in 'k=v'"),
// and a value in an ENV or ARG that spans lines, or in a mount option, is
// then printed back. The line is what the user needs to find it.
func withLine(err error) error {
	msg := err.Error()
	line := 0
	if m := parseErrorLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	var le *parser.LocationError
	if line == 0 && errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		line = le.Locations[0][0].Start.Line
	}
	reason := unquotedReason(msg)
	if line == 0 {
		return fmt.Errorf("dockerfile parse error: %s", reason)
	}
	return fmt.Errorf("dockerfile parse error on line %d: %s", line, reason)
}

var parseErrorLine = regexp.MustCompile(`^dockerfile parse error on line (\d+): (.*)$`)

// unquotedReason keeps the words of a BuildKit message up to the first text
// it quotes: after a colon, a quote, or an "in" that introduces it.
func unquotedReason(msg string) string {
	cut := len(msg)
	for _, sep := range []string{": ", "'", "\"", " in "} {
		if i := strings.Index(msg, sep); i >= 0 && i < cut {
			cut = i
		}
	}
	reason := strings.TrimSpace(msg[:cut])
	if reason == "" {
		return "invalid syntax"
	}
	return reason
}

func stageIndex(ref string) (int, bool) {
	n := 0
	if ref == "" {
		return 0, false
	}
	for _, r := range ref {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}
