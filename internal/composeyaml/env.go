package composeyaml

import (
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// This file is the one reading of a service's environment: entries, shared
// by the read side (compose, tracing a variable to where it is written) and
// the write side (yamledit, editing it there). Each keeps its own flags
// (shared, editable) and derives them from what an EnvEntry records.

// EnvForm is how an environment entry is written.
type EnvForm int

const (
	// EnvMap is `KEY: value` in a mapping.
	EnvMap EnvForm = iota
	// EnvList is `- KEY=value` or `- KEY` in a sequence.
	EnvList
)

// EnvEntry is one entry of an environment node, as written.
type EnvEntry struct {
	// Key is the variable name: the map key's KeyName, or what precedes
	// the first "=" of a list item (the whole item without one).
	Key  string
	Form EnvForm
	// KeyNode is the map key as written (maybe an alias); nil in list form.
	KeyNode *yaml.Node
	// Slot is the value (map form) or the item (list form) as written:
	// maybe an alias. Value is Slot with aliases followed: nil when the
	// alias cannot be followed.
	Slot, Value *yaml.Node
	// Null: Value is a null scalar (`KEY:`, `KEY: ~`, `- null`), by its
	// resolved tag (Node.ShortTag, which for a parsed node is its Tag).
	Null bool
	// HasValue: the map value is set (Value neither nil nor Null), or the
	// list item has an "=". Text is then the value: Value.Value in map
	// form ("" for a mapping or sequence), what follows the "=" in list
	// form.
	HasValue bool
	Text     string
	// Holder is the mapping or sequence holding the entry: the environment
	// node or, in map form, a mapping merged into it; Via is the chain of
	// mappings merged in to reach Holder (Pair.Via), empty when the entry
	// is written in the environment node itself.
	Holder *yaml.Node
	Via    []*yaml.Node
}

// Aliased reports whether the entry's value (map form) or item (list form)
// is written as an alias.
func (e EnvEntry) Aliased() bool { return e.Slot != nil && e.Slot.Kind == yaml.AliasNode }

// Merged reports whether the entry comes through a merge key.
func (e EnvEntry) Merged() bool { return len(e.Via) > 0 }

func isNull(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// EnvEntries returns the entries of an environment node (aliases followed)
// in the order compose resolves them: a mapping's effective pairs (Pairs,
// merge keys applied), or a sequence's scalar items (other items are not
// entries). An entry whose alias cannot be followed is returned with a nil
// Value, for the caller to skip or refuse. On error (a merge key reaching
// its own mapping, or naming no mapping) the entries found so far are
// returned with it, as Pairs does.
func EnvEntries(env *yaml.Node) ([]EnvEntry, error) {
	env = Deref(env)
	if env == nil {
		return nil, ErrRecursive
	}
	var out []EnvEntry
	switch env.Kind {
	case yaml.MappingNode:
		ps, err := Pairs(env)
		for _, p := range ps {
			e := EnvEntry{Key: KeyName(p.Key), Form: EnvMap, KeyNode: p.Key, Slot: p.Value, Value: Deref(p.Value), Holder: p.Holder, Via: p.Via}
			e.Null = isNull(e.Value)
			if e.Value != nil && !e.Null {
				e.HasValue, e.Text = true, e.Value.Value
			}
			out = append(out, e)
		}
		return out, err
	case yaml.SequenceNode:
		for _, it := range env.Content {
			v := Deref(it)
			if v != nil && v.Kind != yaml.ScalarNode {
				continue
			}
			e := EnvEntry{Form: EnvList, Slot: it, Value: v, Holder: env}
			if v != nil {
				e.Null = isNull(v)
				e.Key, e.Text, e.HasValue = strings.Cut(v.Value, "=")
			}
			out = append(out, e)
		}
	}
	return out, nil
}
