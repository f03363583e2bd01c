package scan

import (
	"bytes"
	"path/filepath"
	"slices"
	"sort"
	"unicode/utf8"
)

// Helpers on the bytes of a file: lines and columns, the ignore comment,
// the search for Key Vault values. Every one is a single pass over the
// bytes (or over the one line asked about), so a file made of one huge
// line costs its length and no more.

// lineIndex holds where each line of a file starts.
type lineIndex struct {
	b      []byte
	starts []int
}

func newLineIndex(b []byte) *lineIndex {
	li := &lineIndex{b: b, starts: make([]int, 1, 64)}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
		li.starts = append(li.starts, i)
	}
	return li
}

// at returns the 1-based line and byte column of offset off.
func (li *lineIndex) at(off int) (line, col int) {
	i := sort.Search(len(li.starts), func(i int) bool { return li.starts[i] > off }) - 1
	return i + 1, off - li.starts[i] + 1
}

// text returns line n (1-based) without its line break, nil past the end.
func (li *lineIndex) text(n int) []byte {
	if n < 1 || n > len(li.starts) {
		return nil
	}
	start, end := li.starts[n-1], len(li.b)
	if n < len(li.starts) {
		end = li.starts[n] - 1
	}
	return bytes.TrimSuffix(li.b[start:end], []byte{'\r'})
}

// byteColumn turns a column counted in characters (as yaml.v3 counts
// them) into one counted in bytes, on line n.
func (li *lineIndex) byteColumn(n, chars int) int {
	if chars <= 1 {
		return chars
	}
	t := li.text(n)
	off := 0
	for k := 1; k < chars && off < len(t); k++ {
		_, size := utf8.DecodeRune(t[off:])
		off += size
	}
	return off + 1
}

// ignoreMarker silences a finding: on the finding's own line as a trailing
// comment, or alone on the line directly above it.
const ignoreMarker = "docker-vault:ignore"

// ignoreComment reports whether line n holds the marker as a comment
// (`# docker-vault:ignore [reason]` at its end, with whitespace or the
// line's start before the #), or line n-1 is such a comment on its own,
// and returns the reason written after the marker.
func (li *lineIndex) ignoreComment(n int) (reason string, ok bool) {
	if r, ok := markerIn(li.text(n), false); ok {
		return r, true
	}
	return markerIn(li.text(n-1), true)
}

// markerIn finds `#<spaces>docker-vault:ignore` in a line; alone: the
// comment must be all the line holds.
func markerIn(line []byte, alone bool) (string, bool) {
	from := 0
	for {
		i := bytes.Index(line[from:], []byte(ignoreMarker))
		if i < 0 {
			return "", false
		}
		i += from
		before := bytes.TrimRight(line[:i], " \t")
		if len(before) > 0 && before[len(before)-1] == '#' {
			hash := len(before) - 1
			lead := line[:hash]
			if (alone && len(bytes.TrimSpace(lead)) == 0) || (!alone && (hash == 0 || lead[hash-1] == ' ' || lead[hash-1] == '\t')) {
				rest := line[i+len(ignoreMarker):]
				if len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == ':' {
					return string(bytes.TrimSpace(bytes.TrimLeft(rest, ":"))), true
				}
			}
		}
		from = i + len(ignoreMarker)
	}
}

// valueHit is one place a form of a Key Vault value was found.
type valueHit struct {
	off, end int
	needle   int // the matcher's needle index
	tag      int // which value
}

// find returns where the values are in b: the leak check's matcher says
// which forms are there in one pass; only the forms it found are then
// located. Of the forms of one value that overlap (a base64 core inside
// the padded encoding), the longest is kept.
func (v *Values) find(b []byte) []valueHit {
	if v == nil || v.Len() == 0 {
		return nil
	}
	m := v.Matcher()
	seen := map[int]bool{}
	m.Each(b, func(k int) bool {
		seen[k] = true
		return true
	})
	if len(seen) == 0 {
		return nil
	}
	ns := m.Needles()
	var hits []valueHit
	for k := range seen {
		n := ns[k].B
		for from := 0; ; {
			i := bytes.Index(b[from:], n)
			if i < 0 {
				break
			}
			i += from
			hits = append(hits, valueHit{off: i, end: i + len(n), needle: k, tag: ns[k].Tag})
			from = i + 1
		}
	}
	slices.SortFunc(hits, func(a, b valueHit) int {
		if a.off != b.off {
			return a.off - b.off
		}
		if a.end != b.end {
			return b.end - a.end
		}
		return a.needle - b.needle
	})
	// Sorted by start, a hit lies inside a kept one of the same value
	// exactly when some kept one of that value ends at or after its end.
	out := hits[:0]
	reach := map[int]int{}
	for _, h := range hits {
		if e, ok := reach[h.tag]; ok && e >= h.end {
			continue
		}
		reach[h.tag] = max(reach[h.tag], h.end)
		out = append(out, h)
	}
	return out
}

// binary reports whether b looks like a binary file: a NUL byte in its
// first 8 KiB, as git decides.
func binary(b []byte) bool {
	return bytes.IndexByte(b[:min(len(b), 8<<10)], 0) >= 0
}

// relPath names path relative to root, slash-separated; a path outside
// root keeps its ../ steps.
func relPath(root, path string) string {
	if root == "" {
		return filepath.ToSlash(path)
	}
	r, err := filepath.Rel(root, path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(r)
}
