package yamledit

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EnvForm is how an environment entry is written.
type EnvForm int

const (
	// MapForm is `KEY: value` in a mapping.
	MapForm EnvForm = iota
	// ListForm is `- KEY=value` or `- KEY` in a sequence.
	ListForm
)

// EnvEntry is one variable of a service's `environment:`.
type EnvEntry struct {
	Key string
	// Value is the YAML value (quotes removed, escapes applied) before
	// compose interpolates ${VAR}s; for the list form, what follows the
	// first "=".
	Value string
	// HasValue is false for a pass-through variable (`KEY:`, `KEY: null`,
	// `- KEY`), which compose fills from the shell or .env.
	HasValue bool
	// Raw is the scalar holding the value as written in the file: the value
	// for the map form, the whole item for the list form.
	Raw   string
	Form  EnvForm
	Style yaml.Style // of the scalar holding the value
	// Line and Column locate the entry: its key, or its list item.
	Line, Column int
	// Anchor names the innermost anchored node the entry lives in (an
	// `environment: &env`, an `x-common: &common` merged with `<<:`, an
	// anchored list item), "" when it lives in the service alone.
	Anchor string
	// Services lists, sorted, every service that gets this very entry: more
	// than one when it lives in an anchored node they share. Editing the
	// entry changes it for all of them.
	Services []string
	// ValueAlias names the anchor the value is an alias of (`KEY: *pw`).
	ValueAlias string
}

// Shared reports whether editing the entry changes other services too.
func (e EnvEntry) Shared() bool { return len(e.Services) > 1 }

// occurrence is an environment entry and the nodes that write it.
type occurrence struct {
	key      string
	form     EnvForm
	keyNode  *yaml.Node   // MapForm only
	slot     *yaml.Node   // the value (MapForm) or item (ListForm) as written: maybe an alias
	val      *yaml.Node   // slot with aliases followed
	holder   *yaml.Node   // the mapping or sequence that holds the entry
	via      []*yaml.Node // mappings merged in to reach holder
	hasValue bool
	value    string
	// editable is false for keys compose would not read as written
	// (`~: x`, `1.0: x`, `- 12`): they are never listed nor edited.
	editable bool
}

// id is the node that identifies the entry across services.
func (o occurrence) id() *yaml.Node {
	if o.form == MapForm {
		return o.keyNode
	}
	return o.val
}

func (o occurrence) viewValue() string {
	if !o.hasValue {
		return "unset"
	}
	return "=" + o.value
}

// envOccurrences lists the entries of an environment node, following merge
// keys (map form) and aliased items (list form).
func envOccurrences(env *yaml.Node) ([]occurrence, error) {
	var out []occurrence
	switch env.Kind {
	case yaml.MappingNode:
		ps, err := pairs(env)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			o := occurrence{key: keyName(p.key), form: MapForm, keyNode: p.key, slot: p.value, val: deref(p.value), holder: p.holder, via: p.via}
			if k := deref(p.key); k != nil && k.Kind == yaml.ScalarNode && k.ShortTag() == "!!str" {
				o.editable = true
			} else {
				o.key = "\x00" + o.key
			}
			if o.val == nil {
				return nil, errRecursive
			}
			switch {
			case o.val.Kind != yaml.ScalarNode:
				// Not a valid environment value; kept so that the check
				// after an edit sees it, never edited.
				o.hasValue, o.value = true, "\x00complex"
			case isNull(o.val):
			default:
				o.hasValue, o.value = true, o.val.Value
			}
			out = append(out, o)
		}
	case yaml.SequenceNode:
		for _, it := range env.Content {
			v := deref(it)
			if v == nil {
				return nil, errRecursive
			}
			if v.Kind != yaml.ScalarNode || isNull(v) {
				continue
			}
			o := occurrence{form: ListForm, slot: it, val: v, holder: env, editable: v.ShortTag() == "!!str"}
			o.key, o.value, o.hasValue = strings.Cut(v.Value, "=")
			if !o.editable {
				o.key = "\x00" + o.key
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// serviceEnv is where a service's environment is.
type serviceEnv struct {
	name    string
	slot    *yaml.Node // the service as written under services: (maybe an alias)
	svc     *yaml.Node // the service mapping
	pair    *pair      // its environment key, nil if it has none
	env     *yaml.Node // the environment node, aliases followed
	entries []occurrence
}

// chain returns the nodes from the service down to an entry, for anchors.
func (se *serviceEnv) chain(o occurrence) []*yaml.Node {
	c := []*yaml.Node{se.svc}
	c = append(c, se.pair.via...)
	c = append(c, se.env)
	c = append(c, o.via...)
	if o.form == ListForm {
		c = append(c, o.val)
	}
	return c
}

func (d *Doc) services() (*yaml.Node, error) {
	p, err := lookup(d.root.Content[0], "services")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.filename, err)
	}
	if p == nil || deref(p.value) == nil || deref(p.value).Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: %w: no services", d.filename, ErrNotFound)
	}
	return deref(p.value), nil
}

// service finds a service in svcs, the services: mapping of the current
// tree. Without merge keys in it, services are found through an index built
// once per tree.
func (d *Doc) service(svcs *yaml.Node, service string) (*pair, error) {
	if d.svcIndexOf != d.root {
		// nil when the mapping has merge keys: lookup then.
		d.svcIndexOf, d.svcIndex = d.root, indexKeys(svcs)
	}
	var sp *pair
	if d.svcIndex != nil {
		sp = d.svcIndex[service]
	} else {
		var err error
		if sp, err = lookup(svcs, service); err != nil {
			return nil, fmt.Errorf("%s: %w", d.filename, err)
		}
	}
	if sp == nil {
		return nil, fmt.Errorf("%s: %w: no service %q", d.filename, ErrNotFound, service)
	}
	return sp, nil
}

// indexKeys indexes the pairs of a mapping by key, the last one written
// winning as in lookup; nil when the mapping has merge keys.
func indexKeys(m *yaml.Node) map[string]*pair {
	idx := make(map[string]*pair, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		if isMergeKey(m.Content[i]) {
			return nil
		}
		idx[keyName(m.Content[i])] = &pair{key: m.Content[i], value: m.Content[i+1], holder: m}
	}
	return idx
}

// serviceEnv finds a service and its environment.
func (d *Doc) serviceEnv(service string) (*serviceEnv, error) {
	svcs, err := d.services()
	if err != nil {
		return nil, err
	}
	sp, err := d.service(svcs, service)
	if err != nil {
		return nil, err
	}
	se := &serviceEnv{name: service, slot: sp.value, svc: deref(sp.value)}
	if se.svc == nil || se.svc.Kind != yaml.MappingNode {
		return se, nil
	}
	if se.pair, err = lookup(se.svc, "environment"); err != nil {
		return nil, fmt.Errorf("%s: service %q: %w", d.filename, service, err)
	}
	if se.pair == nil {
		return se, nil
	}
	se.env = deref(se.pair.value)
	if se.env == nil {
		return nil, fmt.Errorf("%s: service %q: %w", d.filename, service, errRecursive)
	}
	if se.entries, err = envOccurrences(se.env); err != nil {
		return nil, fmt.Errorf("%s: service %q: %w", d.filename, service, err)
	}
	return se, nil
}

// allEnvs returns every service's environment, in file order.
func (d *Doc) allEnvs() ([]*serviceEnv, error) {
	svcs, err := d.services()
	if err != nil {
		return nil, err
	}
	ps, err := pairs(svcs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.filename, err)
	}
	var out []*serviceEnv
	for _, p := range ps {
		se, err := d.serviceEnv(keyName(p.key))
		if err != nil {
			return nil, err
		}
		out = append(out, se)
	}
	return out, nil
}

// sharers maps each entry's identifying node to the services that get it.
func (d *Doc) sharers() (map[*yaml.Node][]string, error) {
	if d.sharersOf == d.root && d.sharersMemo != nil {
		return d.sharersMemo, nil
	}
	all, err := d.allEnvs()
	if err != nil {
		return nil, err
	}
	out := map[*yaml.Node][]string{}
	for _, se := range all {
		for _, o := range se.entries {
			if !slices.Contains(out[o.id()], se.name) {
				out[o.id()] = append(out[o.id()], se.name)
			}
		}
	}
	for _, s := range out {
		slices.Sort(s)
	}
	d.sharersOf, d.sharersMemo = d.root, out
	return out, nil
}

// EnvEntries returns the entries of a service's `environment:` as compose
// reads them, in both forms, including the ones that come through an alias
// or a merge key, in the order compose resolves them. It reflects the edits
// made so far. A service that does not exist, or that compose could not
// read, has none.
func (d *Doc) EnvEntries(service string) []EnvEntry {
	se, err := d.serviceEnv(service)
	if err != nil || se.env == nil {
		return nil
	}
	sh, err := d.sharers()
	if err != nil {
		return nil
	}
	var out []EnvEntry
	for _, o := range se.entries {
		if !o.editable {
			continue
		}
		raw := o.val
		if o.form == MapForm {
			raw = o.slot
		}
		sp := d.src.spans[raw]
		e := EnvEntry{
			Key:      o.key,
			Value:    o.value,
			HasValue: o.hasValue,
			Raw:      string(d.src.b[sp.start:sp.end]),
			Form:     o.form,
			Style:    o.val.Style,
			Services: slices.Clone(sh[o.id()]),
		}
		if o.form == ListForm {
			e.Line, e.Column = o.val.Line, o.val.Column
		} else {
			e.Line, e.Column = o.keyNode.Line, o.keyNode.Column
			if o.slot.Kind == yaml.AliasNode {
				e.ValueAlias = o.slot.Value
			}
		}
		if o.value == "\x00complex" {
			e.Value = ""
		}
		for _, n := range se.chain(o) {
			if n.Anchor != "" {
				e.Anchor = n.Anchor
			}
		}
		out = append(out, e)
	}
	return out
}

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

// RemoveEnv deletes a service's variable key: the whole entry, all the lines
// of a multi-line value, and its inline comment. Comment lines above or
// below it are kept: they may describe more than this one entry, and an
// orphaned comment is harmless where a lost one is not.
//
// When the environment becomes empty, the `environment:` key is removed too,
// with the lines between it and its entries, unless that would break the
// file: when the environment is anchored (others may alias it) it becomes
// `environment: &anchor {}` (or `[]`), and when it is the last key of its
// mapping it becomes `environment: {}`. An empty flow environment stays `{}`.
//
// As with ReplaceEnv, an entry in a shared anchored node is removed for every
// service sharing it, and repeating the call is a no-op.
func (d *Doc) RemoveEnv(service, key string) error {
	if d.batch != nil {
		return fmt.Errorf("%s: service %q: %w: environment variable %s cannot be removed in a batch", d.filename, service, ErrUnsupported, key)
	}
	t, err := d.envTarget(service, key)
	if err != nil {
		return err
	}
	if len(t.matches) == 0 {
		switch done := d.done[doneKey(service, key)]; done {
		case "remove":
			return nil
		case "":
		default:
			return fmt.Errorf("%s: service %q: %w: environment variable %s was already edited otherwise (through an entry it shares)", d.filename, service, ErrConflict, key)
		}
		return fmt.Errorf("%s: service %q: %w: environment variable %s", d.filename, service, ErrNotFound, key)
	}
	splices, err := d.removeEntries(t)
	if err != nil {
		return fmt.Errorf("%s: service %q: environment variable %s: %w", d.filename, service, key, err)
	}
	err = d.apply(splices, func(v view) {
		for _, s := range t.affected {
			delete(v, envPath(s, key))
		}
	})
	if err != nil {
		return fmt.Errorf("service %q: environment variable %s: %w", service, key, err)
	}
	for _, s := range t.affected {
		d.done[doneKey(s, key)] = "remove"
	}
	return nil
}

func (d *Doc) removeEntries(t *editTarget) ([]splice, error) {
	// Group the entries by the node holding them: emptying a node is
	// handled as a whole.
	var holders []*yaml.Node
	byHolder := map[*yaml.Node][]occurrence{}
	for _, o := range t.matches {
		if _, ok := byHolder[o.holder]; !ok {
			holders = append(holders, o.holder)
		}
		byHolder[o.holder] = append(byHolder[o.holder], o)
	}
	var out []splice
	for _, h := range holders {
		os := byHolder[h]
		size := len(h.Content)
		if h.Kind == yaml.MappingNode {
			size /= 2
		}
		if h.Style&yaml.FlowStyle != 0 {
			for _, o := range os {
				s, err := d.removeFlowEntry(o)
				if err != nil {
					return nil, err
				}
				out = append(out, s)
			}
			continue
		}
		if len(os) == size {
			s, err := d.emptyBlock(t.se, h, os)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
			continue
		}
		for _, o := range os {
			s, err := d.entryLines(o)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// entryLines is the splice deleting a block entry's lines.
func (d *Doc) entryLines(o occurrence) (splice, error) {
	s := d.src
	var start, end int
	if o.form == MapForm {
		start, end = s.spans[o.keyNode].start, s.spans[o.slot].end
		if !s.onlySpaceBefore(start) {
			return splice{}, fmt.Errorf("%w: the entry shares its line", ErrUnsupported)
		}
	} else {
		start, end = s.spans[o.slot].start, s.spans[o.slot].end
		ls := s.starts[s.line(start)]
		if strings.Trim(string(s.b[ls:start]), " \t") != "-" {
			return splice{}, fmt.Errorf("%w: the list item shares its line", ErrUnsupported)
		}
	}
	if !s.restIsComment(end) {
		return splice{}, fmt.Errorf("%w: the entry shares its line", ErrUnsupported)
	}
	return s.deleteLines(start, end), nil
}

// removeFlowEntry deletes an entry of a flow collection with the comma
// that separates it from the next one (or the previous one, for the last).
func (d *Doc) removeFlowEntry(o occurrence) (splice, error) {
	s, h := d.src, o.holder
	first, last := o.slot, o.slot
	step := 1
	if o.form == MapForm {
		first, step = o.keyNode, 2
	}
	i := slices.Index(h.Content, first)
	if i < 0 {
		return splice{}, fmt.Errorf("%w: entry not found in its collection", ErrUnsupported)
	}
	start, end := s.spans[first].start, s.spans[last].end
	switch {
	case i+step < len(h.Content):
		return splice{start, s.spans[h.Content[i+step]].start, ""}, nil
	case i > 0:
		return splice{s.spans[h.Content[i-1]].end, end, ""}, nil
	}
	return splice{start, end, ""}, nil
}

// emptyBlock removes every entry of a block environment node h (the
// environment itself or a mapping merged into it).
func (d *Doc) emptyBlock(se *serviceEnv, h *yaml.Node, os []occurrence) ([]splice, error) {
	s := d.src
	empty := " {}"
	if h.Kind == yaml.SequenceNode {
		empty = " []"
	}
	var lines []splice
	for _, o := range os {
		l, err := d.entryLines(o)
		if err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	if h.Anchor != "" {
		props := s.skipProps(s.spans[h].start)
		return append(lines, splice{props, props, empty}), nil
	}
	// The key whose value h is: `environment:`, or `<<:` for a mapping
	// merged in without an anchor.
	parent, key := se.pair.holder, se.pair.key
	if h != se.env || se.pair.value != h {
		parent, key = nil, nil
		if via := os[0].via; len(via) == 1 && via[0] == h {
			parent = se.env
		}
		if parent != nil {
			for i := 0; i+1 < len(parent.Content); i += 2 {
				if parent.Content[i+1] == h {
					key = parent.Content[i]
				}
			}
		}
		if key == nil {
			return nil, fmt.Errorf("%w: cannot empty this environment", ErrUnsupported)
		}
	}
	keyStart := s.spans[key].start
	if h == se.env && len(parent.Content) > 2 && s.onlySpaceBefore(keyStart) && s.restIsComment(s.spans[h].end) {
		return []splice{s.deleteLines(keyStart, s.spans[h].end)}, nil
	}
	colon := s.skipBlank(s.spans[key].end)
	if colon >= len(s.b) || s.b[colon] != ':' {
		return nil, fmt.Errorf("%w: cannot empty this environment", ErrUnsupported)
	}
	return append(lines, splice{colon + 1, colon + 1, empty}), nil
}
