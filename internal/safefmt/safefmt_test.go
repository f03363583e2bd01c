package safefmt

import (
	"fmt"
	"testing"

	"gotest.tools/v3/assert"
)

type holder struct {
	Name  string
	Value []byte
}

func (h holder) String() string                { return "holder " + h.Name }
func (h holder) GoString() string              { return "holder{" + h.Name + "}" }
func (h holder) Format(f fmt.State, verb rune) { Format(f, verb, h) }

func TestFormat(t *testing.T) {
	h := holder{Name: "n", Value: []byte("SENTINEL")}
	for verb, want := range map[string]string{
		"%v": "holder n", "%+v": "holder n", "%s": "holder n", "%d": "holder n", "%x": "holder n",
		"%#v": "holder{n}", "%q": `"holder n"`,
	} {
		assert.Equal(t, fmt.Sprintf(verb, h), want, verb)
		assert.Equal(t, fmt.Sprintf(verb, &h), want, verb)
	}
	assert.Equal(t, fmt.Sprintf("%v", []holder{h}), "[holder n]")
}
