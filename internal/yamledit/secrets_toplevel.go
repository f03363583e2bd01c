package yamledit

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// AddTopLevelSecret makes sure the top-level `secrets:` defines name with
// fields, in order. Each field is {key, value}, the value written as YAML
// source text: a scalar ("./secrets/db_password", "true"; use Quote for
// arbitrary strings), a flow collection ("{name: db-password}"), or a block
// mapping or sequence on several lines ("name: db-password\nversion: abc"),
// which is indented under its key. For example
//
//	d.AddTopLevelSecret("db_password", [][2]string{
//		{"external", "true"},
//		{"x-vault", "name: db-password"},
//	})
//
// Without a top-level `secrets:` one is added at the end of the document (or
// after its last key when something other than comments follows it), with a
// blank line before it when the file separates its top-level keys so. When
// name is already defined with the same content (compared as YAML values)
// nothing changes; with other content it is ErrConflict.
func (d *Doc) AddTopLevelSecret(name string, fields [][2]string) error {
	if name == "" {
		return fmt.Errorf("%s: %w: empty secret name", d.filename, ErrUnsupported)
	}
	root := d.root.Content[0]
	if root.Style&yaml.FlowStyle != 0 {
		return fmt.Errorf("%s: %w: the top level is a flow mapping", d.filename, ErrUnsupported)
	}
	def, err := newSecretDef(name, fields, d.layout.mapStep)
	if err != nil {
		return fmt.Errorf("%s: top-level secret %s: %w", d.filename, name, err)
	}
	defs := []topDef{{name, def}}
	if d.batch != nil {
		if o, ok := d.batch.topByName[name]; ok {
			if o.digest == def.digest {
				return nil
			}
			return fmt.Errorf("%s: top-level secret %s: %w: already added with other content", d.filename, name, ErrConflict)
		}
	}
	splices, added, err := d.topSecretSplices(root, defs)
	if err != nil {
		return fmt.Errorf("%s: top-level secret %s: %w", d.filename, name, err)
	}
	expect := func(v view) {
		for _, a := range added {
			v["secrets"+sep+a.name] = a.def.digest
		}
	}
	if d.batch != nil {
		if len(added) == 0 {
			return nil
		}
		// Checked and placed alone here; written with every other new
		// top-level secret when the batch commits.
		if err := d.batch.add(d.filename, batchTopSlot, splices, expect); err != nil {
			return fmt.Errorf("top-level secret %s: %w", name, err)
		}
		d.batch.topDefs = append(d.batch.topDefs, defs...)
		d.batch.topByName[name] = def
		return nil
	}
	if splices == nil {
		return nil
	}
	err = d.apply(splices, expect)
	if err != nil {
		return fmt.Errorf("top-level secret %s: %w", name, err)
	}
	return nil
}

// secretDef is a top-level secret definition ready to insert.
type secretDef struct {
	name   string   // the key, as YAML
	body   []string // the field lines, indented by one step
	node   *yaml.Node
	digest string
}

func newSecretDef(name string, fields [][2]string, step int) (*secretDef, error) {
	key, err := renderString(name, styleAny, false)
	if err != nil {
		return nil, err
	}
	def := &secretDef{name: key}
	for _, f := range fields {
		k, err := renderString(f[0], styleAny, false)
		if err != nil {
			return nil, err
		}
		v := strings.TrimRight(strings.ReplaceAll(f[1], "\r\n", "\n"), "\n")
		lines := strings.Split(v, "\n")
		indent := -1
		for _, l := range lines {
			if strings.TrimSpace(l) == "" {
				continue
			}
			if n := len(l) - len(strings.TrimLeft(l, " ")); indent < 0 || n < indent {
				indent = n
			}
		}
		for i, l := range lines {
			if strings.TrimSpace(l) == "" {
				lines[i] = ""
			} else {
				lines[i] = l[indent:]
			}
		}
		// A block mapping or sequence goes on the lines below its key;
		// anything else starts on the key's line.
		head := pad(step) + k + ":"
		if !isBlockCollection(v) {
			if lines[0] != "" {
				head += " " + lines[0]
			}
			lines = lines[1:]
		}
		def.body = append(def.body, head)
		for _, l := range lines {
			if l == "" {
				def.body = append(def.body, "")
			} else {
				def.body = append(def.body, pad(2*step)+l)
			}
		}
	}
	// Parse what would be inserted: the fields must be YAML, and exactly
	// the keys given, in order.
	text := def.name + ":\n" + strings.Join(def.body, "\n") + "\n"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil || len(doc.Content) != 1 {
		return nil, fmt.Errorf("%w: the fields are not valid YAML", ErrUnsupported)
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode || len(m.Content) != 2 || m.Content[0].Value != name {
		return nil, fmt.Errorf("%w: the fields are not valid YAML", ErrUnsupported)
	}
	def.node = m.Content[1]
	if len(fields) == 0 {
		if !isNull(def.node) {
			return nil, fmt.Errorf("%w: the fields are not valid YAML", ErrUnsupported)
		}
	} else if def.node.Kind != yaml.MappingNode || len(def.node.Content) != 2*len(fields) {
		return nil, fmt.Errorf("%w: the fields are not valid YAML", ErrUnsupported)
	} else {
		for i, f := range fields {
			if k := def.node.Content[2*i]; k.Value != f[0] || isMergeKey(k) {
				return nil, fmt.Errorf("%w: field %q is not valid YAML", ErrUnsupported, f[0])
			}
		}
	}
	dg := digester{memo: map[*yaml.Node]string{}, visiting: map[*yaml.Node]bool{}}
	if def.digest, err = dg.digest(def.node); err != nil {
		return nil, err
	}
	return def, nil
}

// isBlockCollection reports whether YAML text is a block mapping or
// sequence.
func isBlockCollection(text string) bool {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil || len(doc.Content) != 1 {
		return false
	}
	n := doc.Content[0]
	return (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) && n.Style&yaml.FlowStyle == 0
}

// lines returns the definition indented at col.
func (def *secretDef) lines(col int) []string {
	out := []string{pad(col) + def.name + ":"}
	for _, l := range def.body {
		if l == "" {
			out = append(out, "")
		} else {
			out = append(out, pad(col)+l)
		}
	}
	return out
}

// flow returns the definition as a flow mapping entry.
func (def *secretDef) flow() (string, error) {
	v, err := flowText(def.node)
	if err != nil {
		return "", err
	}
	return def.name + ": " + v, nil
}

// flowText writes a node in flow style, for insertion into a flow mapping.
func flowText(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" {
			return renderString(n.Value, styleAny, true)
		}
		if n.Style&yaml.TaggedStyle != 0 || strings.ContainsAny(n.Value, ",[]{}#\n") {
			return "", fmt.Errorf("%w: cannot write this value in a flow mapping", ErrUnsupported)
		}
		if isNull(n) {
			return "null", nil
		}
		return n.Value, nil
	case yaml.MappingNode, yaml.SequenceNode:
		return flowCollection(n, flowText)
	}
	return "", fmt.Errorf("%w: cannot write this value in a flow mapping", ErrUnsupported)
}

// flowCollection writes a mapping or sequence on one line in flow style,
// each key and item written by elem.
func flowCollection(n *yaml.Node, elem func(*yaml.Node) (string, error)) (string, error) {
	parts := make([]string, 0, len(n.Content))
	for i := 0; i < len(n.Content); i++ {
		t, err := elem(n.Content[i])
		if err != nil {
			return "", err
		}
		if n.Kind == yaml.MappingNode {
			if i+1 >= len(n.Content) {
				return "", fmt.Errorf("%w: a mapping key without a value", ErrUnsupported)
			}
			v, err := elem(n.Content[i+1])
			if err != nil {
				return "", err
			}
			t += ": " + v
			i++
		}
		parts = append(parts, t)
	}
	if n.Kind == yaml.MappingNode {
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return "[" + strings.Join(parts, ", ") + "]", nil
}

// topDef is a top-level secret to add: its name and definition.
type topDef struct {
	name string
	def  *secretDef
}

// topSecretSplices returns the edit adding defs to the top-level secrets:,
// and the ones it adds: nil when all are there already.
func (d *Doc) topSecretSplices(root *yaml.Node, defs []topDef) ([]splice, []topDef, error) {
	s := d.src
	col := s.column(s.spans[root.Content[0]].start)
	step := d.layout.mapStep
	linesAt := func(col int, defs []topDef) []string {
		var out []string
		for _, t := range defs {
			out = append(out, t.def.lines(col)...)
		}
		return out
	}
	p, err := lookup(root, "secrets")
	if err != nil {
		return nil, nil, err
	}
	if p == nil {
		return []splice{d.appendTopLevel(root, append([]string{pad(col) + "secrets:"}, linesAt(col+step, defs)...))}, defs, nil
	}
	if p.holder != root || p.value.Kind == yaml.AliasNode {
		return nil, nil, fmt.Errorf("%w: secrets: comes through an alias or merge key", ErrUnsupported)
	}
	have := p.value
	switch {
	case isNull(have):
		sp := s.spans[have]
		props := s.skipProps(sp.start)
		if sp.end > props {
			return nil, nil, fmt.Errorf("%w: secrets: is an explicit null", ErrUnsupported)
		}
		return []splice{d.linesAfter(sp.end, linesAt(s.column(s.spans[p.key].start)+step, defs)...)}, defs, nil
	case have.Kind != yaml.MappingNode:
		return nil, nil, fmt.Errorf("%w: secrets: is not a mapping", ErrUnsupported)
	}
	var added []topDef
	for _, t := range defs {
		existing, err := lookup(have, t.name)
		if err != nil {
			return nil, nil, err
		}
		if existing == nil {
			added = append(added, t)
			continue
		}
		dg := digester{memo: map[*yaml.Node]string{}, visiting: map[*yaml.Node]bool{}}
		digest, err := dg.digest(existing.value)
		if err != nil {
			return nil, nil, err
		}
		if digest != t.def.digest {
			return nil, nil, fmt.Errorf("%w: already defined with other content", ErrConflict)
		}
	}
	if len(added) == 0 {
		return nil, nil, nil
	}
	if have.Style&yaml.FlowStyle != 0 {
		var entries []string
		for _, t := range added {
			entry, err := t.def.flow()
			if err != nil {
				return nil, nil, err
			}
			entries = append(entries, entry)
		}
		return []splice{d.flowAppend(have, strings.Join(entries, ", "))}, added, nil
	}
	first := s.spans[have.Content[0]].start
	return []splice{d.linesAfter(s.spans[have].end, linesAt(s.column(first), added)...)}, added, nil
}

// appendTopLevel adds a top-level key at the end of the document, or right
// after the root mapping when something other than comments follows it
// (a `...` end marker).
func (d *Doc) appendTopLevel(root *yaml.Node, lines []string) splice {
	s := d.src
	end := s.spans[root].end
	blank := d.blankBetweenTopKeys(root)
	tailOK := s.restIsComment(end)
	for l := s.line(end) + 1; l < len(s.starts) && tailOK; l++ {
		t := strings.TrimLeft(string(s.b[s.starts[l]:s.breaks[l]]), " \t")
		tailOK = t == "" || t[0] == '#'
	}
	if !tailOK {
		if blank {
			lines = append([]string{""}, lines...)
		}
		return d.linesAfter(end, lines...)
	}
	last := len(s.starts) - 1
	if s.starts[last] < len(s.b) {
		// No final newline: keep it that way.
		if blank && strings.TrimSpace(string(s.b[s.starts[last]:])) != "" {
			lines = append([]string{""}, lines...)
		}
		return splice{len(s.b), len(s.b), d.eol + strings.Join(lines, d.eol)}
	}
	if blank && last > 0 && strings.TrimSpace(string(s.b[s.starts[last-1]:s.breaks[last-1]])) != "" {
		lines = append([]string{""}, lines...)
	}
	return splice{len(s.b), len(s.b), strings.Join(lines, d.eol) + d.eol}
}

// blankBetweenTopKeys reports whether the file puts a blank line before some
// top-level key.
func (d *Doc) blankBetweenTopKeys(root *yaml.Node) bool {
	s := d.src
	for i := 2; i < len(root.Content); i += 2 {
		l := s.line(s.spans[root.Content[i]].start)
		if l > 0 && strings.TrimSpace(string(s.b[s.starts[l-1]:s.breaks[l-1]])) == "" {
			return true
		}
	}
	return false
}
