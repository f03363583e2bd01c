// Package redact finds and masks secret values in bytes: in a stream of
// output passed through from a child process (Writer), in a string (Mask),
// and, for the leak check, anywhere in a large blob (Matcher).
//
// A value is looked for in every form it commonly takes when a program
// copies it: raw, hex, base64, JSON-escaped and URL-encoded (see Needles). Transformations
// beyond those (compression, a split, reversal, wrapped encodings) are not
// looked for, and callers must not claim they are.
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"unicode/utf8"
)

// MinLen is the shortest value that is searched and masked. Shorter ones
// occur by chance in any output or image: masking them would garble the
// output, and finding them would prove nothing.
const MinLen = 4

// Encodings lists the forms Needles produces, in the order a message names
// them.
var Encodings = []string{"raw", "hex", "base64", "JSON-escaped", "URL-encoded"}

// Needle is one form of one value.
type Needle struct {
	Tag      int    // the caller's: which value this is a form of
	Encoding string // one of Encodings
	B        []byte
}

// Needles returns the forms of value, tagged tag: raw; hex in lower and
// upper case; base64 in the standard and URL alphabets, of the value on
// its own and at each of the three alignments a value can have inside a
// larger encoded blob; and the
// JSON string escapes a config or history holds it in (Go's, which escape
// <, > and & as \u003c, \u003e, \u0026, the same without those, and with
// every non-ASCII character escaped as well); and the URL encodings of a
// query value and of a path segment (url.QueryEscape, url.PathEscape), in
// upper-case hex as Go and most libraries write them and in lower case. Forms equal to another are
// given once. A value shorter than MinLen gives none.
//
// The needles hold copies of the value in readable forms: Clear them when
// done.
func Needles(tag int, value []byte) []Needle {
	if len(value) < MinLen {
		return nil
	}
	var out []Needle
	add := func(enc string, b []byte) {
		if len(b) < MinLen || slices.ContainsFunc(out, func(n Needle) bool { return bytes.Equal(n.B, b) }) {
			clear(b)
			return
		}
		out = append(out, Needle{Tag: tag, Encoding: enc, B: b})
	}
	add("raw", bytes.Clone(value))
	h := make([]byte, hex.EncodedLen(len(value)))
	hex.Encode(h, value)
	add("hex", h)
	add("hex", bytes.ToUpper(h))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		// The value encoded on its own (`base64 FILE`), padded: longer
		// than its core, so a mask takes the end characters too.
		whole := make([]byte, enc.EncodedLen(len(value)))
		enc.Encode(whole, value)
		add("base64", whole)
		for k := range 3 {
			add("base64", base64Core(enc, value, k))
		}
	}
	for _, j := range jsonForms(value) {
		add("JSON-escaped", j)
	}
	for _, u := range []string{url.QueryEscape(string(value)), url.PathEscape(string(value))} {
		add("URL-encoded", []byte(u))
		add("URL-encoded", lowerEscapes([]byte(u)))
	}
	return out
}

// base64Core is the part of the base64 encoding of value, placed k bytes
// (mod 3) into a larger blob, that depends on value alone: the characters
// whose six bits all fall inside it. The characters at either end that mix
// in the neighbouring bytes (or padding) are left out, so the result is a
// substring of the encoding of any blob holding value at that alignment.
func base64Core(enc *base64.Encoding, value []byte, k int) []byte {
	buf := make([]byte, k+len(value))
	copy(buf[k:], value)
	e := make([]byte, enc.EncodedLen(len(buf)))
	enc.Encode(e, buf)
	clear(buf)
	start := (8*k + 5) / 6          // first character wholly inside the value
	end := 8 * (k + len(value)) / 6 // one past the last
	core := bytes.Clone(e[start:end])
	clear(e)
	return core
}

// jsonForms are the JSON string escapes of value (without the quotes)
// that differ from it.
func jsonForms(value []byte) [][]byte {
	s := string(value)
	html, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	var plainBuf bytes.Buffer
	e := json.NewEncoder(&plainBuf)
	e.SetEscapeHTML(false)
	if err := e.Encode(s); err != nil {
		return nil
	}
	plain := bytes.TrimSuffix(plainBuf.Bytes(), []byte("\n"))
	forms := [][]byte{unquote(html), unquote(plain)}
	for _, f := range [][]byte{forms[0], forms[1]} {
		forms = append(forms, asciiOnly(f))
	}
	return forms
}

func unquote(b []byte) []byte { return bytes.Clone(b[1 : len(b)-1]) }

// asciiOnly escapes every non-ASCII character of an escaped JSON string as
// \uXXXX (a surrogate pair above U+FFFF), as encoders that keep their output
// ASCII do.
func asciiOnly(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r < utf8.RuneSelf:
			out = append(out, b[0])
		case r > 0xFFFF:
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		b = b[size:]
	}
	return out
}

// Clear zeroes the bytes of every needle.
func Clear(ns []Needle) {
	for _, n := range ns {
		clear(n.B)
	}
}

// lowerEscapes writes the hex digits of every %XX escape in lower case
// (%2f for %2F), as some encoders do.
func lowerEscapes(b []byte) []byte {
	out := bytes.Clone(b)
	for i := 0; i+2 < len(out); i++ {
		if out[i] == '%' {
			out[i+1] = lowerHex(out[i+1])
			out[i+2] = lowerHex(out[i+2])
			i += 2
		}
	}
	return out
}

func lowerHex(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}
