package scan

import (
	"encoding/json"
	"fmt"

	"github.com/docker-vault/docker-vault/internal/redact"
	"github.com/docker-vault/docker-vault/internal/safefmt"
)

// Value is the current value of one Key Vault secret, to be looked for.
type Value struct {
	Name    string // the Key Vault secret's name
	Version string
	Value   []byte
}

func (v Value) String() string                { return v.Name + " (version " + v.Version + ")" }
func (v Value) GoString() string              { return "scan.Value{" + v.String() + "}" }
func (v Value) Format(f fmt.State, verb rune) { safefmt.Format(f, verb, v) }

// MarshalJSON leaves the value out.
func (v Value) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
	}{v.Name, v.Version})
}

// Values looks for every form of every value (redact.Needles: raw, hex,
// base64, JSON-escaped, URL-encoded) in one pass over the bytes, with the
// leak check's matcher. It holds copies of the values: Close it when done.
type Values struct {
	names   []string
	needles []redact.Needle
	m       *redact.Matcher
	// Short names the values too short to be searched (redact.MinLen).
	Short []string
}

// NewValues prepares vs for searching.
func NewValues(vs []Value) *Values {
	v := &Values{}
	for i, x := range vs {
		v.names = append(v.names, x.Name)
		if len(x.Value) > 0 && len(x.Value) < redact.MinLen {
			v.Short = append(v.Short, x.Name)
		}
		v.needles = append(v.needles, redact.Needles(i, x.Value)...)
	}
	v.m = redact.NewMatcher(v.needles)
	return v
}

// Matcher is the matcher of every form of every value.
func (v *Values) Matcher() *redact.Matcher { return v.m }

// Hit names the secret and the form of the matcher's needle k.
func (v *Values) Hit(k int) (secret, encoding string) {
	n := v.m.Needles()[k]
	return v.names[n.Tag], n.Encoding
}

// Len is the number of values searched for.
func (v *Values) Len() int { return len(v.names) }

// Mask replaces every value in s, for names of files that hold one.
func (v *Values) Mask(s string) string { return redact.Mask(s, v.needles) }

// Close zeroes the copies of the values.
func (v *Values) Close() {
	if v != nil {
		redact.Clear(v.needles)
	}
}
