package redact

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// Matcher finds many needles in one pass over the bytes. Every needle is at
// least MinLen (4) bytes long, so each position is tested by its next four
// bytes against a small bitmap of the needles' first four bytes; only the
// rare positions that pass are compared with the needles themselves. The
// cost is one pass whatever the number of needles (a search per needle
// would read the bytes once per form of every value).
type Matcher struct {
	needles []Needle
	maxLen  int
	bits    [1 << (hashBits - 6)]uint64
	// byPrefix lists, by their first four bytes, the needles that start
	// with them, longest first.
	byPrefix map[uint32][]int
	// maskText replaces a match: MaskText, or three of another character
	// when a needle holds '*' (see maskFor).
	maskText []byte
}

const hashBits = 14

func hash4(x uint32) uint32 { return (x * 0x9E3779B1) >> (32 - hashBits) }

// NewMatcher prepares ns for searching. Needles shorter than MinLen are
// ignored.
func NewMatcher(ns []Needle) *Matcher {
	m := &Matcher{byPrefix: map[uint32][]int{}}
	for _, n := range ns {
		if len(n.B) < MinLen {
			continue
		}
		i := len(m.needles)
		m.needles = append(m.needles, n)
		m.maxLen = max(m.maxLen, len(n.B))
		p := binary.LittleEndian.Uint32(n.B)
		h := hash4(p)
		m.bits[h>>6] |= 1 << (h & 63)
		m.byPrefix[p] = append(m.byPrefix[p], i)
	}
	for _, idx := range m.byPrefix {
		slices.SortStableFunc(idx, func(a, b int) int { return len(m.needles[b].B) - len(m.needles[a].B) })
	}
	m.maskText = maskFor(m.needles)
	return m
}

// maskFor picks the mask: three of a character that no needle holds. A
// mask made of a character a value holds could join the text beside it
// into that value ("0x" then a masked value then "*" could read "0x***"
// for a value "0x*"); with a character no needle holds, every occurrence
// of a needle in the output lies in text passed through unchanged, where
// it would have been masked. Key Vault values are text (valid UTF-8), so
// the last resort 0xFF is never in one of theirs.
func maskFor(ns []Needle) []byte {
	var used [256]bool
	for _, n := range ns {
		for _, c := range n.B {
			used[c] = true
		}
	}
	for _, c := range []byte("*#~?%xX\xff") {
		if !used[c] {
			return bytes.Repeat([]byte{c}, 3)
		}
	}
	for c := range 256 {
		if !used[c] {
			return bytes.Repeat([]byte{byte(c)}, 3)
		}
	}
	// Every byte value is in a needle: only a value of 256 bytes or more
	// that is not text can do that.
	return []byte(MaskText)
}

// Needles returns the needles searched for.
func (m *Matcher) Needles() []Needle { return m.needles }

// MaxLen is the length of the longest needle (0 when there is none). A
// stream searched in chunks must carry MaxLen-1 bytes from one chunk to the
// next.
func (m *Matcher) MaxLen() int { return m.maxLen }

// at returns the index of the longest needle found at b[i:] (-1 for none),
// and whether b[i:] is a proper prefix of a needle longer than what is
// left, so that more bytes could still make a (longer) match at i.
func (m *Matcher) at(b []byte, i int) (found int, partial bool) {
	found = -1
	rest := b[i:]
	if len(rest) >= MinLen {
		p := binary.LittleEndian.Uint32(rest)
		h := hash4(p)
		if m.bits[h>>6]&(1<<(h&63)) == 0 {
			return -1, false
		}
		for _, k := range m.byPrefix[p] {
			n := m.needles[k].B
			if len(n) > len(rest) {
				partial = partial || bytes.HasPrefix(n, rest)
				continue
			}
			if found < 0 && bytes.Equal(rest[:len(n)], n) {
				found = k // the longest, as byPrefix is sorted
			}
		}
		return found, partial
	}
	// Fewer bytes left than any needle's prefix: only a partial match.
	for _, n := range m.needles {
		if bytes.HasPrefix(n.B, rest) {
			return -1, true
		}
	}
	return -1, false
}

// Each calls fn with the needle index of every match in b, at every
// position (overlapping matches included), stopping when fn returns false.
// Matches that b holds only the beginning of are not reported.
func (m *Matcher) Each(b []byte, fn func(needle int) bool) {
	if len(m.needles) == 0 {
		return
	}
	last := len(b) - MinLen
	for i := 0; i <= last; i++ {
		p := binary.LittleEndian.Uint32(b[i:])
		h := hash4(p)
		if m.bits[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		for _, k := range m.byPrefix[p] {
			n := m.needles[k].B
			if len(n) <= len(b)-i && bytes.Equal(b[i:i+len(n)], n) {
				if !fn(k) {
					return
				}
			}
		}
	}
}

// Mask replaces every needle in s with the mask (MaskText unless a value
// holds '*'), as a Writer would.
func Mask(s string, ns []Needle) string {
	m := NewMatcher(ns)
	out, _, _ := m.mask(nil, []byte(s), true, nil)
	return string(out)
}

// mask appends to out the bytes of b with every match replaced by the
// mask, scanning from left to right and taking at each position the
// longest needle that matches there. Unless final, it stops at the first
// position where a needle could still match if more bytes came, and
// returns how much of b it consumed; the rest must be kept for the next
// call. hit is called with the needle index of every mask.
func (m *Matcher) mask(out, b []byte, final bool, hit func(int)) ([]byte, int, bool) {
	start := 0
	i := 0
	masked := false
	for i < len(b) {
		k, partial := m.at(b, i)
		if partial && !final {
			break
		}
		if k < 0 {
			i++
			continue
		}
		out = append(out, b[start:i]...)
		out = append(out, m.maskText...)
		if hit != nil {
			hit(k)
		}
		masked = true
		i += len(m.needles[k].B)
		start = i
	}
	out = append(out, b[start:i]...)
	return out, i, masked
}

// MaskText replaces a value in masked output, as CI systems mask secrets,
// unless a value holds '*' (see maskFor).
const MaskText = "***"
