package yamledit

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// This file tells where a compose file or an env file writes values, for a
// caller that must show the file without them (migrate's masked diff). It
// uses the walk the edits use, node spans (source) and environment entries
// (envOccurrences), so what is hidden is found the way what is edited is.

// Extent is where a value is written, in lines as a diff splits them (at
// "\n"): from byte Col of line Line (1-based) to the end of line EndLine.
// Lines after the first are the continuation of a multi-line value (a block
// scalar, quoted or plain text spanning lines).
type Extent struct {
	Line, Col, EndLine int
}

// lineIndex converts byte offsets to Extent lines.
type lineIndex []int // offsets of the "\n"s

func newLineIndex(b []byte) lineIndex {
	var nl lineIndex
	for i, c := range b {
		if c == '\n' {
			nl = append(nl, i)
		}
	}
	return nl
}

// at returns the 1-based line of offset off and its byte column.
func (nl lineIndex) at(off int) (line, col int) {
	i := sort.SearchInts(nl, off) // "\n"s before off
	start := 0
	if i > 0 {
		start = nl[i-1] + 1
	}
	return i + 1, off - start
}

func (nl lineIndex) extent(start, end int) Extent {
	line, col := nl.at(start)
	last := line
	if end > start {
		last, _ = nl.at(end - 1)
	}
	return Extent{Line: line, Col: col, EndLine: last}
}

// EnvValue is one entry of a service's environment as written.
type EnvValue struct {
	Service, Key string
	// Line and Column are where the value node starts as yaml.v3 counts
	// (the map value with aliases followed, or the list item): the
	// position compose.Detect reports for the entry.
	Line, Column int
	HasValue     bool
	// Value is the value after YAML decoding (after "=" for the list
	// form), before interpolation.
	Value string
	// Extent is where the value is written: for the list form it starts
	// after "KEY=".
	Extent Extent
}

// Values is where one compose file writes values.
type Values struct {
	d  *Doc
	nl lineIndex
	// starts indexes the nodes by where they start, the largest winning;
	// built by the first At.
	starts map[[2]int]*yaml.Node
}

// ValuesOf locates every node of a compose file. root is the document node
// yaml.v3 decoded from data, or nil to decode it here. It fails where this
// package could not edit the file either.
func ValuesOf(data []byte, root *yaml.Node) (*Values, error) {
	if root == nil {
		// Only the nodes are needed: not parseYAML's checks, which the
		// callers' data (a file compose-go loaded) has passed.
		root = &yaml.Node{}
		if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(root); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: the top level is not a mapping", ErrUnsupported)
	}
	src := newSource(data)
	if err := src.locate(root); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return &Values{d: &Doc{src: src, root: root}, nl: newLineIndex(data)}, nil
}

func (v *Values) extent(n *yaml.Node) (Extent, bool) {
	sp, ok := v.d.src.spans[n]
	if !ok {
		return Extent{}, false
	}
	return v.nl.extent(sp.start, sp.end), true
}

// listKeyRe is the "KEY=" a list item such as an environment entry starts
// with, maybe after a quote.
var listKeyRe = regexp.MustCompile(`^["']?[A-Za-z_][A-Za-z0-9_.\[\]-]*=`)

// itemExtent is a sequence item's extent, starting after its "KEY=".
func (v *Values) itemExtent(n *yaml.Node) (Extent, bool) {
	sp, ok := v.d.src.spans[n]
	if !ok {
		return Extent{}, false
	}
	start := v.d.src.skipProps(sp.start)
	start = v.d.src.skipBlank(start)
	if k := listKeyRe.Find(v.d.src.b[start:sp.end]); k != nil {
		start += len(k)
	} else {
		start = sp.start
	}
	return v.nl.extent(start, sp.end), true
}

// Env lists the environment entries of every service of the file, those
// reached through merge keys and aliases included, once per service that
// gets them. A file without services has none.
func (v *Values) Env() ([]EnvValue, error) {
	if p, err := lookup(v.d.root.Content[0], "services"); err != nil || p == nil || deref(p.value) == nil || deref(p.value).Kind != yaml.MappingNode {
		return nil, err
	}
	all, err := v.d.allEnvs()
	if err != nil {
		return nil, err
	}
	var out []EnvValue
	for _, se := range all {
		for _, o := range se.entries {
			e := EnvValue{Service: se.name, Key: o.key, HasValue: o.hasValue, Value: o.value, Line: o.val.Line, Column: o.val.Column}
			var ok bool
			if o.form == ListForm {
				e.Extent, ok = v.itemExtent(o.val)
			} else {
				e.Extent, ok = v.extent(o.val)
			}
			if !ok {
				return nil, fmt.Errorf("%w: environment entry at %d:%d not located", ErrUnsupported, o.val.Line, o.val.Column)
			}
			if !o.hasValue {
				e.Extent = Extent{}
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// At returns the extent of the node that starts at line and column (as
// yaml.v3 counts them); of several, the largest (a block mapping starts
// where its first key does).
func (v *Values) At(line, column int) (Extent, bool) {
	if v.starts == nil {
		spans := v.d.src.spans
		v.starts = make(map[[2]int]*yaml.Node, len(spans))
		for n, sp := range spans {
			k := [2]int{n.Line, n.Column}
			if b, ok := v.starts[k]; !ok || sp.end-sp.start > spans[b].end-spans[b].start {
				v.starts[k] = n
			}
		}
	}
	n, ok := v.starts[[2]int{line, column}]
	if !ok {
		return Extent{}, false
	}
	return v.extent(n)
}

// Service lists where every value written inside a service's definition
// is: each scalar but the mapping keys (list items after their "KEY="). An
// alias is not followed: the anchored node is written elsewhere.
func (v *Values) Service(name string) []Extent {
	p, err := lookup(v.d.root.Content[0], "services")
	if err != nil || p == nil || deref(p.value) == nil || deref(p.value).Kind != yaml.MappingNode {
		return nil
	}
	svcs := deref(p.value)
	var out []Extent
	var walk func(n *yaml.Node, item bool)
	walk = func(n *yaml.Node, item bool) {
		switch n.Kind {
		case yaml.ScalarNode:
			var e Extent
			var ok bool
			if item {
				e, ok = v.itemExtent(n)
			} else {
				e, ok = v.extent(n)
			}
			if ok && n.Value != "" {
				out = append(out, e)
			}
		case yaml.MappingNode:
			for i := 1; i < len(n.Content); i += 2 {
				walk(n.Content[i], false)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, true)
			}
		}
	}
	for i := 0; i+1 < len(svcs.Content); i += 2 {
		if keyName(svcs.Content[i]) == name {
			walk(svcs.Content[i+1], false)
		}
	}
	return out
}

// Scalars calls fn with the value and extent of every scalar of the file,
// mapping keys included, each once (list items after their "KEY=").
func (v *Values) Scalars(fn func(value string, e Extent)) {
	var walk func(n *yaml.Node, item bool)
	walk = func(n *yaml.Node, item bool) {
		if n.Kind == yaml.ScalarNode {
			e, ok := v.extent(n)
			if item {
				e, ok = v.itemExtent(n)
			}
			if ok {
				fn(n.Value, e)
			}
			return
		}
		for _, c := range n.Content {
			walk(c, n.Kind == yaml.SequenceNode)
		}
	}
	walk(v.d.root, false)
}

// EnvStatement is one statement of an env file.
type EnvStatement struct {
	Key string
	// Line is the statement's first line (1-based, lines split at "\n"):
	// the line compose.Detect reports for the key.
	Line int
	// HasValue is false for a bare KEY, which inherits its value.
	HasValue bool
	// Raw is the value as written (quotes and all).
	Raw string
	// Extent is where the value is written.
	Extent Extent
}

// EnvStatements lists the statements of an env file, read as
// ParseEnvFile reads them, duplicates and all.
func EnvStatements(data []byte) ([]EnvStatement, error) {
	stmts, err := scanEnv("", data)
	if err != nil {
		return nil, err
	}
	nl := newLineIndex(data)
	out := make([]EnvStatement, 0, len(stmts))
	for _, s := range stmts {
		st := EnvStatement{Key: s.key}
		st.Line, _ = nl.at(s.start)
		// The value starts after the key's "=" or ":" and the blanks that
		// follow, as scanEnv found it.
		p := s.start
		if m := envExportRe.Find(data[p:s.end]); m != nil {
			p += len(m)
		}
		sep := bytes.IndexAny(data[p:s.end], "=:")
		if sep >= 0 {
			p += sep + 1
			for p < s.end {
				r, w := utf8.DecodeRune(data[p:])
				if !envIsSpace(r) {
					break
				}
				p += w
			}
			st.HasValue = true
			st.Raw = string(data[p:s.end])
			st.Extent = nl.extent(p, s.end)
		}
		out = append(out, st)
	}
	return out, nil
}
