package composeyaml

import (
	"errors"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	yaml4 "go.yaml.in/yaml/v4"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// Pairs gives each key the value compose's parser (yaml v4) gives it.
func TestPairsPrecedenceIsYAMLv4s(t *testing.T) {
	for _, in := range []string{
		"a: &a {x: a, y: a}\nc: {<<: *a, x: own}\n",
		"a: &a {x: a}\nb: &b {<<: *a, z: b}\nd: &d {x: d, z: d, w: d}\nc: {<<: [*b, *d]}\n",
		"a: &a {x: a}\nb: &b {x: b, y: b}\nc: {y: own, <<: [*a, *b]}\n",
		"c: {<<: {x: inline, y: inline}, y: own}\n",
		"a: &a {x: a}\nc: {\"<<\": *a, x: own}\n",
	} {
		var want map[string]map[string]any
		assert.NilError(t, yaml4.Unmarshal([]byte(in), &want), in)
		root := parse(t, in).Content[0]
		c, err := Lookup(root, "c")
		assert.NilError(t, err)
		ps, err := Pairs(c.Value)
		assert.NilError(t, err)
		got := map[string]any{}
		for _, p := range ps {
			if Deref(p.Value).Kind == yaml.ScalarNode {
				got[KeyName(p.Key)] = Deref(p.Value).Value
			} else {
				got[KeyName(p.Key)] = want["c"][KeyName(p.Key)] // a mapping value: compared by key only
			}
		}
		assert.Check(t, is.DeepEqual(got, want["c"]), in)
	}
}

func TestPairsVia(t *testing.T) {
	root := parse(t, "a: &a {x: a}\nb: &b {<<: *a}\nc: {<<: *b, y: own}\n").Content[0]
	c, _ := Lookup(root, "c")
	x, err := Lookup(c.Value, "x")
	assert.NilError(t, err)
	a, _ := Lookup(root, "a")
	b, _ := Lookup(root, "b")
	assert.Equal(t, x.Holder, Deref(a.Value))
	assert.DeepEqual(t, len(x.Via), 2)
	assert.Equal(t, x.Via[0], Deref(b.Value))
	y, _ := Lookup(c.Value, "y")
	assert.Equal(t, len(y.Via), 0)
}

// The walker stops on a cycle instead of recursing forever, even on a tree
// CheckAliases did not see.
func TestPairsCycleAndBadMerge(t *testing.T) {
	root := parse(t, "services:\n  web: &w\n    image: x\n    <<: *w\n").Content[0]
	s, _ := Lookup(root, "services")
	_, err := Pairs(Deref(s.Value).Content[1])
	assert.Assert(t, errors.Is(err, ErrRecursive))
	_, err = Pairs(parse(t, "c: {<<: [1]}\n").Content[0].Content[1])
	assert.Assert(t, errors.Is(err, ErrMergeValue))
}
