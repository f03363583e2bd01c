package yamledit

import (
	"fmt"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// SetServiceKey sets a service attribute (entrypoint:, command:, x-vault:)
// to value, written on one line in flow style: strings marked
// yaml.DoubleQuotedStyle are double-quoted, others are written plain when
// that reads back as the same string. Build value with Str, Seq and Map.
//
// A key the service writes itself has its value replaced in place (a block
// value becomes the flow one); a key it lacks, or only gets through a merge
// key, is added as the service's last key, which wins over a merged one as
// in compose's parser. A nil value removes the service's own key, its
// lines, when the key starts its line and nothing but a comment follows the
// value.
//
// It refuses (ErrUnsupported) a service written as an alias or through a
// merge key (the edit would change the services sharing it), a value that
// is anchored (aliases elsewhere would change), and removing a key the
// service does not write itself. In a batch, setting the same key of the
// same service again replaces the earlier edit.
func (d *Doc) SetServiceKey(service, key string, value *yaml.Node) error {
	svc, err := d.ownService(service)
	if err != nil {
		return err
	}
	var text string
	if value != nil {
		if text, err = flowValue(value); err != nil {
			return fmt.Errorf("%s: service %q: %s: %w", d.filename, service, key, err)
		}
	}
	p, err := lookup(svc, key)
	if err != nil {
		return fmt.Errorf("%s: service %q: %w", d.filename, service, err)
	}
	own := p != nil && p.holder == svc
	var splices []splice
	switch {
	case value == nil && p == nil:
		return nil
	case value == nil && !own:
		return fmt.Errorf("%s: service %q: %w: %s comes through a merge key and cannot be removed", d.filename, service, ErrUnsupported, key)
	case value == nil:
		s, err := d.removeKeyLines(p)
		if err != nil {
			return fmt.Errorf("%s: service %q: %s: %w", d.filename, service, key, err)
		}
		splices = []splice{s}
	case own:
		s, err := d.replaceValue(p, text)
		if err != nil {
			return fmt.Errorf("%s: service %q: %s: %w", d.filename, service, key, err)
		}
		splices = []splice{s}
	default:
		k, err := renderString(key, styleAny, true)
		if err != nil {
			return err
		}
		if svc.Style&yaml.FlowStyle != 0 {
			splices = []splice{d.flowAppend(svc, k+": "+text)}
		} else {
			col := d.src.column(d.src.spans[svc.Content[0]].start)
			splices = []splice{d.linesAfter(d.src.spans[svc].end, pad(col)+k+": "+text)}
		}
	}
	path := "services" + sep + service + sep + key
	var want string
	if value != nil {
		dg := digester{memo: map[*yaml.Node]string{}, visiting: map[*yaml.Node]bool{}}
		if want, err = dg.digest(value); err != nil {
			return err
		}
	}
	expect := func(v view) {
		if value == nil {
			delete(v, path)
		} else {
			v[path] = want
		}
	}
	if d.batch != nil {
		err = d.batch.add(d.filename, "key"+sep+path, splices, expect)
	} else {
		err = d.apply(splices, expect)
	}
	if err != nil {
		return fmt.Errorf("service %q: %s: %w", service, key, err)
	}
	return nil
}

// replaceValue replaces the value of an own key with text, from just after
// the key's colon.
func (d *Doc) replaceValue(p *pair, text string) (splice, error) {
	s := d.src
	v := p.value
	if v.Kind != yaml.AliasNode && v.Anchor != "" {
		return splice{}, fmt.Errorf("%w: the value is anchored (&%s)", ErrUnsupported, v.Anchor)
	}
	colon := s.skipBlank(s.spans[p.key].end)
	if colon >= len(s.b) || s.b[colon] != ':' {
		return splice{}, fmt.Errorf("%w: cannot find the key's colon", ErrUnsupported)
	}
	vs, ok := s.spans[v]
	if !ok {
		return splice{}, errSpan
	}
	end := vs.end
	if isNull(v) && vs.end <= vs.start {
		end = colon + 1
	}
	return splice{colon + 1, end, " " + text}, nil
}

// removeKeyLines deletes the lines of an own key and its value.
func (d *Doc) removeKeyLines(p *pair) (splice, error) {
	s := d.src
	ks, vs := s.spans[p.key], s.spans[p.value]
	if p.value.Kind != yaml.AliasNode && p.value.Anchor != "" {
		return splice{}, fmt.Errorf("%w: the value is anchored (&%s)", ErrUnsupported, p.value.Anchor)
	}
	if p.holder.Style&yaml.FlowStyle != 0 || !s.onlySpaceBefore(ks.start) || !s.restIsComment(max(vs.end, ks.end)) {
		return splice{}, fmt.Errorf("%w: the key does not stand on lines of its own", ErrUnsupported)
	}
	return s.deleteLines(ks.start, max(vs.end, ks.end)), nil
}

// flowValue writes a node on one line in flow style.
func flowValue(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() != "!!str" {
			return "", fmt.Errorf("%w: only strings are written", ErrUnsupported)
		}
		if n.Style&yaml.DoubleQuotedStyle != 0 {
			if !utf8.ValidString(n.Value) {
				return "", fmt.Errorf("%w: a value that is not valid UTF-8 cannot be written in YAML", ErrUnsupported)
			}
			return doubleQuote(n.Value), nil
		}
		return renderString(n.Value, styleAny, true)
	case yaml.SequenceNode, yaml.MappingNode:
		return flowCollection(n, flowValue)
	}
	return "", fmt.Errorf("%w: cannot write this value", ErrUnsupported)
}

// Str is a string node, double-quoted when quoted is true.
func Str(s string, quoted bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if quoted {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// Seq is a sequence of strings, each double-quoted when quoted is true.
func Seq(items []string, quoted bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, it := range items {
		n.Content = append(n.Content, Str(it, quoted))
	}
	return n
}

// Map is a mapping of the key/value pairs kv (keys written plain when they
// can be).
func Map(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(kv); i += 2 {
		var k, v *yaml.Node
		switch x := kv[i].(type) {
		case string:
			k = Str(x, false)
		case *yaml.Node:
			k = x
		}
		switch x := kv[i+1].(type) {
		case string:
			v = Str(x, false)
		case *yaml.Node:
			v = x
		}
		if k != nil && v != nil {
			n.Content = append(n.Content, k, v)
		}
	}
	return n
}
