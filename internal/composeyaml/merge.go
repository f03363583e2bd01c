package composeyaml

import (
	"errors"

	yaml "go.yaml.in/yaml/v3"
)

// This file is the one merge-key walker: the read side (compose, tracing
// values to where they are written) and the write side (yamledit, editing
// them there) both see a mapping's keys through it, so they cannot
// disagree on which written key a loaded value comes from.

// ErrRecursive is a merge key that reaches the mapping holding it. Load
// refuses such a file first (CheckAliases); the walker still guards
// against it, as it may be handed any tree.
var ErrRecursive = errors.New("an anchor contains itself")

// ErrMergeValue is a merge key whose value is neither a mapping nor a list
// of mappings: compose's parser refuses it too.
var ErrMergeValue = errors.New("a merge key (<<) needs a mapping or a list of mappings")

// Pair is one effective key of a mapping once merge keys are applied.
type Pair struct {
	Key, Value *yaml.Node // Value as written: maybe an alias
	// Holder is the mapping that holds the pair: the mapping itself or
	// one merged into it.
	Holder *yaml.Node
	// Via is the chain of mappings merged in to reach Holder, outermost
	// first; empty when Holder is the mapping itself.
	Via []*yaml.Node
}

// Deref follows an alias to the anchored node. An alias never carries an
// anchor, so one step is all a parsed tree needs; the bound is for trees
// built by hand.
func Deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 1000 {
			return nil
		}
		n = n.Alias
	}
	return n
}

// IsMergeKey reports whether a mapping key is the merge key: a plain `<<`
// (or one tagged !!merge); a quoted "<<" is an ordinary key, as in yaml v4.
func IsMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!merge"
}

// KeyName is the name a mapping key is looked up by.
func KeyName(k *yaml.Node) string {
	k = Deref(k)
	if k == nil || k.Kind != yaml.ScalarNode {
		return "\x00" // non-scalar keys never match a name
	}
	return k.Value
}

// Pairs returns m's effective pairs, each key once, with the precedence
// compose's parser (yaml v4) gives them: the keys written in m, then those
// of each merged mapping in order, each merged mapping's own keys before
// the ones it merges in turn; the first occurrence of a key wins. Of a key
// written twice in one mapping the later is kept, as a decoder would,
// though compose refuses such a file. On error the pairs found so far are
// returned with it.
func Pairs(m *yaml.Node) ([]Pair, error) {
	var out []Pair
	err := collect(Deref(m), nil, map[string]bool{}, map[*yaml.Node]bool{}, &out)
	return out, err
}

func collect(m *yaml.Node, via []*yaml.Node, seen map[string]bool, visiting map[*yaml.Node]bool, out *[]Pair) error {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	if visiting[m] {
		return ErrRecursive
	}
	visiting[m] = true
	defer delete(visiting, m)
	var merge *yaml.Node
	own := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if IsMergeKey(k) {
			merge = m.Content[i+1]
			continue
		}
		name := KeyName(k)
		if seen[name] {
			continue
		}
		if j, ok := own[name]; ok {
			(*out)[j] = Pair{Key: k, Value: m.Content[i+1], Holder: m, Via: via}
			continue
		}
		own[name] = len(*out)
		*out = append(*out, Pair{Key: k, Value: m.Content[i+1], Holder: m, Via: via})
	}
	for name := range own {
		seen[name] = true
	}
	if merge == nil {
		return nil
	}
	sources := []*yaml.Node{merge}
	if t := Deref(merge); t != nil && t.Kind == yaml.SequenceNode {
		sources = t.Content
	}
	for _, s := range sources {
		t := Deref(s)
		if t == nil || t.Kind != yaml.MappingNode {
			return ErrMergeValue
		}
		if err := collect(t, append(via[:len(via):len(via)], t), seen, visiting, out); err != nil {
			return err
		}
	}
	return nil
}

// Lookup returns the effective pair for key in m, nil if absent.
func Lookup(m *yaml.Node, key string) (*Pair, error) {
	m = Deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	// Without merge keys the pair is the last one written with that key:
	// found without building every pair, which matters for a services:
	// mapping of thousands of entries looked up once per edit.
	merge := false
	for i := 0; i+1 < len(m.Content) && !merge; i += 2 {
		merge = IsMergeKey(m.Content[i])
	}
	if !merge {
		var found *Pair
		for i := 0; i+1 < len(m.Content); i += 2 {
			if KeyName(m.Content[i]) == key {
				found = &Pair{Key: m.Content[i], Value: m.Content[i+1], Holder: m}
			}
		}
		return found, nil
	}
	ps, err := Pairs(m)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if KeyName(ps[i].Key) == key {
			return &ps[i], nil
		}
	}
	return nil, nil
}

// Index returns m's effective pairs (Pairs) by key name: one walk for a
// mapping looked up many times, such as services: in a file of thousands.
func Index(m *yaml.Node) (map[string]*Pair, error) {
	ps, err := Pairs(m)
	if err != nil {
		return nil, err
	}
	idx := make(map[string]*Pair, len(ps))
	for i := range ps {
		idx[KeyName(ps[i].Key)] = &ps[i]
	}
	return idx, nil
}
