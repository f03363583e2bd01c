package composeyaml

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	"gotest.tools/v3/assert"
)

// render lists entries one a line: form, key, value (or "unset"), then the
// flags the callers derive theirs from.
func render(ents []EnvEntry) string {
	var b strings.Builder
	for _, e := range ents {
		form := "map"
		if e.Form == EnvList {
			form = "list"
		}
		val := "unset"
		if e.HasValue {
			val = "=" + e.Text
		}
		fmt.Fprintf(&b, "%s %s%s", form, e.Key, val)
		if e.Null {
			b.WriteString(" null")
		}
		if e.Merged() {
			fmt.Fprintf(&b, " merged(%d)", len(e.Via))
		}
		if e.Aliased() {
			b.WriteString(" aliased")
		}
		if (e.Form == EnvMap) != (e.KeyNode != nil) {
			b.WriteString(" BADKEYNODE")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestEnvEntries(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"map", "A: 1\nB: x=y\nC: \"\"\n", "map A=1\nmap B=x=y\nmap C=\n"},
		{"map null", "A:\nB: ~\nC: null\nD: !!null ''\n", "map Aunset null\nmap Bunset null\nmap Cunset null\nmap Dunset null\n"},
		{"map complex", "A: {x: 1}\n", "map A=\n"},
		{"list", "- A=1\n- B\n- C=\n- D=x=y\n", "list A=1\nlist Bunset\nlist C=\nlist D=x=y\n"},
		{"list null and complex", "- ~\n- null=x\n- [a]\n- {b: 1}\n- E\n", "list ~unset null\nlist null=x\nlist Eunset\n"},
		{"merge key", "x: &x {A: base, B: base}\ne: {<<: *x, A: own}\n", "map A=own\nmap B=base merged(1)\n"},
		{"merge list", "x: &x {A: 1}\ny: &y {<<: *x, B: 2}\ne: {<<: [*y]}\n", "map B=2 merged(1)\nmap A=1 merged(2)\n"},
		{"alias value", "x: &pw secret\ne: {A: *pw, B: plain}\n", "map A=secret aliased\nmap B=plain\n"},
		{"alias item", "x: &it A=1\ne: [*it, B]\n", "list A=1 aliased\nlist Bunset\n"},
		{"alias env", "x: &env [A=1]\ne: *env\n", "list A=1\n"},
		{"reset", "e: !reset {A: 1}\n", "map A=1\n"},
		{"reset list", "e: !reset [A=1]\n", "list A=1\n"},
		{"reset null", "e: !reset null\n", ""},
		{"scalar", "e: text\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := parse(t, tc.in).Content[0]
			env := root
			if p, err := Lookup(root, "e"); err == nil && p != nil {
				env = p.Value
			}
			ents, err := EnvEntries(env)
			assert.NilError(t, err)
			assert.Equal(t, render(ents), tc.want)
		})
	}
}

// An entry whose alias cannot be followed is returned with a nil Value; a
// merge key naming no mapping is an error, with the entries found so far.
func TestEnvEntriesBroken(t *testing.T) {
	loop := &yaml.Node{Kind: yaml.AliasNode}
	loop.Alias = loop
	seq := &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{loop, {Kind: yaml.ScalarNode, Value: "A=1", Tag: "!!str"}}}
	ents, err := EnvEntries(seq)
	assert.NilError(t, err)
	assert.Equal(t, len(ents), 2)
	assert.Assert(t, ents[0].Value == nil)
	assert.Equal(t, ents[1].Key, "A")

	_, err = EnvEntries(loop)
	assert.Assert(t, errors.Is(err, ErrRecursive))

	m := parse(t, "e: {A: 1, <<: text}\n").Content[0].Content[1]
	ents, err = EnvEntries(m)
	assert.Assert(t, errors.Is(err, ErrMergeValue))
	assert.Equal(t, render(ents), "map A=1\n")
}
