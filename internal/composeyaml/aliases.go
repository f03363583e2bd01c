package composeyaml

import (
	"errors"
	"fmt"

	yaml "go.yaml.in/yaml/v3"
)

// CheckAliases rejects, from the parsed nodes alone, the two alias shapes
// that compose-go cannot read and is slow (or worse) to find out about:
//
//   - a cycle, an alias inside the very node it refers to
//     (`web: &w {image: x, <<: *w}`): compose-go spends seconds of CPU
//     before it errors, and a walker that expands merge keys recursively
//     never ends;
//   - an alias bomb ("billion laughs": anchors each aliasing the previous
//     one many times), whose expansion grows exponentially with its size.
//
// The bound on expansion is the one compose's own YAML decoder (yaml v4,
// Constructor.Construct) applies, computed here without expanding
// anything: a document is refused when more than 100 of the nodes it
// decodes to come through an alias, it decodes to more than 1,000 nodes,
// and the share that comes through aliases is over allowedAliasRatio.
// Nodes are counted as yaml v4 constructs them, merge keys included (see
// mapping), so a document refused here is refused there too: no file
// compose accepts is refused. yaml v4 checks as it goes, and may refuse a
// little more (a document over the bound only part of the way through);
// compose-go reports that itself, its work bounded by that same check.
// Sizes are counted once per node (aliases can only point backwards, so a
// node's size is known before any alias to it), which makes the check
// linear in the file; what merge keys merge is counted again at each merge
// (it depends on the keys already set), within a bound (see merged).
func CheckAliases(file string, docs ...*yaml.Node) error {
	for _, d := range docs {
		c := aliasCheck{file: file, size: map[*yaml.Node]counts{}, open: map[*yaml.Node]bool{}}
		r, err := c.walk(d)
		if err != nil {
			return err
		}
		total, through := r.total, r.through
		if through > 100 && total > 1000 && float64(through)/float64(total) > allowedAliasRatio(total) {
			e := &SyntaxError{File: file, Line: d.Line, Column: d.Column}
			if c.worst != nil {
				e.Line, e.Column = c.worst.Line, c.worst.Column
			}
			e.Msg = fmt.Sprintf("aliases expand to %s nodes (%s through aliases): compose refuses a document with excessive aliasing", count(total), count(through))
			return e
		}
	}
	return nil
}

// sizeCap keeps sizes from overflowing: a bomb of 30 levels of 9 aliases
// expands to more than an int64 counts, and anything this large fails the
// ratio anyway.
const sizeCap = int64(1) << 60

type aliasCheck struct {
	file string
	// size is what a node decodes to when decoded where it is written.
	size map[*yaml.Node]counts
	// open holds the nodes being walked: the ancestors of the current one.
	open map[*yaml.Node]bool
	// worst is the alias whose target is the largest, where a bomb is
	// reported.
	worst     *yaml.Node
	worstSize int64
	// nodes are the nodes walked; steps the calls of merged, which are
	// not remembered (a merged mapping's count depends on the keys
	// already set) and so are bounded instead (see merged).
	nodes, steps int64
}

// counts are the nodes a decoder constructs, and how many of them it
// constructs through an alias (yaml v4 counts everything under an alias,
// not the alias node itself).
type counts struct{ total, through int64 }

func (a counts) plus(b counts) counts {
	return counts{capped(a.total + b.total), capped(a.through + b.through)}
}

const errMergeBudget = "merge keys expand to more than 10 million nodes: compose refuses a document with excessive aliasing"

const errCycle = "an alias refers to the anchor that contains it (a node cannot merge or include itself)"

// walk visits every node once, finds cycles, and returns what n decodes
// to, remembering it for the aliases that follow.
func (c *aliasCheck) walk(n *yaml.Node) (counts, error) {
	if n == nil {
		return counts{}, nil
	}
	if r, ok := c.size[n]; ok {
		return r, nil
	}
	c.nodes++
	var r counts
	switch n.Kind {
	case yaml.AliasNode:
		t := n.Alias
		if t != nil && c.open[t] {
			return counts{}, &SyntaxError{File: c.file, Line: n.Line, Column: n.Column, Msg: errCycle}
		}
		s, err := c.walk(t)
		if err != nil {
			return counts{}, err
		}
		if s.total > c.worstSize {
			c.worst, c.worstSize = n, s.total
		}
		r = counts{capped(1 + s.total), s.total}
	case yaml.MappingNode:
		var err error
		if r, err = c.mapping(n); err != nil {
			return counts{}, err
		}
	default:
		c.open[n] = true
		r = counts{total: 1}
		for _, ch := range n.Content {
			cc, err := c.walk(ch)
			if err != nil {
				return counts{}, err
			}
			r = r.plus(cc)
		}
		delete(c.open, n)
	}
	c.size[n] = r
	return r, nil
}

// mapping counts a mapping as yaml v4's Constructor.mapping decodes it: a
// merge key and its value are not decoded where written; instead every key
// is decoded once more and the merged mappings are decoded as merge
// decodes them (see merged).
func (c *aliasCheck) mapping(n *yaml.Node) (counts, error) {
	c.open[n] = true
	defer delete(c.open, n)
	r := counts{total: 1}
	var merge *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := c.walk(n.Content[i])
		if err != nil {
			return counts{}, err
		}
		v, err := c.walk(n.Content[i+1])
		if err != nil {
			return counts{}, err
		}
		if IsMergeKey(n.Content[i]) {
			merge = n.Content[i+1]
			continue
		}
		r = r.plus(k).plus(v)
	}
	if merge == nil {
		return r, nil
	}
	shadow := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		r = r.plus(c.size[n.Content[i]])
		shadow[KeyName(n.Content[i])] = true
	}
	m, err := c.merged(merge, shadow, false, 0)
	var se *SyntaxError
	if errors.As(err, &se) && se.Msg == errMergeBudget {
		// Named where the merge that grew too large is written, not
		// deep inside what it merges.
		se.Line, se.Column = merge.Line, merge.Column
	}
	return r.plus(m), err
}

// merged counts a merge key's value: its aliases and mappings, not a list
// holding them; in each mapping every key, but only the values of keys
// not already set (shadow), as yaml v4 skips the others.
func (c *aliasCheck) merged(v *yaml.Node, shadow map[string]bool, inAlias bool, depth int) (counts, error) {
	if depth > 1000 {
		// Merges chain only backwards in a parsed document; this bounds a
		// tree built by hand.
		return counts{}, &SyntaxError{File: c.file, Line: v.Line, Column: v.Column, Msg: errCycle}
	}
	// Merges of merges (<<: [*a, *a, ...] on every level) multiply like
	// any alias bomb, and each call here is at least one node yaml v4
	// decodes, nearly all through an alias: past this many, it has
	// decoded millions of alias nodes for a document of a tenth as many,
	// which is over its bound (10% from 4,000,000 nodes).
	if c.steps++; c.steps > 10_000_000+10*c.nodes {
		return counts{}, &SyntaxError{File: c.file, Line: v.Line, Column: v.Column, Msg: errMergeBudget}
	}
	var r counts
	switch v.Kind {
	case yaml.AliasNode:
		r.total = 1
		if inAlias {
			r.through = 1
		}
		if v.Alias == nil {
			return r, nil
		}
		s, err := c.merged(v.Alias, shadow, true, depth+1)
		return r.plus(s), err
	case yaml.SequenceNode:
		for _, item := range v.Content {
			s, err := c.merged(item, shadow, inAlias, depth+1)
			if err != nil {
				return counts{}, err
			}
			r = r.plus(s)
		}
		return r, nil
	case yaml.MappingNode:
	default:
		return counts{}, nil
	}
	r.total = 1
	var merge *yaml.Node
	for i := 0; i+1 < len(v.Content); i += 2 {
		k := v.Content[i]
		if IsMergeKey(k) {
			merge = v.Content[i+1]
			continue
		}
		r = r.plus(c.size[k])
		if name := KeyName(k); !shadow[name] {
			shadow[name] = true
			r = r.plus(c.size[v.Content[i+1]])
		}
	}
	if merge != nil {
		s, err := c.merged(merge, shadow, inAlias, depth+1)
		if err != nil {
			return counts{}, err
		}
		r = r.plus(s)
	}
	if inAlias {
		r.through = r.total
	}
	return r, nil
}

func capped(n int64) int64 {
	return min(n, sizeCap)
}

// count prints a large number the way a reader takes it in; "about"
// because yaml v4 counts merge keys a little differently.
func count(n int64) string {
	switch {
	case n >= sizeCap:
		return "more than 10^18"
	case n >= 1e9:
		return fmt.Sprintf("about %.1f billion", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("about %.1f million", float64(n)/1e6)
	}
	return fmt.Sprintf("about %d", n)
}

// allowedAliasRatio is yaml v4's (internal/libyaml/constructor.go), so
// that this check draws the line where compose's decoder does: up to
// 400,000 decoded nodes, 99% may come through aliases; from 4,000,000, 10%;
// linear in between.
func allowedAliasRatio(total int64) float64 {
	const low, high = 400_000, 4_000_000
	switch {
	case total <= low:
		return 0.99
	case total >= high:
		return 0.10
	}
	return 0.99 - 0.89*(float64(total-low)/float64(high-low))
}
