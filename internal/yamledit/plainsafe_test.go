package yamledit

import (
	"testing"

	"go.yaml.in/yaml/v3"
	yamlv4 "go.yaml.in/yaml/v4"
)

// TestPlainSafeFastPath checks the shortcut against both parsers on
// strings built from the characters plainSafe allows.
func TestPlainSafeFastPath(t *testing.T) {
	alphabet := []string{"a", "e", "x", "N", "Y", "1", "0", "_", "/", ".", "-", "+", "=", "@", "i", "n", "f"}
	var gen func(s string, depth int)
	n := 0
	gen = func(s string, depth int) {
		if s != "" && plainSafe(s, false) {
			n++
			assertReadsString(t, s)
		}
		if depth == 0 {
			return
		}
		for _, c := range alphabet {
			gen(s+c, depth-1)
		}
	}
	gen("", 4)
	if n < 1000 {
		t.Fatalf("only %d strings", n)
	}
}

// TestPlainSafeWords checks the letters-only shortcut on the words YAML
// versions read as booleans, nulls or numbers, in every case.
func TestPlainSafeWords(t *testing.T) {
	words := []string{"y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf", "file", "external", "name", "Null", "NULL", "True", "TRUE", "Yes", "YES", "On", "OFF", "NaN", "Inf", "tilde", "nulls", "truee"}
	for _, s := range words {
		if plainSafe(s, false) {
			assertReadsString(t, s)
		}
	}
	for _, s := range []string{"file", "external", "name"} {
		if !plainSafe(s, false) {
			t.Errorf("%q is quoted", s)
		}
	}
}

// assertReadsString checks that both parsers read s, written plain, as the
// string s.
func assertReadsString(t *testing.T, s string) {
	t.Helper()
	var n3 yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n3); err != nil || n3.Content[0].ShortTag() != "!!str" || n3.Content[0].Value != s {
		t.Errorf("%q: yaml.v3 does not read a string", s)
	}
	var n4 yamlv4.Node
	if err := yamlv4.Load([]byte(s), &n4); err != nil || n4.Content[0].ShortTag() != "!!str" || n4.Content[0].Value != s {
		t.Errorf("%q: yaml v4 does not read a string", s)
	}
}
