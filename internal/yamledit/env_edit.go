package yamledit

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// editTarget collects what an environment edit touches.
type editTarget struct {
	se       *serviceEnv
	matches  []occurrence
	affected []string // services whose environment the edit changes
}

func (d *Doc) envTarget(service, key string) (*editTarget, error) {
	se, err := d.serviceEnv(service)
	if err != nil {
		return nil, err
	}
	t := &editTarget{se: se}
	for _, o := range se.entries {
		if o.key == key && o.editable {
			t.matches = append(t.matches, o)
		}
	}
	if len(t.matches) == 0 {
		return t, nil
	}
	sh, err := d.sharers()
	if err != nil {
		return nil, err
	}
	for _, o := range t.matches {
		for _, s := range sh[o.id()] {
			if !slices.Contains(t.affected, s) {
				t.affected = append(t.affected, s)
			}
		}
	}
	return t, nil
}

func envPath(service, key string) string {
	return "services" + sep + service + sep + "environment" + sep + key
}

func doneKey(service, key string) string { return service + "\x00" + key }

// ReplaceEnv rewrites a service's variable key as newKey with newValue:
// `K: v` becomes `NEWK: newv` and `- K=v` becomes `- NEWK=newv`, keeping the
// indentation, the inline comment, the quoting (plain becomes quoted only if
// the new value needs it; a block scalar becomes a one-line scalar) and the
// anchor of an anchored value.
//
// When the entry lives in an anchored node shared with other services the
// anchored node is edited, which changes all of them (EnvEntry.Services says
// which); calling ReplaceEnv again for another of them is then a no-op, as is
// repeating any call whose result is already there. The value is written
// literally: a "$" in it is interpolated by compose unless written "$$".
func (d *Doc) ReplaceEnv(service, key, newKey, newValue string) error {
	if newKey == "" || strings.ContainsAny(newKey, "=\n") {
		return fmt.Errorf("%s: service %q: %w: invalid variable name %q", d.filename, service, ErrUnsupported, newKey)
	}
	want := "replace\x00" + newKey + "\x00" + newValue
	if d.batch != nil && d.done[doneKey(service, key)] == want {
		// Replaced in this batch through an entry the service shares; the
		// batch's view of the document does not show it yet.
		return nil
	}
	t, err := d.envTarget(service, key)
	if err != nil {
		return err
	}
	if len(t.matches) == 0 {
		switch done := d.done[doneKey(service, key)]; done {
		case want:
			return nil
		case "":
		default:
			return fmt.Errorf("%s: service %q: %w: environment variable %s was already edited otherwise (through an entry it shares)", d.filename, service, ErrConflict, key)
		}
		for _, o := range t.se.entries {
			if o.key == newKey && o.hasValue && o.value == newValue {
				return nil
			}
		}
		return fmt.Errorf("%s: service %q: %w: environment variable %s", d.filename, service, ErrNotFound, key)
	}
	if newKey != key {
		for _, o := range t.se.entries {
			if o.key == newKey {
				return fmt.Errorf("%s: service %q: %w: environment variable %s is already set", d.filename, service, ErrConflict, newKey)
			}
		}
	}
	same := true
	for _, o := range t.matches {
		same = same && o.key == newKey && o.hasValue && o.value == newValue
	}
	if same {
		return nil
	}
	var splices []splice
	for _, o := range t.matches {
		s, err := d.replaceEntry(o, newKey, newValue)
		if err != nil {
			return fmt.Errorf("%s:%d:%d: service %q: environment variable %s: %w", d.filename, o.slot.Line, o.slot.Column, service, key, err)
		}
		splices = append(splices, s...)
	}
	err = d.apply(splices, func(v view) {
		for _, s := range t.affected {
			delete(v, envPath(s, key))
			v[envPath(s, newKey)] = "=" + newValue
		}
	})
	if err != nil {
		return fmt.Errorf("service %q: environment variable %s: %w", service, key, err)
	}
	for _, s := range t.affected {
		d.done[doneKey(s, key)] = want
	}
	return nil
}

func (d *Doc) replaceEntry(o occurrence, newKey, newValue string) ([]splice, error) {
	flow := o.holder.Style&yaml.FlowStyle != 0
	if o.form == ListForm {
		text, err := renderString(newKey+"="+newValue, styleLike(o.val), flow)
		if err != nil {
			return nil, err
		}
		return d.replaceScalar(o.val, nil, text)
	}
	var out []splice
	if keyName(o.keyNode) != newKey {
		text, err := renderString(newKey, styleLike(o.keyNode), flow)
		if err != nil {
			return nil, err
		}
		s, err := d.replaceScalar(o.keyNode, nil, text)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	if o.slot.Kind == yaml.AliasNode {
		// The value borrows another node's: write it in place of the alias.
		text, err := renderString(newValue, styleAny, flow)
		if err != nil {
			return nil, err
		}
		sp := d.src.spans[o.slot]
		return append(out, splice{sp.start, sp.end, text}), nil
	}
	if o.val.Anchor != "" && d.aliased(o.val) {
		return nil, fmt.Errorf("%w: the value is anchored (&%s) and used elsewhere through an alias", ErrUnsupported, o.val.Anchor)
	}
	text, err := renderString(newValue, styleLike(o.val), flow)
	if err != nil {
		return nil, err
	}
	s, err := d.replaceScalar(o.val, o.keyNode, text)
	if err != nil {
		return nil, err
	}
	return append(out, s...), nil
}

// aliased reports whether an alias anywhere refers to n.
func (d *Doc) aliased(n *yaml.Node) bool {
	found := false
	var walk func(*yaml.Node)
	walk = func(m *yaml.Node) {
		if m.Kind == yaml.AliasNode && m.Alias == n {
			found = true
		}
		for _, c := range m.Content {
			walk(c)
		}
	}
	walk(d.root)
	return found
}

// replaceScalar replaces a scalar's text, keeping its anchor. A tag other
// than a string's would make the new text something else: refused. key is
// the mapping key n is the value of, if any.
func (d *Doc) replaceScalar(n, key *yaml.Node, text string) ([]splice, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("%w: not a scalar", ErrUnsupported)
	}
	if n.Style&yaml.TaggedStyle != 0 {
		if tag := n.ShortTag(); tag != "!!str" && tag != "!" {
			return nil, fmt.Errorf("%w: the value has the tag %s", ErrUnsupported, tag)
		}
	}
	sp := d.src.spans[n]
	props := d.src.skipProps(sp.start)
	if sp.end == props {
		// An empty value (`KEY:`): write one. In a flow mapping the key
		// may have no colon at all (`{KEY, B: c}`).
		if key != nil && !strings.Contains(string(d.src.b[d.src.spans[key].end:sp.start]), ":") {
			return []splice{{props, props, ": " + text}}, nil
		}
		return []splice{{props, props, " " + text}}, nil
	}
	content := d.src.skipSpace(props)
	if c := d.src.b[content]; n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 && (c == '|' || c == '>') {
		// Keep the header's comment; drop the indicator and the content
		// lines.
		h := content + 1
		for h < len(d.src.b) && strings.IndexByte("0123456789+-", d.src.b[h]) >= 0 {
			h++
		}
		out := []splice{{content, h, text}}
		if le := d.src.lineEnd(content); le < sp.end {
			out = append(out, splice{le, sp.end, ""})
		}
		return out, nil
	}
	return []splice{{content, sp.end, text}}, nil
}
