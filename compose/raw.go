package compose

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/internal/composeyaml"
	yaml "go.yaml.in/yaml/v3"
)

// This file walks the raw YAML the way compose-go merges it, to find where
// a value is written. compose-go's own model has no positions.

// Position is a place in a file: 1-based line, 1-based column counted in
// characters (as yaml.v3 counts them).
type Position struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

func (p Position) String() string {
	if p.File == "" {
		return ""
	}
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
}

func nodePos(f *File, n *yaml.Node) Position {
	if n == nil {
		return Position{File: f.Path}
	}
	return Position{File: f.Path, Line: n.Line, Column: n.Column}
}

// pair is one key/value of a YAML mapping after merge keys are expanded.
type pair struct {
	key, value *yaml.Node
	// shared: the value is reached through an alias or a merge key, or sits
	// under an anchor: editing it in place edits every user of the anchor.
	shared bool
}

// deref follows aliases, and says whether it did.
func deref(n *yaml.Node) (*yaml.Node, bool) {
	d := composeyaml.Deref(n)
	return d, d != n
}

// mapPairs returns the pairs of a mapping with YAML merge keys expanded by
// the YAML layer's one walker (composeyaml.Pairs), as compose-go expands
// them: explicit keys win over merged ones, and of several merged maps the
// first one wins. Its errors (a merge key reaching its own mapping, or
// naming no mapping) are files compose-go refused before these walks run,
// or that explain is already describing: the pairs found are used as they
// are.
func mapPairs(n *yaml.Node, shared bool) []pair {
	n, aliased := deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	shared = shared || aliased || n.Anchor != ""
	ps, _ := composeyaml.Pairs(n)
	out := make([]pair, len(ps))
	for i, p := range ps {
		vv, va := deref(p.Value)
		out[i] = pair{key: p.Key, value: p.Value, shared: shared || len(p.Via) > 0 || va || (vv != nil && vv.Anchor != "")}
	}
	return out
}

// get returns the value of key in a mapping.
func get(n *yaml.Node, key string, shared bool) (pair, bool) {
	for _, p := range mapPairs(n, shared) {
		if p.key.Value == key {
			return p, true
		}
	}
	return pair{}, false
}

// svcNode is one definition of a service in one file.
type svcNode struct {
	node   *yaml.Node
	shared bool
}

// topLevel returns the value of a top-level key in each document of f
// that has it, in document order.
func (f *File) topLevel(key string) []pair {
	var out []pair
	for _, d := range f.Docs {
		if d == nil || len(d.Content) == 0 {
			continue
		}
		if p, ok := get(d.Content[0], key, false); ok {
			out = append(out, p)
		}
	}
	return out
}

// services indexes the services: of every document of f, in document order.
func (f *File) serviceIndex() map[string][]svcNode {
	idx := map[string][]svcNode{}
	for _, s := range f.topLevel("services") {
		for _, p := range mapPairs(s.value, s.shared) {
			idx[p.key.Value] = append(idx[p.key.Value], svcNode{node: p.value, shared: p.shared})
		}
	}
	return idx
}

// layer is one service definition that contributes to a final service,
// lowest precedence first: extends bases before the service extending
// them, included files before the file including them, -f files in order.
type layer struct {
	file   *File
	node   *yaml.Node
	shared bool
}

// layers returns the definitions of service, lowest precedence first.
func (p *Project) layers(service string) []layer {
	var out []layer
	seen := map[*File]bool{}
	var visit func(f *File)
	visit = func(f *File) {
		if seen[f] {
			return
		}
		seen[f] = true
		for _, inc := range f.includes {
			visit(inc)
		}
		out = p.serviceLayers(out, f, service, 0)
	}
	for _, f := range p.Files {
		if f.Role == RoleMain {
			visit(f)
		}
	}
	return out
}

func (p *Project) serviceLayers(out []layer, f *File, name string, depth int) []layer {
	if depth > 16 { // compose-go rejects cycles; this only bounds the walk
		return out
	}
	for _, sn := range p.index(f)[name] {
		if base, baseName, ok := p.extendsOf(f, sn.node); ok && !(base == f && baseName == name) {
			out = p.serviceLayers(out, base, baseName, depth+1)
		}
		out = append(out, layer{file: f, node: sn.node, shared: sn.shared})
	}
	return out
}

// index caches serviceIndex per file.
func (p *Project) index(f *File) map[string][]svcNode {
	if p.svcIndex == nil {
		p.svcIndex = map[*File]map[string][]svcNode{}
	}
	idx, ok := p.svcIndex[f]
	if !ok {
		idx = f.serviceIndex()
		p.svcIndex[f] = idx
	}
	return idx
}

// extendsOf returns the file and service a service definition extends.
func (p *Project) extendsOf(f *File, svc *yaml.Node) (*File, string, bool) {
	e, ok := get(svc, "extends", false)
	if !ok {
		return nil, "", false
	}
	v, _ := deref(e.value)
	switch v.Kind {
	case yaml.ScalarNode:
		return f, f.interpolate(v.Value), true
	case yaml.MappingNode:
		s, ok := get(v, "service", false)
		if !ok {
			return nil, "", false
		}
		name := f.interpolate(s.value.Value)
		file, ok := get(v, "file", false)
		if !ok {
			return f, name, true
		}
		base := p.byPath[f.resolve(f.interpolate(file.value.Value))]
		if base == nil {
			return nil, "", false
		}
		return base, name, true
	}
	return nil, "", false
}

// interpolate substitutes ${VAR} in a path or name written in f.
func (f *File) interpolate(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	out, err := template.Substitute(s, f.env.Resolve)
	if err != nil {
		return s
	}
	return out
}

func (f *File) resolve(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(f.Dir, path)
}

func remoteRef(s string) bool {
	return strings.Contains(s, "://") || strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "oci:")
}

// readIncluded reads the files main files include and extend, recursively,
// as compose-go does while loading. It runs before compose-go, so that an
// included file whose aliases no loader can expand is refused first, as a
// main file is (see readRaw); a file that cannot be read or parse here is
// skipped, not an error: compose-go reports it.
func (p *Project) readIncluded(src fileSource) error {
	for i := 0; i < len(p.Files); i++ {
		f := p.Files[i]
		if err := p.followIncludes(f, src); err != nil {
			return err
		}
		if err := p.followExtends(f, src); err != nil {
			return err
		}
	}
	return nil
}

func (p *Project) followIncludes(f *File, src fileSource) error {
	for _, inc := range f.topLevel("include") {
		seq, _ := deref(inc.value)
		if seq.Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range seq.Content {
			if err := p.include(f, item, src); err != nil {
				return err
			}
		}
	}
	return nil
}

func scalarList(n *yaml.Node) []string {
	n, _ = deref(n)
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c, _ := deref(c); c.Kind == yaml.ScalarNode {
				out = append(out, c.Value)
			}
		}
		return out
	}
	return nil
}

// include follows one include: entry the way compose-go's ApplyInclude does.
func (p *Project) include(f *File, item *yaml.Node, src fileSource) error {
	item, _ = deref(item)
	var paths, envFiles []string
	projectDir := ""
	switch item.Kind {
	case yaml.ScalarNode:
		paths = []string{item.Value}
	case yaml.MappingNode:
		if v, ok := get(item, "path", false); ok {
			paths = scalarList(v.value)
		}
		if v, ok := get(item, "project_directory", false); ok {
			projectDir = f.interpolate(v.value.Value)
		}
		if v, ok := get(item, "env_file", false); ok {
			envFiles = scalarList(v.value)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	for i := range paths {
		paths[i] = f.interpolate(paths[i])
		if remoteRef(paths[i]) {
			return nil
		}
		paths[i] = f.resolve(paths[i])
	}
	dir := filepath.Dir(paths[0])
	if projectDir != "" {
		dir = f.resolve(projectDir)
	}
	if len(envFiles) == 0 {
		if src.exists(filepath.Join(dir, ".env")) {
			envFiles = []string{filepath.Join(dir, ".env")}
		}
	} else {
		for i := range envFiles {
			envFiles[i] = f.resolve(f.interpolate(envFiles[i]))
		}
	}
	env, sources, err := p.includeEnv(f, envFiles, src)
	if err != nil {
		return err
	}
	for _, path := range paths {
		if g := p.byPath[path]; g != nil {
			f.includes = append(f.includes, g)
			continue
		}
		g, err := p.readRaw(path, RoleInclude, dir, env, sources, src)
		if err != nil {
			return err
		}
		if g != nil {
			f.includes = append(f.includes, g)
		}
	}
	return nil
}

// includeEnv reads an include's env files: the environment its files are
// interpolated with is the including file's plus theirs.
func (p *Project) includeEnv(f *File, envFiles []string, src fileSource) (types.Mapping, []*EnvFile, error) {
	efs, fromFiles, err := p.readEnvFiles(envFiles, f.env, func(path string) (*EnvFile, error) {
		if path == "/dev/null" {
			return nil, nil
		}
		b, err := src.read(path)
		if err != nil {
			return nil, nil
		}
		return &EnvFile{Path: path, Kind: EnvInclude, Content: b}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	env := f.env.Clone()
	sources := append(append([]*EnvFile(nil), f.envSources...), efs...)
	env.Merge(fromFiles)
	return env, sources, nil
}

func (p *Project) followExtends(f *File, src fileSource) error {
	for _, defs := range p.index(f) {
		for _, sn := range defs {
			e, ok := get(sn.node, "extends", false)
			if !ok {
				continue
			}
			v, _ := deref(e.value)
			if v.Kind != yaml.MappingNode {
				continue
			}
			file, ok := get(v, "file", false)
			if !ok {
				continue
			}
			path := f.interpolate(file.value.Value)
			if remoteRef(path) {
				continue
			}
			path = f.resolve(path)
			if p.byPath[path] == nil {
				if _, err := p.readRaw(path, RoleExtends, filepath.Dir(path), f.env, f.envSources, src); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// readRaw reads and parses an included or extended file. Only aliases no
// loader can expand are an error here: compose-go would spend seconds of
// CPU refusing them. Nil without error is a file compose-go will report.
func (p *Project) readRaw(path string, role FileRole, dir string, env types.Mapping, sources []*EnvFile, src fileSource) (*File, error) {
	b, err := src.read(path)
	if err != nil {
		return nil, nil
	}
	docs, err := decodeYAML(path, b)
	if err != nil {
		return nil, nil
	}
	if err := composeyaml.CheckAliases(path, docs...); err != nil {
		return nil, err
	}
	g := &File{Path: path, Role: role, Dir: dir, Content: b, Docs: docs, env: env, envSources: sources}
	p.addFile(g)
	return g, nil
}

// envKey is where a key's value starts in an env file.
type envKey struct {
	Line, Column int
}

// scanEnvKeys finds, for each key of an env file, where its (last) value is
// written. compose-go's dotenv parser does not keep positions; this follows
// its syntax (optional "export ", KEY=VALUE or KEY: VALUE, # comments,
// quoted values that may span lines) closely enough to point at the line.
func scanEnvKeys(b []byte) map[string]envKey {
	keys := map[string]envKey{}
	var quote byte // inside a quoted value that spans lines
	for i, l := range bytes.Split(b, []byte("\n")) {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if i == 0 {
			// The parser skips a UTF-8 byte order mark; editors do not
			// show it, so columns are counted after it.
			l = bytes.TrimPrefix(l, []byte("\ufeff"))
		}
		if quote != 0 {
			if closesQuote(l, quote) {
				quote = 0
			}
			continue
		}
		rest := bytes.TrimLeft(l, " \t")
		if bytes.HasPrefix(rest, []byte("export")) && len(rest) > len("export") && (rest[len("export")] == ' ' || rest[len("export")] == '\t') {
			rest = bytes.TrimLeft(rest[len("export"):], " \t")
		}
		if len(rest) == 0 || rest[0] == '#' {
			continue
		}
		sep := bytes.IndexAny(rest, "=:")
		if sep <= 0 {
			continue
		}
		vstart := len(l) - len(rest) + sep + 1
		for vstart < len(l) && (l[vstart] == ' ' || l[vstart] == '\t') {
			vstart++
		}
		keys[string(bytes.TrimSpace(rest[:sep]))] = envKey{Line: i + 1, Column: utf8.RuneCount(l[:vstart]) + 1}
		if vstart < len(l) && (l[vstart] == '"' || l[vstart] == '\'') && !closesQuote(l[vstart+1:], l[vstart]) {
			quote = l[vstart]
		}
	}
	return keys
}

func closesQuote(l []byte, q byte) bool {
	for i := 0; i < len(l); i++ {
		if l[i] == '\\' && q == '"' {
			i++
			continue
		}
		if l[i] == q {
			return true
		}
	}
	return false
}
