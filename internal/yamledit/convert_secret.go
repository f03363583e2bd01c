package yamledit

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// ConvertFileSecret turns the top-level secret name, defined with `file:`,
// into an external one: its `file:` entry becomes `external: true` and,
// unless the definition already carries an x-vault (a name, a mapping or
// true, which map it already), `x-vault: {name: KVNAME}` follows it.
// Everything else in the definition stays as written: comments, `name:`,
// labels, a trailing comment on the file: line.
//
// The definition must be written in this file: a secret defined through an
// alias or merge key, or whose `file:` comes from one, is ErrUnsupported
// (editing the shared node would change its other users). A secret that is
// not defined here is ErrNotFound; one with no `file:`, or that says
// `external:`, `environment:` or `x-vault: false` already, is ErrConflict.
func (d *Doc) ConvertFileSecret(name, kvName string) error {
	return d.convertFileSecret(name, "external", "true", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"}, kvName)
}

// ConvertFileSecretToEnvironment turns the top-level secret name, defined
// with `file:`, into one compose fills from its own environment: its `file:`
// entry becomes `environment: VARIABLE` and, when kvName is not empty and
// the definition carries no x-vault of its own, `x-vault: {name: KVNAME}`
// follows it (migrate passes "" when the derived name is the right one).
// Everything else stays as written, and the errors are ConvertFileSecret's.
func (d *Doc) ConvertFileSecretToEnvironment(name, variable, kvName string) error {
	text, err := renderString(variable, styleAny, true)
	if err != nil {
		return fmt.Errorf("%s: top-level secret %s: %w", d.filename, name, err)
	}
	return d.convertFileSecret(name, "environment", text, strNode(variable), kvName)
}

// convertFileSecret replaces the file: pair of the top-level secret name
// with `key: text` (text is YAML source, value what compose reads of it),
// adding the x-vault name unless kvName is "" or the definition has an
// x-vault.
func (d *Doc) convertFileSecret(name, key, text string, value *yaml.Node, kvName string) error {
	m, file, xv, err := d.fileSecretDef(name)
	if err != nil {
		return fmt.Errorf("%s: top-level secret %s: %w", d.filename, name, err)
	}
	s := d.src
	keyStart, valEnd := s.spans[file.key].start, s.spans[file.value].end
	if s.line(keyStart) != s.line(valEnd) && m.Style&yaml.FlowStyle == 0 {
		return fmt.Errorf("%s: top-level secret %s: %w: its file: value spans several lines", d.filename, name, ErrUnsupported)
	}
	addName := xv == nil && kvName != ""
	xvText := ""
	if addName {
		kv, err := renderString(kvName, styleAny, true)
		if err != nil {
			return fmt.Errorf("%s: top-level secret %s: %w", d.filename, name, err)
		}
		xvText = "x-vault: {name: " + kv + "}"
	}
	pairText := key + ": " + text
	var splices []splice
	switch {
	case m.Style&yaml.FlowStyle != 0:
		text := pairText
		if addName {
			text += ", " + xvText
		}
		splices = []splice{{keyStart, valEnd, text}}
	default:
		splices = []splice{{keyStart, valEnd, pairText}}
		if addName {
			splices = append(splices, d.linesAfter(valEnd, pad(s.column(keyStart))+xvText))
		}
	}
	dg := digester{memo: map[*yaml.Node]string{}, visiting: map[*yaml.Node]bool{}}
	digest, err := dg.digest(convertedDef(m, file, key, value, addName, kvName))
	if err != nil {
		return fmt.Errorf("%s: top-level secret %s: %w", d.filename, name, err)
	}
	if err := d.apply(splices, func(v view) { v["secrets"+sep+name] = digest }); err != nil {
		return fmt.Errorf("top-level secret %s: %w", name, err)
	}
	return nil
}

// fileSecretDef finds the top-level secret name written in the file itself
// as a mapping with a file: of its own, and its x-vault pair (nil when it
// has none). A secret that says external:, environment: or x-vault: false is
// ErrConflict.
func (d *Doc) fileSecretDef(name string) (m *yaml.Node, file, xv *pair, err error) {
	root := d.root.Content[0]
	top, err := lookup(root, "secrets")
	if err != nil {
		return nil, nil, nil, err
	}
	if top == nil {
		return nil, nil, nil, ErrNotFound
	}
	if top.holder != root || top.value.Kind != yaml.MappingNode {
		return nil, nil, nil, fmt.Errorf("%w: secrets: comes through an alias or merge key, or is not a mapping", ErrUnsupported)
	}
	def, err := lookup(top.value, name)
	if err != nil {
		return nil, nil, nil, err
	}
	if def == nil {
		return nil, nil, nil, ErrNotFound
	}
	m = def.value
	if def.holder != top.value || m.Kind != yaml.MappingNode {
		return nil, nil, nil, fmt.Errorf("%w: its definition comes through an alias or merge key, or is not a mapping", ErrUnsupported)
	}
	if file, err = ownPair(m, "file"); err != nil {
		return nil, nil, nil, err
	}
	if file == nil {
		return nil, nil, nil, fmt.Errorf("%w: it has no file:", ErrConflict)
	}
	for _, k := range []string{"external", "environment"} {
		if p, _ := lookup(m, k); p != nil {
			return nil, nil, nil, fmt.Errorf("%w: it says %s: already", ErrConflict, k)
		}
	}
	if xv, err = ownPair(m, "x-vault"); err != nil {
		return nil, nil, nil, err
	}
	if xv != nil {
		var on bool
		if v := deref(xv.value); v != nil && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" && v.Decode(&on) == nil && !on {
			return nil, nil, nil, fmt.Errorf("%w: it says x-vault: false", ErrConflict)
		}
	}
	return m, file, xv, nil
}

// convertedDef is what compose reads of the definition m once converted:
// without file:, with key: value (external: true, environment: VAR), and
// the x-vault name when one is added.
func convertedDef(m *yaml.Node, file *pair, key string, value *yaml.Node, addName bool, kvName string) *yaml.Node {
	want := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i] == file.key {
			continue
		}
		want.Content = append(want.Content, m.Content[i], m.Content[i+1])
	}
	want.Content = append(want.Content, strNode(key), value)
	if addName {
		want.Content = append(want.Content, strNode("x-vault"),
			&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{strNode("name"), strNode(kvName)}})
	}
	return want
}

// ownPair is the pair of key written in mapping m itself; one that only
// comes through a merge key is ErrUnsupported, since editing it would edit
// every mapping that merges it.
func ownPair(m *yaml.Node, key string) (*pair, error) {
	p, err := lookup(m, key)
	if err != nil || p == nil {
		return nil, err
	}
	if p.holder != m || !slices.Contains(m.Content, p.key) {
		return nil, fmt.Errorf("%w: %s: comes through a merge key", ErrUnsupported, key)
	}
	return p, nil
}

func strNode(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
