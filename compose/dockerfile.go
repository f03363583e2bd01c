package compose

import (
	"bytes"
	"path/filepath"
	"sort"
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

// dockerfileVars lists the ARG and ENV of a Dockerfile with BuildKit's own
// parser, so line continuations, heredocs and escape directives are read as
// `docker build` reads them.
func dockerfileVars(content []byte) ([]dfVar, error) {
	res, err := parser.Parse(bytes.NewReader(content))
	if err != nil {
		return nil, err
	}
	var out []dfVar
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
	return out, nil
}
