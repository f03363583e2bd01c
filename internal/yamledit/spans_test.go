package yamledit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"gotest.tools/v3/assert"
)

// TestSpans checks where this package thinks every node of every test file
// ends: the text of each span, parsed alone, is that node. TestSpansCorpus
// does the same on the corpus.
func TestSpans(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.in.yaml")
	assert.NilError(t, err)
	var files [][]byte
	for _, p := range inputs {
		b, err := os.ReadFile(p)
		assert.NilError(t, err)
		files = append(files, b)
	}
	checked := checkSpansOf(t, files)
	assert.Assert(t, checked > 300, "only %d nodes checked", checked)
}

// checkSpansOf checks the spans of every node of files and returns how
// many it checked.
func checkSpansOf(t *testing.T, files [][]byte) int {
	t.Helper()
	checked := 0
	for _, b := range files {
		d, err := Parse("f.yaml", b)
		assert.NilError(t, err)
		checked += checkSpans(t, d)
	}
	t.Logf("%d node spans checked in %d files", checked, len(files))
	return checked
}

func checkSpans(t *testing.T, d *Doc) int {
	t.Helper()
	s := d.src
	dg := digester{memo: map[*yaml.Node]string{}, visiting: map[*yaml.Node]bool{}}
	checked := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		for _, c := range n.Content {
			walk(c)
		}
		if n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
			return
		}
		sp := s.spans[n]
		text := string(s.b[sp.start:sp.end])
		if strings.Contains(text, "*") && strings.Contains(text, "&") || strings.Contains(text, "<<") || n.Tag == "!reset" || n.Tag == "!override" {
			return // aliases need their anchors; compose tags need compose
		}
		if n.Kind == yaml.ScalarNode && n.Value == "" && n.Style == 0 {
			assert.Equal(t, text, "")
			return
		}
		// A block collection starts at its first key or dash: put it back
		// at its column.
		text = pad(s.column(sp.start)) + text + "\n"
		var doc yaml.Node
		err := yaml.Unmarshal([]byte(text), &doc)
		if err != nil && strings.Contains(err.Error(), "unknown anchor") {
			return
		}
		assert.NilError(t, err, "node at %d:%d: %q", n.Line, n.Column, text)
		want, err := dg.digest(n)
		assert.NilError(t, err)
		got, err := dg.digest(doc.Content[0])
		assert.NilError(t, err)
		assert.Equal(t, got, want, "node at %d:%d: %q", n.Line, n.Column, text)
		// Nothing but blanks, a comment or flow punctuation may follow.
		rest := strings.TrimLeft(string(s.b[sp.end:s.lineEnd(sp.end)]), " \t")
		assert.Assert(t, rest == "" || strings.ContainsRune("#,]}:", rune(rest[0])), "node at %d:%d is followed by %q", n.Line, n.Column, rest)
		checked++
	}
	walk(d.root)
	return checked
}
