package compose

import (
	"strings"

	"github.com/compose-spec/compose-go/v2/consts"
	"github.com/docker-vault/docker-vault/internal/composeyaml"
	yaml "go.yaml.in/yaml/v3"
)

// SourceKind is where a value comes from.
type SourceKind string

const (
	// SourceLiteral: written in environment: as is.
	SourceLiteral SourceKind = "literal"
	// SourceInterpolated: written in environment: with ${VAR} references
	// (see Source.Refs for where each one got its value).
	SourceInterpolated SourceKind = "interpolated"
	// SourcePassThrough: a bare "- NAME" or "NAME:" taking the value from the
	// shell or .env.
	SourcePassThrough SourceKind = "pass-through"
	// SourceEnvFile: a line of a service's env_file.
	SourceEnvFile SourceKind = "env_file"
	// SourceBuildArg: a build.args entry.
	SourceBuildArg SourceKind = "build-arg"
	// SourceDockerfile: an ARG or ENV instruction.
	SourceDockerfile SourceKind = "dockerfile"
	// SourceHealthcheck, SourceCommand: a copy inside healthcheck.test, or
	// command/entrypoint (Source.Field says which).
	SourceHealthcheck SourceKind = "healthcheck"
	SourceCommand     SourceKind = "command"
	// SourceLabel: a copy of a secret's value in labels: or deploy.labels
	// (Source.Field says which), which docker inspect shows.
	SourceLabel SourceKind = "label"
	// SourceExtension: a value in an x- block of a compose file (top-level
	// x-foo other than x-vault, or a service's x-foo), which compose
	// ignores but commits with the file (DetectOptions.Extensions).
	SourceExtension SourceKind = "extension"
	// SourceUnknown: the value is in the model but its origin was not found.
	SourceUnknown SourceKind = "unknown"
)

// Origin is where an interpolated variable got its value.
type Origin string

const (
	OriginShell   Origin = "shell"    // the process environment
	OriginDotEnv  Origin = "dotenv"   // the default .env
	OriginEnvFile Origin = "env-file" // an --env-file
	OriginInclude Origin = "include"  // an include: entry's env file
	OriginDefault Origin = "default"  // ${X:-default} written in the compose file
	OriginCompose Origin = "compose"  // set by compose itself (PWD, COMPOSE_PROJECT_NAME)
	OriginUnset   Origin = "unset"
)

// VarRef is one ${NAME} a value is interpolated from.
type VarRef struct {
	Name   string `json:"name"`
	Origin Origin `json:"origin"`
	// Position is where NAME=... is written when Origin is an env file.
	Position Position `json:"position,omitzero"`
}

// Source says where a value is written.
type Source struct {
	Kind SourceKind `json:"kind"`
	// Position is where the value is written: the environment entry (the map
	// value, or the list item "NAME=value"), the env_file line, the
	// Dockerfile instruction, the healthcheck/command node.
	Position Position `json:"position"`
	// Key is where the variable name is written (the map key, the list
	// item), when it differs from Position.
	Key Position `json:"key,omitzero"`
	// Form is "map" or "list" for environment entries.
	Form string `json:"form,omitempty"`
	// Shared: the entry is reached through a YAML anchor, alias or merge key;
	// editing it in place changes every service that uses the anchor.
	Shared bool `json:"shared,omitempty"`
	// Refs are the ${VAR} the value is interpolated from (interpolated), or
	// the variable a pass-through takes (pass-through).
	Refs []VarRef `json:"refs,omitempty"`
	// SingleRef: the value is exactly one ${VAR}, so the whole value lives
	// where that variable is defined.
	SingleRef bool `json:"single_ref,omitempty"`
	// Field names the compose attribute or instruction: "environment",
	// "build.args", "healthcheck.test", "command", "entrypoint", "ARG", "ENV",
	// "labels", "deploy.labels".
	Field string `json:"field,omitempty"`
}

func (s Source) String() string {
	out := string(s.Kind)
	if s.Kind == SourceInterpolated || s.Kind == SourcePassThrough {
		var names []string
		for _, r := range s.Refs {
			names = append(names, r.Name+" from "+string(r.Origin))
		}
		if len(names) > 0 {
			out += " (" + strings.Join(names, ", ") + ")"
		}
	}
	if pos := s.Position.String(); pos != "" {
		out += " at " + pos
	}
	return out
}

// envEntry is one environment entry as written in a layer.
type envEntry struct {
	name     string
	raw      string
	hasValue bool
	form     string
	key      *yaml.Node
	value    *yaml.Node
	shared   bool
	file     *File
}

// envEntries returns the environment entries of a service definition, and
// whether the definition resets what lower layers set (!reset, !override).
func envEntries(l layer) (entries []envEntry, reset bool) {
	p, ok := get(l.node, "environment", l.shared)
	if !ok {
		return nil, false
	}
	n, aliased := deref(p.value)
	if n == nil {
		return nil, false
	}
	reset = p.value.Tag == "!reset" || p.value.Tag == "!override" || n.Tag == "!reset" || n.Tag == "!override"
	shared := p.shared || aliased
	// A merge key that loops or names no mapping is a file compose-go
	// refused before these walks run: the entries found are used as they are.
	ents, _ := composeyaml.EnvEntries(n)
	for _, en := range ents {
		e := envEntry{name: en.Key, raw: en.Text, hasValue: en.HasValue, value: en.Value, file: l.file}
		switch en.Form {
		case composeyaml.EnvMap:
			// The name is the key as written, not KeyName's: an aliased key
			// is named by its alias, as before.
			e.name, e.form, e.key = en.KeyNode.Value, "map", en.KeyNode
			e.shared = shared || n.Anchor != "" || en.Merged() || en.Aliased() || (en.Value != nil && en.Value.Anchor != "")
		case composeyaml.EnvList:
			if en.Value == nil {
				continue
			}
			e.form, e.key = "list", en.Value
			e.shared = shared || en.Aliased() || en.Value.Anchor != ""
		}
		entries = append(entries, e)
	}
	return entries, reset
}

// serviceEnv merges the environment entries of all layers of a service:
// the entry each variable finally comes from.
func serviceEnv(layers []layer) map[string]envEntry {
	out := map[string]envEntry{}
	for _, l := range layers {
		entries, reset := envEntries(l)
		if reset {
			clear(out)
		}
		for _, e := range entries {
			out[e.name] = e
		}
	}
	return out
}

// lastField returns the value node of a (dotted) service attribute in the
// highest-precedence layer that sets it.
func lastField(layers []layer, path ...string) (*File, *yaml.Node, bool) {
	for i := len(layers) - 1; i >= 0; i-- {
		n := layers[i].node
		shared := layers[i].shared
		found := true
		for _, k := range path {
			p, ok := get(n, k, shared)
			if !ok {
				found = false
				break
			}
			n, shared = p.value, p.shared
		}
		if found {
			v, _ := deref(n)
			return layers[i].file, v, shared
		}
	}
	return nil, nil, false
}

// tmplRef is one reference found in a value template.
type tmplRef struct {
	name string
	op   string // "", ":-", "-", ":?", "?", ":+", "+"
}

// templateRefs lists the ${NAME...} and $NAME references of s, nested
// defaults included, skipping $$ escapes (compose-go's template syntax).
func templateRefs(s string) []tmplRef {
	var refs []tmplRef
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			continue
		}
		switch c := s[i+1]; {
		case c == '$':
			i++
		case c == '{':
			depth, j := 1, i+2
			for ; j < len(s) && depth > 0; j++ {
				switch s[j] {
				case '{':
					depth++
				case '}':
					depth--
				}
			}
			body := s[i+2 : j-1]
			if depth != 0 {
				body = s[i+2:]
			}
			k := 0
			for k < len(body) && isNameByte(body[k], k == 0) {
				k++
			}
			r := tmplRef{name: body[:k]}
			rest := body[k:]
			for _, op := range []string{":-", ":?", ":+", "-", "?", "+"} {
				if strings.HasPrefix(rest, op) {
					r.op = op
					refs = append(refs, r)
					refs = append(refs, templateRefs(rest[len(op):])...)
					break
				}
			}
			if r.op == "" && r.name != "" {
				refs = append(refs, r)
			}
			i = j - 1
		case isNameByte(c, true):
			j := i + 1
			for j < len(s) && isNameByte(s[j], j == i+1) {
				j++
			}
			refs = append(refs, tmplRef{name: s[i+1 : j]})
			i = j - 1
		}
	}
	return refs
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
}

// singleRef reports whether s is exactly one reference.
func singleRef(s string) bool {
	refs := templateRefs(s)
	if len(refs) == 0 {
		return false
	}
	if s == "$"+refs[0].name {
		return true
	}
	return strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") && strings.Count(s, "${") == 1
}

// origin says where name got its value for interpolating file f.
func (p *Project) origin(f *File, name, op string, atDefault Position) VarRef {
	ref := VarRef{Name: name}
	if _, ok := p.shell[name]; !ok && (name == "PWD" || name == consts.ComposeProjectName) {
		ref.Origin = OriginCompose // set by compose for interpolation
		return ref
	}
	v, set := f.env[name]
	if set && (v != "" || !strings.HasPrefix(op, ":")) {
		if _, ok := p.shell[name]; ok {
			ref.Origin = OriginShell
			return ref
		}
		// The project's env files win over an include's, and within each
		// group the last file defining the name wins.
		var fromProject, fromInclude *EnvFile
		for _, ef := range f.envSources {
			if _, ok := ef.values[name]; !ok {
				continue
			}
			if ef.Kind == EnvInclude {
				fromInclude = ef
			} else {
				fromProject = ef
			}
		}
		found := fromProject
		if found == nil {
			found = fromInclude
		}
		if found != nil {
			switch found.Kind {
			case EnvDotEnv:
				ref.Origin = OriginDotEnv
			case EnvFlag:
				ref.Origin = OriginEnvFile
			default:
				ref.Origin = OriginInclude
			}
			k := found.keys[name]
			ref.Position = Position{File: found.Path, Line: k.Line, Column: k.Column}
			return ref
		}
		ref.Origin = OriginShell
		return ref
	}
	switch op {
	case ":-", "-":
		ref.Origin, ref.Position = OriginDefault, atDefault
	default:
		ref.Origin = OriginUnset
	}
	return ref
}

// traceEnv builds the Source of one variable of a service.
func (p *Project) traceEnv(env map[string]envEntry, envFiles []*EnvFile, name string) Source {
	if e, ok := env[name]; ok {
		src := Source{
			Position: nodePos(e.file, e.value),
			Form:     e.form,
			Shared:   e.shared,
			Field:    "environment",
		}
		if e.form == "map" {
			src.Key = nodePos(e.file, e.key)
		}
		switch {
		case !e.hasValue:
			src.Kind = SourcePassThrough
			src.Position = nodePos(e.file, e.key)
			src.Refs = []VarRef{p.origin(e.file, name, "", Position{})}
		case strings.Contains(e.raw, "$"):
			refs := templateRefs(e.raw)
			if len(refs) == 0 {
				src.Kind = SourceLiteral // only $$ escapes
				break
			}
			src.Kind = SourceInterpolated
			src.SingleRef = singleRef(e.raw)
			for _, r := range refs {
				if r.name == "" {
					continue
				}
				src.Refs = append(src.Refs, p.origin(e.file, r.name, r.op, src.Position))
			}
		default:
			src.Kind = SourceLiteral
		}
		return src
	}
	for i := len(envFiles) - 1; i >= 0; i-- {
		ef := envFiles[i]
		if _, ok := ef.values[name]; ok {
			k := ef.keys[name]
			return Source{Kind: SourceEnvFile, Field: "env_file", Position: Position{File: ef.Path, Line: k.Line, Column: k.Column}}
		}
	}
	return Source{Kind: SourceUnknown}
}
