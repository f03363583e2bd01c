package composeyaml

import (
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
// anything: a document is rejected when more than 100 of its decoded nodes
// come through an alias, it decodes more than 1,000 nodes, and the share
// that comes through aliases is over allowedAliasRatio. Any document that
// passes would pass there, so no file compose accepts is refused; any
// document that fails would fail there too, only after the expansion.
// Sizes are counted once per node (aliases can only point backwards, so a
// node's size is known before any alias to it), which makes the check
// linear in the file.
func CheckAliases(file string, docs ...*yaml.Node) error {
	for _, d := range docs {
		c := aliasCheck{file: file, size: map[*yaml.Node]int64{}, open: map[*yaml.Node]bool{}}
		total, through, err := c.walk(d)
		if err != nil {
			return err
		}
		if through > 100 && total > 1000 && float64(through)/float64(total) > allowedAliasRatio(total) {
			return &SyntaxError{File: file, Line: c.worst.Line, Column: c.worst.Column,
				Msg: fmt.Sprintf("aliases expand to %s nodes (%s through aliases): compose refuses a document with excessive aliasing", count(total), count(through))}
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
	// size is the number of nodes a node decodes to, aliases expanded.
	size map[*yaml.Node]int64
	// open holds the nodes being walked: the ancestors of the current one.
	open map[*yaml.Node]bool
	// worst is the alias whose target is the largest, where a bomb is
	// reported.
	worst     *yaml.Node
	worstSize int64
}

// walk returns how many nodes n decodes to, and how many of them are
// decoded through an alias (counted as yaml v4 counts them: everything
// under an alias, not the alias node itself).
func (c *aliasCheck) walk(n *yaml.Node) (total, through int64, err error) {
	if n == nil {
		return 0, 0, nil
	}
	if n.Kind == yaml.AliasNode {
		t := n.Alias
		if t == nil {
			return 1, 0, nil
		}
		if c.open[t] {
			return 0, 0, &SyntaxError{File: c.file, Line: n.Line, Column: n.Column,
				Msg: "an alias refers to the anchor that contains it (a node cannot merge or include itself)"}
		}
		s, ok := c.size[t]
		if !ok {
			// Not reached in a parsed document (an anchor precedes its
			// aliases); walked here so the count stays right anyway.
			if s, _, err = c.walk(t); err != nil {
				return 0, 0, err
			}
		}
		if s > c.worstSize {
			c.worst, c.worstSize = n, s
		}
		return capped(1 + s), s, nil
	}
	c.open[n] = true
	defer delete(c.open, n)
	total = 1
	for _, ch := range n.Content {
		t, a, err := c.walk(ch)
		if err != nil {
			return 0, 0, err
		}
		total, through = capped(total+t), capped(through+a)
	}
	c.size[n] = total
	return total, through, nil
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
