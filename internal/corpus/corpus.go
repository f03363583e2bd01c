// Package corpus reads the real compose projects in ../shared/corpus and
// the human judgment of every variable in its expected.tsv, for the tests
// of the packages that detect and migrate secrets.
package corpus

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"gotest.tools/v3/assert"
)

// Dir is shared/corpus beside the repository (CI puts shared/ there). A
// missing corpus fails the test: it is never skipped.
func Dir(t testing.TB) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	dir, err := filepath.Abs(filepath.Join(root, "..", "shared", "corpus"))
	assert.NilError(t, err)
	_, err = os.Stat(filepath.Join(dir, "expected.tsv"))
	assert.NilError(t, err, "the corpus is expected in shared/corpus beside the repository")
	return dir
}

// Row is one judged variable of expected.tsv.
type Row struct {
	ID, File, Service, Variable string
	// Secret is yes, no, ambiguous or file-ref.
	Secret string
	// Source says where the value comes from (literal, interpolated...).
	Source string
	// FileSupport is the image's file-based variable, where one exists.
	FileSupport string
	// Line is the row's line in expected.tsv.
	Line int
}

func (r Row) String() string {
	return fmt.Sprintf("expected.tsv:%d %s %s %s %s", r.Line, r.ID, r.Service, r.Variable, r.Secret)
}

// Expected reads every row of dir/expected.tsv.
func Expected(t testing.TB, dir string) []Row {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "expected.tsv"))
	assert.NilError(t, err)
	defer f.Close()
	rd := csv.NewReader(f)
	rd.Comma = '\t'
	rd.LazyQuotes = true
	rd.FieldsPerRecord = -1
	recs, err := rd.ReadAll()
	assert.NilError(t, err)
	var rows []Row
	for i, r := range recs[1:] {
		assert.Assert(t, len(r) >= 8, "expected.tsv:%d has %d fields", i+2, len(r))
		rows = append(rows, Row{ID: r[0], File: r[1], Service: r[2], Variable: r[3], Secret: r[4], Source: r[5], FileSupport: r[7], Line: i + 2})
	}
	return rows
}
