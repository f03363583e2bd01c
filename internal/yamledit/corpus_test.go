//go:build corpus

package yamledit

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/internal/corpus"

	"github.com/pmezard/go-difflib/difflib"
	"gotest.tools/v3/assert"
)

// corpusFiles returns the compose files of the corpus: project folder and
// path inside it.
func corpusFiles(t *testing.T) [][2]string {
	t.Helper()
	root := corpus.Dir(t)
	var out [][2]string
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		project, inside, _ := strings.Cut(rel, string(filepath.Separator))
		out = append(out, [2]string{filepath.Join(root, project), inside})
		return nil
	})
	assert.NilError(t, err)
	assert.Assert(t, len(out) >= 35, "corpus looks incomplete: %d compose files", len(out))
	return out
}

// copyDir copies a project so an edited file can be loaded in place.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	assert.NilError(t, err)
	return to
}

var nonName = regexp.MustCompile(`[^a-z0-9_-]+`)

// TestCorpus migrates every environment entry of every service of every
// corpus compose file, one at a time: ReplaceEnv to KEY_FILE, then
// AddServiceSecret and AddTopLevelSecret. Each result must load with
// compose-go as the original did, with nothing else changed, and its diff
// must only touch the entry's lines (other lines are only inserted).
func TestCorpus(t *testing.T) {
	entries, loading := 0, 0
	for _, f := range corpusFiles(t) {
		project, file := f[0], f[1]
		t.Run(filepath.Base(project)+"/"+file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(project, file))
			assert.NilError(t, err)
			d, err := Parse(file, in)
			assert.NilError(t, err)
			svcs := d.Node("services")
			if svcs == nil {
				return
			}
			dir := copyDir(t, project)
			if _, err := loadModel(t, dir, file, false); err == nil {
				loading++
			}
			for i := 0; i < len(svcs.Content); i += 2 {
				service := svcs.Content[i].Value
				for _, ent := range d.EnvEntries(service) {
					entries++
					migrateOne(t, dir, file, in, service, ent)
				}
			}
		})
	}
	t.Logf("%d environment entries migrated; %d corpus files load on their own", entries, loading)
	assert.Assert(t, entries > 150, "only %d environment entries found", entries)
	// A few corpus files are invalid on their own on purpose (a missing
	// env_file, a null service, an included file): for those the edit
	// must leave compose's error as it was.
	assert.Assert(t, loading >= 34, "only %d corpus files load on their own", loading)
}

func migrateOne(t *testing.T, dir, file string, in []byte, service string, ent EnvEntry) {
	t.Helper()
	name := nonName.ReplaceAllString(strings.ToLower(ent.Key), "_")
	d, err := Parse(file, in)
	assert.NilError(t, err)
	lines := entryLines(t, d, service, ent.Key)
	ops := []op{
		replaceOp(service, ent.Key, ent.Key+"_FILE", "/run/secrets/"+name),
		secretOp(service, name),
		topOp(name, [2]string{"file", "./secrets/" + name}),
	}
	e := run(t, d, ops)
	out, err := d.Bytes()
	assert.NilError(t, err)
	reparse(t, out)
	checkCompose(t, dir, file, in, out, e)
	checkDiff(t, in, out, lines, name)
	checkLineEndings(t, in, out)
}

// entryLines returns the 1-based lines an entry is written on.
func entryLines(t *testing.T, d *Doc, service, key string) []int {
	t.Helper()
	se, err := d.serviceEnv(service)
	assert.NilError(t, err)
	var out []int
	for _, o := range se.entries {
		if o.key != key {
			continue
		}
		first, last := d.src.spans[o.val], d.src.spans[o.val]
		if o.form == MapForm {
			first, last = d.src.spans[o.keyNode], d.src.spans[o.slot]
		}
		for l := d.src.line(first.start); l <= d.src.line(last.end); l++ {
			out = append(out, l+1)
		}
	}
	assert.Assert(t, len(out) > 0)
	return out
}

// checkDiff checks that only the allowed lines of in changed, and that the
// inserted lines are the secret's.
func checkDiff(t *testing.T, in, out []byte, allowed []int, name string) {
	t.Helper()
	a := difflib.SplitLines(string(in))
	b := difflib.SplitLines(string(out))
	m := difflib.NewMatcher(a, b)
	inserted := []string{"", "secrets:", "- " + name, name + ":", "file: ./secrets/" + name}
	for _, oc := range m.GetOpCodes() {
		switch oc.Tag {
		case 'e':
			continue
		case 'r', 'd':
			for l := oc.I1; l < oc.I2; l++ {
				assert.Assert(t, slices.Contains(allowed, l+1), "line %d changed: %q", l+1, a[l])
			}
		}
		if oc.Tag == 'i' || oc.Tag == 'r' {
			for _, l := range b[oc.J1:oc.J2] {
				if strings.Contains(l, "_FILE") {
					continue // the replaced entry
				}
				assert.Assert(t, slices.Contains(inserted, strings.TrimSpace(l)), "unexpected line %q", l)
			}
		}
	}
}

// TestEnvFileCorpus removes every key of every env file of the corpus.
func TestEnvFileCorpus(t *testing.T) {
	var files []string
	err := filepath.WalkDir(corpus.Dir(t), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (d.Name() == ".env" || strings.HasSuffix(d.Name(), ".env")) {
			files = append(files, path)
		}
		return err
	})
	assert.NilError(t, err)
	assert.Assert(t, len(files) >= 9)
	removed := 0
	for _, f := range files {
		in, err := os.ReadFile(f)
		assert.NilError(t, err)
		e, err := ParseEnvFile(f, in)
		assert.NilError(t, err)
		for _, k := range e.Keys() {
			e, err := ParseEnvFile(f, in)
			assert.NilError(t, err)
			assert.Assert(t, e.Remove(k))
			checkEnvRemoval(t, in, e.Bytes(), k)
			removed++
		}
	}
	assert.Assert(t, removed >= 20, "only %d keys removed", removed)
}

// TestSpansCorpus is TestSpans on every corpus compose file.
func TestSpansCorpus(t *testing.T) {
	var files [][]byte
	for _, f := range corpusFiles(t) {
		b, err := os.ReadFile(filepath.Join(f[0], f[1]))
		assert.NilError(t, err)
		files = append(files, b)
	}
	checked := checkSpansOf(t, files)
	assert.Assert(t, checked > 2100, "only %d nodes checked", checked)
}
