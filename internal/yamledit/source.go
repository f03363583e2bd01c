package yamledit

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// source maps yaml.v3 node positions (1-based line, 1-based column counted in
// characters) to byte offsets in the original file, and knows where every node
// ends. yaml.v3 only records where a node starts, so the end is found by
// scanning the bytes with the same rules the YAML scanner used.
type source struct {
	b []byte
	// starts[i] is the offset of the first byte of line i+1; breaks[i] the
	// offset of the line break ending it (len(b) for a last line without one).
	starts, breaks []int
	spans          map[*yaml.Node]span
	// indents[n] is the indentation (0-based column) of the block collection
	// that directly holds n, -1 at the top level: block scalars need it.
	indents map[*yaml.Node]int
}

// span is the byte range [start, end) of a node as written, including its
// properties (anchor, tag).
type span struct{ start, end int }

var errSpan = errors.New("cannot locate node in source")

var utf8BOM = "\uFEFF"

func newSource(b []byte) *source {
	s := &source{b: b}
	start := 0
	if strings.HasPrefix(string(b), utf8BOM) {
		// yaml.v3 skips the byte order mark before counting columns.
		start = len(utf8BOM)
	}
	s.starts = append(s.starts, start)
	for i := start; i < len(b); {
		n := breakLen(b, i)
		if n == 0 {
			i++
			continue
		}
		s.breaks = append(s.breaks, i)
		i += n
		s.starts = append(s.starts, i)
	}
	s.breaks = append(s.breaks, len(b))
	return s
}

// breakLen returns the length of the line break at b[i], 0 if there is none.
// These are the breaks yaml.v3 counts lines with (YAML 1.1): CRLF, CR, LF, NEL,
// LS and PS.
func breakLen(b []byte, i int) int {
	switch {
	case b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n':
		return 2
	case b[i] == '\r' || b[i] == '\n':
		return 1
	case b[i] == 0xC2 && i+1 < len(b) && b[i+1] == 0x85:
		return 2
	case b[i] == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9):
		return 3
	}
	return 0
}

// offset converts a yaml.v3 line/column to a byte offset.
func (s *source) offset(line, col int) (int, error) {
	if line < 1 || line > len(s.starts) || col < 1 {
		return 0, fmt.Errorf("%w: position %d:%d out of range", errSpan, line, col)
	}
	off, end := s.starts[line-1], s.breaks[line-1]
	for i := 1; i < col; i++ {
		if off >= end {
			return 0, fmt.Errorf("%w: position %d:%d out of range", errSpan, line, col)
		}
		_, w := utf8.DecodeRune(s.b[off:])
		off += w
	}
	return off, nil
}

// line returns the 0-based index of the line holding offset off.
func (s *source) line(off int) int {
	lo, hi := 0, len(s.starts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if s.starts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// column returns the 0-based column (in characters) of offset off.
func (s *source) column(off int) int {
	return utf8.RuneCount(s.b[s.starts[s.line(off)]:off])
}

// lineEnd returns the offset of the line break ending the line holding off.
func (s *source) lineEnd(off int) int { return s.breaks[s.line(off)] }

// nextLine returns the offset just after the line break ending the line
// holding off (len(b) on the last line).
func (s *source) nextLine(off int) int {
	l := s.line(off)
	if l+1 < len(s.starts) {
		return s.starts[l+1]
	}
	return len(s.b)
}

// deleteLines returns the splice deleting the whole lines holding start
// through end, line break included. When they end the file without a final
// line break, the break before them goes instead, so the file still ends
// without one.
func (s *source) deleteLines(start, end int) splice {
	first, last := s.line(start), s.line(end)
	from, to := s.starts[first], s.nextLine(end)
	if s.breaks[last] == len(s.b) && first > 0 {
		from = s.breaks[first-1]
	}
	return splice{from, to, ""}
}

// onlySpaceBefore reports whether nothing but spaces and tabs precede off on
// its line.
func (s *source) onlySpaceBefore(off int) bool {
	return strings.Trim(string(s.b[s.starts[s.line(off)]:off]), " \t") == ""
}

// restIsComment reports whether only blanks and maybe a comment follow off on
// its line.
func (s *source) restIsComment(off int) bool {
	rest := strings.TrimLeft(string(s.b[off:s.lineEnd(off)]), " \t")
	return rest == "" || rest[0] == '#'
}

// skipBlank skips spaces and tabs.
func (s *source) skipBlank(p int) int {
	for p < len(s.b) && (s.b[p] == ' ' || s.b[p] == '\t') {
		p++
	}
	return p
}

// skipSpace skips blanks, line breaks and comments.
func (s *source) skipSpace(p int) int {
	for p < len(s.b) {
		switch {
		case s.b[p] == ' ' || s.b[p] == '\t':
			p++
		case s.b[p] == '#':
			p = s.lineEnd(p)
		case breakLen(s.b, p) > 0:
			p += breakLen(s.b, p)
		default:
			return p
		}
	}
	return p
}

// skipProps skips a node's anchor and tag, returning the offset just after
// the last property (p itself when there is none).
func (s *source) skipProps(p int) int {
	for {
		q := s.skipBlank(p)
		if q >= len(s.b) {
			return p
		}
		switch s.b[q] {
		case '&':
			q++
			for q < len(s.b) && isAnchorChar(s.b[q]) {
				q++
			}
		case '!':
			if q+1 < len(s.b) && s.b[q+1] == '<' {
				for q < len(s.b) && s.b[q] != '>' {
					q++
				}
				q++
			} else {
				for q < len(s.b) && !isBlankOrBreak(s.b, q) {
					q++
				}
			}
		default:
			return p
		}
		p = q
	}
}

func isAnchorChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c == '-'
}

func isBlankOrBreak(b []byte, i int) bool {
	return b[i] == ' ' || b[i] == '\t' || breakLen(b, i) > 0
}

// locate computes the span of every node under root.
func (s *source) locate(root *yaml.Node) error {
	s.spans = map[*yaml.Node]span{}
	s.indents = map[*yaml.Node]int{}
	return s.walk(root, -1, false)
}

func (s *source) walk(n *yaml.Node, indent int, flow bool) error {
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			if err := s.walk(c, -1, false); err != nil {
				return err
			}
		}
		return nil
	}
	start, err := s.offset(n.Line, n.Column)
	if err != nil {
		return err
	}
	s.indents[n] = indent
	var end int
	switch n.Kind {
	case yaml.AliasNode:
		if s.b[start] != '*' {
			return fmt.Errorf("%w: alias at %d:%d", errSpan, n.Line, n.Column)
		}
		end = start + 1 + len(n.Value)
	case yaml.ScalarNode:
		end, err = s.scalarEnd(n, start, indent)
	case yaml.MappingNode, yaml.SequenceNode:
		end, err = s.collectionEnd(n, start, flow)
	default:
		return fmt.Errorf("%w: unexpected node kind %v", errSpan, n.Kind)
	}
	if err != nil {
		return err
	}
	if end < start || end > len(s.b) {
		return fmt.Errorf("%w: node at %d:%d", errSpan, n.Line, n.Column)
	}
	s.spans[n] = span{start, end}
	return nil
}

// collectionEnd walks a mapping or sequence's children and returns its end.
func (s *source) collectionEnd(n *yaml.Node, start int, flow bool) (int, error) {
	if n.Style&yaml.FlowStyle != 0 || flow {
		open := s.skipSpace(s.skipProps(start))
		p := open + 1
		want := byte('[')
		if n.Kind == yaml.MappingNode {
			want = '{'
		}
		if open >= len(s.b) || s.b[open] != want {
			// A single-pair mapping inside a flow sequence ([a: b]) has no
			// braces of its own: it ends with its value.
			if n.Kind != yaml.MappingNode {
				return 0, fmt.Errorf("%w: flow collection at %d:%d", errSpan, n.Line, n.Column)
			}
			p, open = start, -1
		}
		for _, c := range n.Content {
			if err := s.walk(c, -1, true); err != nil {
				return 0, err
			}
			p = max(p, s.spans[c].end)
		}
		if open < 0 {
			return p, nil
		}
		closer := byte('}')
		if s.b[open] == '[' {
			closer = ']'
		}
		for {
			p = s.skipSpace(p)
			if p >= len(s.b) {
				return 0, fmt.Errorf("%w: unterminated flow collection at %d:%d", errSpan, n.Line, n.Column)
			}
			switch s.b[p] {
			case ',', ':', '?':
				p++
				continue
			case closer:
				return p + 1, nil
			}
			return 0, fmt.Errorf("%w: flow collection at %d:%d", errSpan, n.Line, n.Column)
		}
	}
	if len(n.Content) == 0 {
		return 0, fmt.Errorf("%w: empty block collection at %d:%d", errSpan, n.Line, n.Column)
	}
	// The indentation a block collection sets for its children is the column
	// of its keys or of its dashes.
	first := s.skipSpace(s.skipProps(start))
	if n.Kind == yaml.SequenceNode && (first >= len(s.b) || s.b[first] != '-') {
		return 0, fmt.Errorf("%w: block sequence at %d:%d", errSpan, n.Line, n.Column)
	}
	var indent int
	if n.Kind == yaml.MappingNode {
		k, err := s.offset(n.Content[0].Line, n.Content[0].Column)
		if err != nil {
			return 0, err
		}
		indent = s.column(k)
	} else {
		indent = s.column(first)
	}
	end := start
	for _, c := range n.Content {
		if err := s.walk(c, indent, false); err != nil {
			return 0, err
		}
		end = max(end, s.spans[c].end)
	}
	return end, nil
}

// scalarEnd finds where a scalar ends, by its style.
func (s *source) scalarEnd(n *yaml.Node, start, indent int) (int, error) {
	props := s.skipProps(start)
	quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
	if !quoted && n.Value == "" {
		// An empty plain scalar (`key:`) is written as nothing at all.
		return props, nil
	}
	p := s.skipSpace(props)
	if p >= len(s.b) {
		return 0, fmt.Errorf("%w: scalar at %d:%d", errSpan, n.Line, n.Column)
	}
	// Built only on failure: this runs for every scalar of every file.
	bad := func() error { return fmt.Errorf("%w: scalar at %d:%d", errSpan, n.Line, n.Column) }
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if s.b[p] != '"' {
			return 0, bad()
		}
		for i := p + 1; i < len(s.b); i++ {
			switch s.b[i] {
			case '\\':
				i++
			case '"':
				return i + 1, nil
			}
		}
	case n.Style&yaml.SingleQuotedStyle != 0:
		if s.b[p] != '\'' {
			return 0, bad()
		}
		for i := p + 1; i < len(s.b); i++ {
			if s.b[i] == '\'' {
				if i+1 < len(s.b) && s.b[i+1] == '\'' {
					i++
					continue
				}
				return i + 1, nil
			}
		}
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		if s.b[p] != '|' && s.b[p] != '>' {
			return 0, bad()
		}
		return s.blockScalarEnd(p, indent), nil
	default:
		return s.plainEnd(n.Value, p)
	}
	return 0, bad()
}

// blockScalarEnd returns the end of the last non-empty content line of the
// literal or folded scalar whose indicator is at p, following the YAML
// scanner's indentation rules: content is indented by the explicit
// indentation indicator, or else by the first non-empty line.
func (s *source) blockScalarEnd(p, indent int) int {
	header := s.lineEnd(p)
	explicit := 0
	for q := p + 1; q < header; q++ {
		c := s.b[q]
		if c >= '1' && c <= '9' {
			explicit = int(c - '0')
		} else if c != '+' && c != '-' {
			break
		}
	}
	want := 0
	if explicit > 0 {
		want = max(indent, 0) + explicit
	}
	end := header
	maxLead := 0
	for l := s.line(p) + 1; l < len(s.starts); l++ {
		line := s.b[s.starts[l]:s.breaks[l]]
		lead := 0
		for lead < len(line) && line[lead] == ' ' {
			lead++
		}
		if strings.Trim(string(line), " \t") == "" {
			maxLead = max(maxLead, lead)
			continue
		}
		if want == 0 {
			want = max(maxLead, lead, indent+1, 1)
		}
		if utf8.RuneCount(line[:lead]) < want {
			break
		}
		end = s.breaks[l]
	}
	return end
}

// plainEnd finds the end of a plain scalar starting at p whose folded value is
// v. A plain scalar has no escapes, so its value is its lines, trimmed and
// joined by one space (or by n-1 newlines for n line breaks): matching the
// value line by line finds the end without re-implementing the scanner's
// context rules (flow indicators, " #", ": ").
func (s *source) plainEnd(v string, p int) (int, error) {
	rest := v
	for {
		line := string(s.b[p:s.lineEnd(p)])
		if strings.HasPrefix(line, rest) {
			return p + len(rest), nil
		}
		t := strings.TrimRight(line, " \t")
		if t == "" || !strings.HasPrefix(rest, t) {
			return 0, fmt.Errorf("%w: plain scalar at offset %d", errSpan, p)
		}
		rest = rest[len(t):]
		// Count the line breaks up to the next non-empty line.
		breaks := 0
		q := p
		for {
			l := s.line(q)
			if l+1 >= len(s.starts) {
				return 0, fmt.Errorf("%w: plain scalar at offset %d", errSpan, p)
			}
			breaks++
			q = s.skipBlank(s.starts[l+1])
			if q < s.breaks[l+1] {
				break
			}
		}
		sep := " "
		if breaks > 1 {
			sep = strings.Repeat("\n", breaks-1)
		}
		if !strings.HasPrefix(rest, sep) {
			return 0, fmt.Errorf("%w: plain scalar at offset %d", errSpan, p)
		}
		rest = rest[len(sep):]
		p = q
	}
}
