package composeyaml

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	yaml4 "go.yaml.in/yaml/v4"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func parse(t *testing.T, s string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	assert.NilError(t, yaml.Unmarshal([]byte(s), &n))
	return &n
}

func TestCheckAliasesCycles(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a: &a [*a]\n", "c.yaml:1:8: an alias refers to the anchor that contains it"},
		{"services:\n  web: &w\n    image: x\n    <<: *w\n", "c.yaml:4:9: an alias refers"},
		{"a: &a\n  b:\n    c: [1, {d: *a}]\n", "c.yaml:3:16: an alias refers"},
	} {
		err := CheckAliases("c.yaml", parse(t, tc.in))
		var se *SyntaxError
		assert.Assert(t, errors.As(err, &se), "%q: %v", tc.in, err)
		assert.Check(t, is.ErrorContains(err, tc.want), "%q", tc.in)
	}
	// An alias of an earlier sibling, or of an enclosing node's earlier
	// part, is no cycle.
	for _, ok := range []string{
		"x: &x {a: 1}\ny: {<<: *x, b: 2}\nz: [*x, *x]\n",
		"a: &a {b: &b 1, c: *b}\n",
	} {
		assert.NilError(t, CheckAliases("c.yaml", parse(t, ok)), ok)
	}
}

// bomb is levels anchors each aliasing the previous one width times.
func bomb(levels, width int) string {
	var b strings.Builder
	b.WriteString("x-l0: &l0 [a, b]\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "x-l%d: &l%d [", i, i)
		for j := 0; j < width; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// mapBomb is bomb written with mappings, each level also merging the
// previous one.
func mapBomb(levels, width int) string {
	var b strings.Builder
	b.WriteString("x-l0: &l0 {a: 1, b: 2}\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "x-l%d: &l%d {<<: *l%d", i, i, i-1)
		for j := 0; j < width; j++ {
			fmt.Fprintf(&b, ", k%d: *l%d", j, i-1)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// The bound is compose's decoder's: on shapes around it, the check never
// refuses what yaml v4 accepts, and refuses a billion laughs exactly when
// yaml v4 does. (yaml v4 checks as it goes, so on a mapping bomb it may
// refuse a little more: one over the bound only part of the way through.)
func TestCheckAliasesAgreesWithYAMLv4(t *testing.T) {
	for _, tc := range []struct{ levels, width int }{
		{1, 50}, {2, 10}, {2, 40}, {3, 10}, {4, 4}, {4, 9}, {5, 5}, {6, 6}, {9, 9}, {40, 9},
	} {
		for i, in := range []string{bomb(tc.levels, tc.width), mapBomb(tc.levels, tc.width)} {
			var v any
			v4err := yaml4.Unmarshal([]byte(in), &v)
			err := CheckAliases("c.yaml", parse(t, in))
			if i == 0 {
				assert.Check(t, (err == nil) == (v4err == nil), "%d levels of %d: v4 %v, check %v", tc.levels, tc.width, v4err, err)
			} else {
				assert.Check(t, err == nil || v4err != nil, "%d levels of %d: v4 accepts, check %v\n%s", tc.levels, tc.width, err, in)
			}
			if err != nil {
				assert.Check(t, is.ErrorContains(err, "compose refuses a document with excessive aliasing"))
			}
		}
	}
}

// A bomb of merge keys only is refused without being expanded either.
func TestCheckAliasesMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-l0: &l0 {a: 1}\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&b, "x-l%d: &l%d {<<: [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]}\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	err := CheckAliases("c.yaml", parse(t, b.String()))
	assert.Check(t, is.ErrorContains(err, "merge keys expand to more than 10 million nodes: compose refuses a document with excessive aliasing"))
	var se *SyntaxError
	assert.Assert(t, errors.As(err, &se))
	assert.Check(t, se.Line > 2 && se.Column == 16, "%v", err)
	var v any
	assert.Check(t, yaml4.Unmarshal([]byte(b.String()), &v) != nil)
}

// A file with many aliases, each small, as a large real project has
// (every service merging a common block), passes.
func TestCheckAliasesManyMerges(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-common: &common\n  restart: always\n  logging: {driver: json-file, options: {max-size: 10m}}\n  environment: {A: a, B: b}\nservices:\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "  s%d:\n    <<: *common\n    image: x\n", i)
	}
	assert.NilError(t, CheckAliases("c.yaml", parse(t, b.String())))
}
