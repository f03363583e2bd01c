package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func forms(ns []Needle) map[string][]string {
	out := map[string][]string{}
	for _, n := range ns {
		out[n.Encoding] = append(out[n.Encoding], string(n.B))
	}
	return out
}

func TestNeedles(t *testing.T) {
	assert.Check(t, is.Len(Needles(0, []byte("abc")), 0), "a value under MinLen is not searched")

	got := forms(Needles(7, []byte("a<&>\"é")))
	assert.DeepEqual(t, got["raw"], []string{"a<&>\"é"})
	assert.DeepEqual(t, got["hex"], []string{"613c263e22c3a9", "613C263E22C3A9"})
	assert.DeepEqual(t, got["JSON-escaped"], []string{
		`a\u003c\u0026\u003e\"é`,      // Go's encoding/json
		`a<&>\"é`,                     // without HTML escaping
		`a\u003c\u0026\u003e\"\u00e9`, // ASCII only
		`a<&>\"\u00e9`,
	})
	for _, n := range Needles(7, []byte("a<&>\"é")) {
		assert.Check(t, is.Equal(n.Tag, 7))
	}
	// A value whose escapes are itself gives no JSON form.
	assert.Check(t, is.Len(forms(Needles(0, []byte("plain-value")))["JSON-escaped"], 0))
	// Emoji: a surrogate pair.
	assert.Check(t, is.Contains(forms(Needles(0, []byte("x-😀-y")))["JSON-escaped"], `x-\ud83d\ude00-y`))
}

// Every form of a value is found wherever it sits in a larger blob that is
// then encoded: at any offset, in either base64 alphabet, padded or not.
func TestNeedlesFindEncodedValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		v := randBytes(rng, MinLen+i%29)
		if i%2 == 0 {
			v = []byte(randText(rng, MinLen+i%29))
		}
		pre, post := randBytes(rng, i%5), randBytes(rng, i%4)
		blob := append(append(append([]byte{}, pre...), v...), post...)
		m := NewMatcher(Needles(0, v))
		encoded := []string{
			string(blob),
			hex.EncodeToString(blob),
			strings.ToUpper(hex.EncodeToString(blob)),
			base64.StdEncoding.EncodeToString(blob),
			base64.URLEncoding.EncodeToString(blob),
			base64.RawStdEncoding.EncodeToString(blob),
		}
		// JSON escapes text: a value is found in a JSON string when both
		// are valid UTF-8 (a stray byte beside it could join its first
		// character otherwise).
		if utf8.Valid(v) && utf8.Valid(blob) {
			jsonBlob, _ := json.Marshal(string(blob))
			encoded = append(encoded, string(jsonBlob))
		}
		for _, form := range encoded {
			hit := false
			m.Each([]byte(form), func(int) bool { hit = true; return false })
			assert.Assert(t, hit, "value of %d bytes at offset %d not found in %q", len(v), len(pre), form)
		}
	}
}

// randText is random text with the characters JSON escapes.
func randText(rng *rand.Rand, n int) string {
	alphabet := []rune("aZ09<&>\"'\\$\n\t é😀\u2028")
	var b strings.Builder
	for range n {
		b.WriteRune(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

func TestWriterMasks(t *testing.T) {
	ns := append(Needles(0, []byte("s3cret-value")), Needles(1, []byte("other<&>"))...)
	var out bytes.Buffer
	w := NewWriter(&out, ns)
	for _, chunk := range []string{"#6 0.12 s3cr", "et-value\n", "#6 0.13 ", hex.EncodeToString([]byte("s3cret-value")),
		"\n#7 ENV X=other\\u003c\\u0026\\u003e\n", "tail s3c"} {
		_, err := w.Write([]byte(chunk))
		assert.NilError(t, err)
	}
	// Held back: what could still be the beginning of a value, only.
	assert.Check(t, is.Equal(out.String(), "#6 0.12 ***\n#6 0.13 ***\n#7 ENV X=***\ntail "))
	assert.NilError(t, w.Close())
	assert.Check(t, is.Equal(out.String(), "#6 0.12 ***\n#6 0.13 ***\n#7 ENV X=***\ntail s3c"))
	assert.DeepEqual(t, w.Hits(), map[int]int{0: 2, 1: 1})

	assert.Check(t, is.Equal(Mask("dir/s3cret-value/x", ns), "dir/***/x"))
}

// Output without values passes through at once, write by write.
func TestWriterPassesThrough(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, Needles(0, []byte("zzzz-value")))
	for _, line := range []string{"#1 building\n", "#2 built", " zz", "y\n"} {
		before := out.Len()
		_, err := w.Write([]byte(line))
		assert.NilError(t, err)
		if line == " zz" {
			assert.Check(t, is.Equal(out.String()[before:], " "), "only the possible beginning of a value is held")
			continue
		}
		assert.Check(t, strings.HasSuffix(out.String(), line[max(0, len(line)-1):]))
	}
	assert.NilError(t, w.Close())
	assert.Check(t, is.Equal(out.String(), "#1 building\n#2 built zzy\n"))
}

// FuzzWriter puts random values through random text split into random
// writes: the output never holds a value, does not depend on the split,
// and text without values comes through unchanged.
func FuzzWriter(f *testing.F) {
	f.Add(uint64(1), []byte("tok-123"), []byte("abc tok-123 def\nline"), uint8(3))
	f.Add(uint64(2), []byte("aaaa"), []byte("aaaaaaaaa"), uint8(1))
	f.Add(uint64(3), []byte("<&>\"'$\\x"), []byte("x \\u003c\\u0026 y"), uint8(2))
	f.Fuzz(func(t *testing.T, seed uint64, value, text []byte, splits uint8) {
		if len(value) < MinLen || len(value) > 200 || len(text) > 4096 {
			return
		}
		rng := rand.New(rand.NewPCG(seed, uint64(len(text))))
		ns := Needles(0, value)
		// A second, related value, so needles overlap.
		other := append(bytes.Clone(value[:len(value)/2]), randBytes(rng, MinLen)...)
		ns = append(ns, Needles(1, other)...)

		clean := bytes.Clone(text)
		// Values planted in the text in random forms.
		var in []byte
		for i := range 1 + int(splits%4) {
			cut := rng.IntN(len(text) + 1)
			in = append(in, text[:cut]...)
			in = append(in, ns[rng.IntN(len(ns))].B...)
			text = text[cut:]
			if i%2 == 1 {
				in = append(in, '\n')
			}
		}
		in = append(in, text...)

		whole := maskAll(t, ns, [][]byte{in})
		split := maskAll(t, ns, randomSplit(rng, in, int(splits)))
		assert.Check(t, bytes.Equal(whole, split), "output depends on the write split")
		for _, n := range ns {
			assert.Check(t, !bytes.Contains(split, n.B), "output holds a %s form of value %d", n.Encoding, n.Tag)
		}

		// Text without values is unchanged.
		for _, n := range ns {
			if bytes.Contains(clean, n.B) {
				return
			}
		}
		assert.Check(t, bytes.Equal(maskAll(t, ns, randomSplit(rng, clean, int(splits))), clean))
	})
}

func maskAll(t *testing.T, ns []Needle, writes [][]byte) []byte {
	var out bytes.Buffer
	w := NewWriter(&out, ns)
	for _, p := range writes {
		n, err := w.Write(p)
		assert.NilError(t, err)
		assert.Equal(t, n, len(p))
		assert.Check(t, len(w.held) < w.m.MaxLen(), "held %d bytes, more than the longest needle less one", len(w.held))
	}
	assert.NilError(t, w.Close())
	return out.Bytes()
}

func randomSplit(rng *rand.Rand, b []byte, n int) [][]byte {
	var out [][]byte
	for range n {
		if len(b) == 0 {
			break
		}
		cut := rng.IntN(len(b) + 1)
		out = append(out, b[:cut])
		b = b[cut:]
	}
	return append(out, b)
}

func TestMatcherEach(t *testing.T) {
	ns := append(Needles(0, []byte("abcdef")), Needles(1, []byte("cdefgh"))...)
	m := NewMatcher(ns)
	var tags []int
	m.Each([]byte("xxabcdefghxx"), func(k int) bool { tags = append(tags, m.Needles()[k].Tag); return true })
	assert.DeepEqual(t, tags, []int{0, 1})
	assert.Check(t, is.Equal(m.MaxLen(), len("616263646566")), "the hex form is the longest")
}

// BenchmarkMatcher searches random bytes (no early match, the leak check's
// worst case) for six values with all their forms: current and previous
// versions of one secret.
func BenchmarkMatcher(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	var ns []Needle
	for i := range 6 {
		ns = append(ns, Needles(i, []byte(randText(rng, 24)))...)
	}
	m := NewMatcher(ns)
	data := randBytes(rng, 16<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m.Each(data, func(int) bool { return true })
	}
}
