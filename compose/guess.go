package compose

import (
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v3"
)

// Guess returns the project as Wait will, except that its compose-go model
// is built straight from the parsed YAML, without compose-go, and holds only
// what Detect reads (see facts). It takes a few milliseconds where compose-go
// takes the better part of a second on a project of a thousand services, so
// a caller can plan on the guess while compose-go loads: migrate does, and
// re-loads its rewrite while compose-go is still loading the original.
//
// Nothing proves a guess right but SameFacts against what Wait returns,
// which is what makes it safe: a wrong guess costs time, never a wrong
// result. So the guess covers only the plain case and returns nil for
// anything else: one compose file of one document, no include, services
// without extends, build, profiles, pre_start or !reset/!override tags, and
// values it can take as compose-go does (interpolated strings, integers and
// booleans written plainly, nulls). Call it after Start and before Wait.
func (l *Loading) Guess() *Project {
	pd := l.pd
	if len(pd.p.Files) != 1 {
		return nil
	}
	f := pd.p.Files[0]
	if len(f.Docs) != 1 || f.Docs[0] == nil || len(f.Docs[0].Content) == 0 {
		return nil
	}
	root, _ := deref(f.Docs[0].Content[0])
	if root == nil || root.Kind != yaml.MappingNode {
		return nil
	}
	m := &types.Project{
		Name:             pd.name,
		WorkingDir:       pd.p.opts.projectDir,
		Environment:      pd.env,
		Services:         types.Services{},
		Secrets:          types.Secrets{},
		DisabledServices: types.Services{},
	}
	for _, top := range mapPairs(root, false) {
		v, _ := deref(top.value)
		if v == nil || hasLocalTag(top.value) {
			return nil
		}
		switch top.key.Value {
		case "include":
			return nil
		case "services":
			if v.Kind != yaml.MappingNode {
				return nil
			}
			for _, sp := range mapPairs(v, top.shared) {
				svc, ok := guessService(f, sp)
				if !ok {
					return nil
				}
				m.Services[svc.Name] = svc
			}
		case "secrets":
			if isNullNode(v) {
				continue
			}
			if v.Kind != yaml.MappingNode {
				return nil
			}
			for _, sp := range mapPairs(v, top.shared) {
				m.Secrets[sp.key.Value] = types.SecretConfig{}
			}
		case "x-vault":
			var x any
			if hasDollar(v) || v.Decode(&x) != nil {
				return nil
			}
			m.Extensions = types.Extensions{"x-vault": x}
		}
	}
	g := &Project{
		Compose:   m,
		Files:     slices.Clone(pd.p.Files),
		EnvFiles:  slices.Clone(pd.p.EnvFiles),
		DotEnv:    pd.p.DotEnv,
		shell:     pd.p.shell,
		opts:      pd.p.opts,
		byPath:    maps.Clone(pd.p.byPath),
		envByPath: maps.Clone(pd.p.envByPath),
	}
	if err := g.resolveEnvironment(m, pd.src); err != nil {
		return nil
	}
	return g
}

// guessService builds what Detect reads of one service.
func guessService(f *File, sp pair) (types.ServiceConfig, bool) {
	s := types.ServiceConfig{Name: sp.key.Value}
	n, _ := deref(sp.value)
	if n == nil || n.Kind != yaml.MappingNode || hasLocalTag(sp.value) {
		return s, false
	}
	for _, a := range mapPairs(n, sp.shared) {
		v, _ := deref(a.value)
		if v == nil || hasLocalTag(a.value) {
			return s, false
		}
		var ok bool
		switch a.key.Value {
		case "extends", "build", "profiles", "pre_start":
			return s, false
		case "image":
			s.Image, ok = guessString(f, v)
		case "env_file":
			s.EnvFiles, ok = guessEnvFiles(f, v)
		case "command":
			s.Command, ok = guessCommand(f, v)
		case "entrypoint":
			s.Entrypoint, ok = guessCommand(f, v)
		case "healthcheck":
			s.HealthCheck, ok = guessHealthcheck(f, v)
		default:
			ok = true
		}
		if !ok {
			return s, false
		}
	}
	entries, reset := envEntries(layer{file: f, node: sp.value, shared: sp.shared})
	if reset {
		return s, false
	}
	env := make(types.MappingWithEquals, len(entries))
	for _, e := range entries {
		if strings.Contains(e.name, "$") || strings.TrimRightFunc(e.name, isSpace) != e.name {
			return s, false
		}
		if !e.hasValue {
			env[e.name] = nil
			continue
		}
		if e.form == "map" && !plainScalar(e.value) {
			return s, false
		}
		v, err := template.Substitute(e.raw, f.env.Resolve)
		if err != nil {
			return s, false
		}
		env[e.name] = &v
	}
	s.Environment = env
	return s, true
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' }

// plainScalar reports whether compose-go reads a map value as the string
// written: a string, or an integer or boolean written as Go prints it.
func plainScalar(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode {
		return false
	}
	switch n.ShortTag() {
	case "!!str":
		return true
	case "!!int":
		i, err := strconv.ParseInt(n.Value, 10, 64)
		return err == nil && strconv.FormatInt(i, 10) == n.Value
	case "!!bool":
		return n.Value == "true" || n.Value == "false"
	}
	return false
}

// guessString is an interpolated string scalar.
func guessString(f *File, n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return "", false
	}
	v, err := template.Substitute(n.Value, f.env.Resolve)
	return v, err == nil
}

// guessStrings is a string or a list of strings, interpolated, as the
// []any or string compose-go decodes them from.
func guessStrings(f *File, n *yaml.Node) (any, bool) {
	if n.Kind == yaml.ScalarNode {
		return guessString(f, n)
	}
	if n.Kind != yaml.SequenceNode {
		return nil, false
	}
	out := make([]any, 0, len(n.Content))
	for _, c := range n.Content {
		c, _ = deref(c)
		if c == nil {
			return nil, false
		}
		s, ok := guessString(f, c)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func guessCommand(f *File, n *yaml.Node) (types.ShellCommand, bool) {
	v, ok := guessStrings(f, n)
	if !ok {
		return nil, false
	}
	var c types.ShellCommand
	return c, c.DecodeMapstructure(v) == nil
}

func guessHealthcheck(f *File, n *yaml.Node) (*types.HealthCheckConfig, bool) {
	if n.Kind != yaml.MappingNode {
		return nil, false
	}
	hc := &types.HealthCheckConfig{}
	for _, a := range mapPairs(n, false) {
		switch a.key.Value {
		case "disable":
			return nil, false
		case "test":
			v, _ := deref(a.value)
			if v == nil {
				return nil, false
			}
			t, ok := guessStrings(f, v)
			if !ok || hc.Test.DecodeMapstructure(t) != nil {
				return nil, false
			}
		}
	}
	return hc, true
}

// guessEnvFiles is env_file as compose-go resolves it: a path or a list of
// paths and {path, required, format} entries, relative to the project
// directory, required unless said otherwise.
func guessEnvFiles(f *File, n *yaml.Node) ([]types.EnvFile, bool) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var out []types.EnvFile
	for _, it := range items {
		it, _ = deref(it)
		if it == nil {
			return nil, false
		}
		ef := types.EnvFile{Required: true}
		switch it.Kind {
		case yaml.ScalarNode:
			p, ok := guessString(f, it)
			if !ok {
				return nil, false
			}
			ef.Path = p
		case yaml.MappingNode:
			for _, a := range mapPairs(it, false) {
				v, _ := deref(a.value)
				if v == nil || v.Kind != yaml.ScalarNode {
					return nil, false
				}
				var ok bool
				switch a.key.Value {
				case "path":
					ef.Path, ok = guessString(f, v)
				case "format":
					ef.Format, ok = guessString(f, v)
				case "required":
					ok = v.ShortTag() == "!!bool" && (v.Value == "true" || v.Value == "false")
					ef.Required = v.Value == "true"
				}
				if !ok {
					return nil, false
				}
			}
		default:
			return nil, false
		}
		if ef.Path == "" || strings.HasPrefix(ef.Path, "~") {
			return nil, false
		}
		if !filepath.IsAbs(ef.Path) {
			ef.Path = filepath.Join(f.Dir, ef.Path)
		}
		// compose-go keeps one entry per path.
		if slices.ContainsFunc(out, func(o types.EnvFile) bool { return o.Path == ef.Path }) {
			return nil, false
		}
		out = append(out, ef)
	}
	return out, true
}

// hasLocalTag reports a tag such as !reset or !override on n.
func hasLocalTag(n *yaml.Node) bool {
	for n != nil {
		if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			return true
		}
		if n.Kind != yaml.AliasNode {
			return false
		}
		n = n.Alias
	}
	return false
}

func isNullNode(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// hasDollar reports whether any scalar under n holds a $, which
// compose-go would interpolate. Each node is visited once, however many
// aliases lead to it.
func hasDollar(n *yaml.Node) bool {
	seen := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		n, _ = deref(n)
		if n == nil || seen[n] {
			return false
		}
		seen[n] = true
		if n.Kind == yaml.ScalarNode {
			return strings.Contains(n.Value, "$")
		}
		return slices.ContainsFunc(n.Content, walk)
	}
	return walk(n)
}
