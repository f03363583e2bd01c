package yamledit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// extentText returns the text an extent covers, its lines joined by "\n".
func extentText(data string, e Extent) string {
	lines := strings.Split(data, "\n")
	out := []string{lines[e.Line-1][e.Col:]}
	out = append(out, lines[e.Line:e.EndLine]...)
	return strings.Join(out, "\n")
}

func TestValuesEnv(t *testing.T) {
	data := "x-pw: &pw anchored\n" +
		"x-common: &common\n" +
		"  SHARED: \"one\n    two\"\n" +
		"services:\n" +
		"  a:\n" +
		"    environment:\n" +
		"      <<: *common\n" +
		"      FOLDED: >-\n        first\n        second\n" +
		"      PLAIN: first\n        second\n" +
		"      EMPTY:\n" +
		"      ALIAS: *pw\n" +
		"  b:\n" +
		"    environment:\n" +
		"      - LIST=value # comment\n" +
		"      - \"QUOTED=value\"\n" +
		"      - BARE\n"
	v, err := ValuesOf([]byte(data), nil)
	assert.NilError(t, err)
	env, err := v.Env()
	assert.NilError(t, err)
	got := map[string]string{}
	for _, e := range env {
		k := e.Service + "." + e.Key
		if !e.HasValue {
			got[k] = "<none>"
			continue
		}
		got[k] = extentText(data, e.Extent)
	}
	assert.Check(t, is.DeepEqual(got, map[string]string{
		"a.SHARED": "\"one\n    two\"",
		"a.FOLDED": ">-\n        first\n        second",
		"a.PLAIN":  "first\n        second",
		"a.EMPTY":  "<none>",
		"a.ALIAS":  "&pw anchored",
		"b.LIST":   "value # comment",
		"b.QUOTED": "value\"",
		"b.BARE":   "<none>",
	}))
}

// Every entry of the test files is located, its extent holding the text
// its value is written as.
func TestValuesEnvTestdata(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.in.yaml")
	assert.NilError(t, err)
	n := 0
	for _, p := range inputs {
		b, err := os.ReadFile(p)
		assert.NilError(t, err)
		v, err := ValuesOf(b, nil)
		if err != nil {
			continue // not a file Parse accepts either
		}
		env, err := v.Env()
		if err != nil {
			continue
		}
		for _, e := range env {
			if !e.HasValue || strings.HasPrefix(e.Key, "\x00") || strings.ContainsAny(e.Value, "\n\t\\\"'") || e.Value == "\x00complex" {
				continue
			}
			// A one-line value that needs no escaping is written as is.
			first := strings.Split(extentText(string(b), e.Extent), "\n")[0]
			if e.Extent.EndLine == e.Extent.Line {
				assert.Check(t, strings.Contains(first, e.Value), "%s: %s.%s: %q", p, e.Service, e.Key, first)
			}
			n++
		}
	}
	assert.Check(t, n > 50, "only %d entries checked", n)
}

func TestValuesServiceAndAt(t *testing.T) {
	data := "services:\n  off:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo hi\"]\n    environment:\n      - A=1\n    healthcheck:\n      test: |\n        check\n        more\n  on:\n    image: busybox\n"
	v, err := ValuesOf([]byte(data), nil)
	assert.NilError(t, err)
	var got []string
	for _, e := range v.Service("off") {
		got = append(got, extentText(data, e))
	}
	assert.Check(t, is.DeepEqual(got, []string{"busybox", `"sh", "-c", "echo hi"]`, `"-c", "echo hi"]`, `"echo hi"]`, "1", "|\n        check\n        more"}))
	e, ok := v.At(8, 13)
	assert.Check(t, ok)
	assert.Check(t, is.DeepEqual(e, Extent{Line: 8, Col: 12, EndLine: 10}))
	// A block mapping and its first key start at one place: the mapping.
	e, ok = v.At(3, 5)
	assert.Check(t, ok)
	assert.Check(t, is.Equal(e.EndLine, 10))
}

func TestEnvStatements(t *testing.T) {
	data := "# comment\nA=1\nexport\tB = two\n      C:\tthree\nD=\"multi\nline\"\nE\nA=again\n"
	stmts, err := EnvStatements([]byte(data))
	assert.NilError(t, err)
	var got []string
	for _, s := range stmts {
		if !s.HasValue {
			got = append(got, s.Key+"@none")
			continue
		}
		got = append(got, s.Key+"="+extentText(data, s.Extent)+"|"+s.Raw)
	}
	assert.Check(t, is.DeepEqual(got, []string{
		"A=1|1",
		"B=two|two",
		"C=three|three",
		"D=\"multi\nline\"|\"multi\nline\"",
		"E@none",
		"A=again|again",
	}))
	assert.Check(t, is.Equal(stmts[3].Line, 5))
	assert.Check(t, is.Equal(stmts[5].Line, 8))
}
