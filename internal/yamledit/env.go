package yamledit

import (
	"fmt"
	"slices"

	"github.com/docker-vault/docker-vault/internal/composeyaml"
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
// keys (map form) and aliased items (list form), as composeyaml.EnvEntries
// reads them; an alias it cannot follow, or a bad merge key, is an error.
func envOccurrences(env *yaml.Node) ([]occurrence, error) {
	ents, err := composeyaml.EnvEntries(env)
	if err != nil {
		return nil, err
	}
	var out []occurrence
	for _, e := range ents {
		if e.Value == nil {
			return nil, errRecursive
		}
		o := occurrence{key: e.Key, slot: e.Slot, val: e.Value, holder: e.Holder, via: e.Via, hasValue: e.HasValue, value: e.Text}
		switch e.Form {
		case composeyaml.EnvMap:
			o.form, o.keyNode = MapForm, e.KeyNode
			k := deref(e.KeyNode)
			o.editable = k != nil && k.Kind == yaml.ScalarNode && k.ShortTag() == "!!str"
			if e.Value.Kind != yaml.ScalarNode {
				// Not a valid environment value; kept so that the check
				// after an edit sees it, never edited.
				o.value = "\x00complex"
			}
		case composeyaml.EnvList:
			if e.Null {
				continue
			}
			o.form, o.editable = ListForm, e.Value.ShortTag() == "!!str"
		}
		if !o.editable {
			o.key = "\x00" + o.key
		}
		out = append(out, o)
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
		idx, err := composeyaml.Index(svcs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.filename, err)
		}
		d.svcIndexOf, d.svcIndex = d.root, idx
	}
	sp := d.svcIndex[service]
	if sp == nil {
		return nil, fmt.Errorf("%s: %w: no service %q", d.filename, ErrNotFound, service)
	}
	p := toPair(*sp)
	return &p, nil
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
