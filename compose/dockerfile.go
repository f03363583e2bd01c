package compose

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	yaml "go.yaml.in/yaml/v3"
)

// readDockerfiles reads the Dockerfile of every service that builds, once
// per file. A Dockerfile that cannot be read is recorded with the reason,
// not an error: the compose project itself loaded, and a build context may
// be remote or not checked out.
func (p *Project) readDockerfiles(src fileSource) {
	byPath := map[string]*Dockerfile{}
	names := make([]string, 0, len(p.Compose.Services))
	for name := range p.Compose.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b := p.Compose.Services[name].Build
		if b == nil {
			continue
		}
		var df *Dockerfile
		switch {
		case b.DockerfileInline != "":
			f, n, _ := lastField(p.layers(name), "build", "dockerfile_inline")
			path, line := "", 0
			if f != nil {
				path, line = f.Path, n.Line
				if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
					line++ // block scalar text starts on the next line
				}
			}
			df = &Dockerfile{Path: path, Inline: true, Line: line, Content: []byte(b.DockerfileInline)}
			p.Dockerfiles = append(p.Dockerfiles, df)
		case remoteRef(b.Context):
			df = &Dockerfile{Path: b.Context, Err: "remote build context: not read"}
			p.Dockerfiles = append(p.Dockerfiles, df)
		default:
			file := b.Dockerfile
			if file == "" {
				file = "Dockerfile"
			}
			if !filepath.IsAbs(file) {
				file = filepath.Join(b.Context, file)
			}
			if df = byPath[file]; df == nil {
				df = &Dockerfile{Path: file}
				if content, err := src.read(file); err != nil {
					df.Err = "cannot read: " + errText(err)
				} else {
					df.Content = content
				}
				byPath[file] = df
				p.Dockerfiles = append(p.Dockerfiles, df)
			}
		}
		df.Services = append(df.Services, name)
	}
}

// errText keeps an OS error short: the path is already in the report.
func errText(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// dfVar is one ARG or ENV name of a Dockerfile, with every line setting it.
type dfVar struct {
	instr    string // ARG or ENV
	key      string
	value    string
	hasValue bool
	lines    []int
}

// dfRun is one RUN instruction: its first line and the text its shell
// reads (the command, and any heredoc bodies).
type dfRun struct {
	line int
	text string
}

// parseDockerfile lists the ARG and ENV of a Dockerfile, and its RUN
// instructions, with BuildKit's own parser, so line continuations,
// heredocs and escape directives are read as `docker build` reads them.
func parseDockerfile(content []byte) ([]dfVar, []dfRun, error) {
	res, err := parser.Parse(bytes.NewReader(content))
	if err != nil {
		return nil, nil, err
	}
	var out []dfVar
	var runs []dfRun
	at := map[string]int{}
	add := func(instr, key, value string, has bool, line int) {
		id := instr + " " + key
		if i, ok := at[id]; ok {
			out[i].lines = append(out[i].lines, line)
			if !out[i].hasValue && has {
				out[i].value, out[i].hasValue = value, true
			}
			return
		}
		at[id] = len(out)
		out = append(out, dfVar{instr: instr, key: key, value: value, hasValue: has, lines: []int{line}})
	}
	for _, n := range res.AST.Children {
		switch strings.ToLower(n.Value) {
		case "arg", "env":
		case "run":
			var text strings.Builder
			for a := n.Next; a != nil; a = a.Next {
				text.WriteString(a.Value)
				text.WriteByte(' ')
			}
			for _, h := range n.Heredocs {
				text.WriteString(h.Content)
			}
			runs = append(runs, dfRun{line: n.StartLine, text: text.String()})
			continue
		default:
			continue
		}
		cmd, err := instructions.ParseInstruction(n)
		if err != nil {
			continue // BuildKit would fail the build; nothing to report here
		}
		switch c := cmd.(type) {
		case *instructions.ArgCommand:
			for _, a := range c.Args {
				v := ""
				if a.Value != nil {
					v = *a.Value
				}
				add("ARG", a.Key, v, a.Value != nil, n.StartLine)
			}
		case *instructions.EnvCommand:
			for _, e := range c.Env {
				add("ENV", e.Key, e.Value, true, n.StartLine)
			}
		}
	}
	return out, runs, nil
}

// dockerfileFindings judges the ARG and ENV of one Dockerfile: a name
// BuildKit's SecretsUsedInArgOrEnv rule matches, or a value holding a
// token shape. It is the one path for a service's Dockerfile (Detect,
// which adds the service and the exclude lists) and for a Dockerfile on
// its own (JudgeDockerfile). Lines are the Dockerfile's, moved to the
// compose file for an inline one (df.Line).
func dockerfileFindings(df *Dockerfile) ([]Finding, error) {
	vars, runs, err := parseDockerfile(df.Content)
	if err != nil {
		return nil, err
	}
	line := func(l int) int {
		if df.Inline {
			return l + df.Line - 1
		}
		return l
	}
	var out []Finding
	for _, v := range vars {
		why := ""
		if buildkitSecretName(v.key) {
			why = "name matches BuildKit's SecretsUsedInArgOrEnv rule"
		}
		if what, _, ok := tokenShape(v.value); ok && v.hasValue {
			why = "value holds " + what
		}
		if why == "" {
			continue
		}
		f := Finding{
			Variable: v.key,
			Source:   Source{Kind: SourceDockerfile, Field: v.instr, Position: Position{File: df.Path, Line: line(v.lines[0]), Column: 1}},
			Verdict:  VerdictSecret,
			Action:   ActionReport,
			Reason:   v.instr + " " + why,
		}
		if df.Inline {
			f.Source.Position.Column = 0
		}
		if v.hasValue {
			f.Value = []byte(v.value)
		}
		if len(v.lines) > 1 {
			f.Reason += fmt.Sprintf(" (set %d times)", len(v.lines))
		}
		if len(df.Services) > 1 {
			f.Reason += "; built by " + strings.Join(df.Services, ", ")
		}
		f.Reason += "; ARG and ENV values are kept in the image and its history: use RUN --mount=type=secret,id=" + secretName(v.key) + " (docker vault build fills it)"
		f.Fix = dockerfileFix(v, runs, line)
		out = append(out, f)
	}
	return out, nil
}

// dockerfileFix says what to write instead of an ARG or ENV holding a
// secret: remove it, and mount the secret in each RUN that reads the
// variable (after it is first set), by line. The id is the variable's
// secret name, the id `docker vault build` fills from Key Vault.
func dockerfileFix(v dfVar, runs []dfRun, line func(int) int) string {
	id := secretName(v.key)
	set := make([]int, len(v.lines))
	for i, l := range v.lines {
		set[i] = line(l)
	}
	var used []int
	for _, r := range runs {
		if r.line > v.lines[0] && readsVar(r.text, v.key) {
			used = append(used, line(r.line))
		}
	}
	s := "remove " + v.instr + " " + v.key + " (" + lineList(set) + ")"
	mount := "RUN --mount=type=secret,id=" + id
	if len(used) == 0 {
		s += "; no RUN reads $" + v.key + ": a step that needs the secret uses " + mount + " and reads /run/secrets/" + id
	} else {
		s += "; " + lineList(used) + ": " + mount + ", and read /run/secrets/" + id + " instead of $" + v.key
	}
	if v.instr == "ENV" {
		s += "; a container that needs it at run time gets it as a compose secret"
	}
	return s
}

// lineList is "line 3", "lines 3, 7" or, for runs of lines, "lines 2-35".
func lineList(lines []int) string {
	if len(lines) == 1 {
		return "line " + strconv.Itoa(lines[0])
	}
	var parts []string
	for i := 0; i < len(lines); {
		j := i
		for j+1 < len(lines) && lines[j+1] == lines[j]+1 {
			j++
		}
		part := strconv.Itoa(lines[i])
		if j > i+1 {
			part += "-" + strconv.Itoa(lines[j])
		} else if j == i+1 {
			part += ", " + strconv.Itoa(lines[j])
		}
		parts = append(parts, part)
		i = j + 1
	}
	return "lines " + strings.Join(parts, ", ")
}

// readsVar reports whether shell text expands name: $NAME or ${NAME...}.
func readsVar(text, name string) bool {
	for i := 0; i < len(text); {
		j := strings.IndexByte(text[i:], '$')
		if j < 0 {
			return false
		}
		rest := text[i+j+1:]
		if strings.HasPrefix(rest, "{") {
			rest = rest[1:]
		}
		if strings.HasPrefix(rest, name) && (len(rest) == len(name) || !isNameByte(rest[len(name)], false)) {
			return true
		}
		i += j + 1
	}
	return false
}
