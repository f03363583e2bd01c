package yamledit

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	yamlv4 "go.yaml.in/yaml/v4"
)

// Quote returns s written as a YAML scalar that reads back as the string s:
// plain when that is unambiguous, double-quoted otherwise. Use it to build
// the values passed to AddTopLevelSecret.
func Quote(s string) string {
	out, err := renderString(s, styleAny, false)
	if err != nil {
		// Only invalid UTF-8 fails, and YAML cannot hold it: the caller's
		// result will fail to parse, with a position, rather than here.
		return doubleQuote(strings.ToValidUTF8(s, "\uFFFD"))
	}
	return out
}

type wantStyle int

const (
	styleAny wantStyle = iota
	styleSingle
	styleDouble
)

// styleLike picks the quoting of an existing scalar to write its replacement
// with: quoted stays quoted the same way; plain, block and empty become plain
// when that is unambiguous.
func styleLike(n *yaml.Node) wantStyle {
	switch {
	case n == nil:
		return styleAny
	case n.Style&yaml.SingleQuotedStyle != 0:
		return styleSingle
	case n.Style&yaml.DoubleQuotedStyle != 0:
		return styleDouble
	}
	return styleAny
}

// renderString writes s as a one-line scalar.
func renderString(s string, want wantStyle, flow bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: a value that is not valid UTF-8 cannot be written in YAML", ErrUnsupported)
	}
	switch want {
	case styleSingle:
		if singleQuotable(s) {
			return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
		}
	case styleAny:
		if plainSafe(s, flow) {
			return s, nil
		}
	}
	return doubleQuote(s), nil
}

// yamlWords are the words YAML 1.1 or 1.2 reads as something other than a
// string, in any case.
var yamlWords = map[string]bool{"y": true, "n": true, "yes": true, "no": true, "true": true, "false": true, "on": true, "off": true, "null": true}

func asciiLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// plainSafe reports whether s can be written unquoted and read back as the
// same string. It is deliberately narrow (the characters of variable names,
// paths and secret names): anything else is quoted, which is never wrong.
func plainSafe(s string, flow bool) bool {
	if s == "" || s[0] == '-' || s[0] == '+' || s[0] == '=' {
		return false
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_./@+=-", r)) || needsEscape(r) {
			return false
		}
	}
	// A '/' or '_' in a scalar that starts with a letter, '/', '_' or "./"
	// rules out every other type (numbers, booleans, null, timestamps,
	// .inf): the common case of paths and secret names, answered without
	// running two parsers. (".5_0" is a float: a '.' alone does not do.)
	if (unicode.IsLetter(rune(s[0])) || s[0] == '/' || s[0] == '_' || strings.HasPrefix(s, "./")) && strings.ContainsAny(s, "/_") {
		return true
	}
	// ASCII letters alone are a string unless a boolean or a null in some
	// YAML version ("file", "external": the keys this package writes).
	if asciiLetters(s) && !yamlWords[strings.ToLower(s)] {
		return true
	}
	// Both parsers must read it as a string: compose uses yaml v4, this
	// package yaml.v3, and "1e3" or "0x1f" or "null" would not be strings.
	var n3 yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n3); err != nil || len(n3.Content) != 1 ||
		n3.Content[0].ShortTag() != "!!str" || n3.Content[0].Value != s {
		return false
	}
	var n4 yamlv4.Node
	if err := yamlv4.Load([]byte(s), &n4); err != nil || len(n4.Content) != 1 ||
		n4.Content[0].ShortTag() != "!!str" || n4.Content[0].Value != s {
		return false
	}
	return true
}

func singleQuotable(s string) bool {
	for _, r := range s {
		if r == '\t' {
			continue
		}
		if needsEscape(r) {
			return false
		}
	}
	return true
}

// needsEscape reports whether r cannot appear as itself inside a quoted
// scalar: control characters, the line breaks of YAML 1.1 (NEL, LS, PS),
// the byte order mark and what yaml.v3 does not accept as printable.
func needsEscape(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7F:
		return true
	case r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xFEFF:
		return true
	case r >= 0x80 && r < 0xA0:
		return true
	case r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
		return true
	}
	return !unicode.IsPrint(r) && r != ' '
}

func doubleQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\0`)
		default:
			switch {
			case !needsEscape(r):
				b.WriteRune(r)
			case r <= 0xFF:
				fmt.Fprintf(&b, `\x%02X`, r)
			case r <= 0xFFFF:
				fmt.Fprintf(&b, `\u%04X`, r)
			default:
				fmt.Fprintf(&b, `\U%08X`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// layout is how a file indents, so inserted lines look like their neighbours.
type layout struct {
	mapStep   int // child keys' indentation below their parent key
	seqIndent int // a block sequence's dashes below its parent key: 0 or 2 usually
	seqGap    int // from a dash to its item
}

// detectLayout takes the most common indentation of each kind in the file.
func detectLayout(s *source, doc *yaml.Node) layout {
	maps, seqs, gaps := map[int]int{}, map[int]int{}, map[int]int{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle == 0 {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				kc := s.column(s.spans[k].start)
				if v.Style&yaml.FlowStyle != 0 || len(v.Content) == 0 {
					continue
				}
				first := s.spans[v.Content[0]].start
				if s.line(first) == s.line(s.spans[k].start) {
					continue
				}
				switch v.Kind {
				case yaml.MappingNode:
					if c := s.column(first) - kc; c > 0 {
						maps[c]++
					}
				case yaml.SequenceNode:
					dash := s.skipSpace(s.skipProps(s.spans[v].start))
					if dash < len(s.b) && s.b[dash] == '-' {
						seqs[s.column(dash)-kc]++
						if g := s.column(first) - s.column(dash); g > 0 && s.line(first) == s.line(dash) {
							gaps[g]++
						}
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(doc)
	return layout{mapStep: mode(maps, 2), seqIndent: mode(seqs, 2), seqGap: mode(gaps, 2)}
}

func mode(counts map[int]int, def int) int {
	best, n := def, 0
	for v, c := range counts {
		if v < 0 || v > 16 {
			continue
		}
		if c > n || c == n && v < best {
			best, n = v, c
		}
	}
	return best
}
