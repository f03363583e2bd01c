//go:build corpus

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

// shared returns ../shared/sub beside the repository, failing the test with
// what to do when it is missing.
func shared(t testing.TB, sub, want string) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	dir, err := filepath.Abs(filepath.Join(root, "..", "shared", sub))
	assert.NilError(t, err)
	if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
		t.Fatalf("%s is missing: the corpus tests need the shared folder (corpus, keyvault-recordings) beside the repository; "+
			"without it run `make test`, which needs none (%v)", filepath.Join(dir, want), err)
	}
	return dir
}

// Dir is shared/corpus beside the repository (CI puts shared/ there).
func Dir(t testing.TB) string {
	t.Helper()
	return shared(t, "corpus", "expected.tsv")
}

// Recordings is shared/keyvault-recordings beside the repository: the real
// service's answers, one JSON file per recorded test.
func Recordings(t testing.TB) string {
	t.Helper()
	return shared(t, "keyvault-recordings", ".")
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

// Load is one way a corpus project is loaded.
type Load struct {
	// Files are the -f files; nil for default discovery.
	Files []string
	// NoConsistency loads it as `docker compose config --no-consistency`
	// would, because docker compose rejects it as written.
	NoConsistency bool
	// Err is the error expected instead, where docker compose itself
	// cannot load it.
	Err string
}

// loads says how a project is loaded when default discovery is not how its
// files are meant to be used (several top-level files), when docker compose
// rejects it as written, or cannot load it at all.
var loads = map[string][]Load{
	// The yourls example uses a volume (db) it never declares.
	"22-dl-yourls": {{NoConsistency: true}},
	// compose-go's full-example fixture sets both network_mode and
	// networks (compose-go's own tests load it without the check).
	"29-cg-full-example":    {{Files: []string{"full-example.yml"}, NoConsistency: true}},
	"30-cg-include-extends": {{Files: []string{"compose-include.yaml"}}, {Files: []string{"compose-test-extends.yaml"}}},
	"31-cg-extends-reset": {
		{Files: []string{"reset.yaml"}},
		// base.yaml declares a null service (nil:), which compose-go (and
		// so docker compose) refuses; the tool must fail cleanly.
		{Files: []string{"base.yaml"}, Err: "services.nil must be a mapping"},
	},
	// The .env names COMPOSE_FILE=compose-with-env-file.yaml for discovery.
	"32-cg-env-files": {{}, {Files: []string{"compose-with-env-files.yaml"}}},
	// serviceB's env_file is /doesnotexist/.env, required: docker compose
	// config fails the same way. The tool must fail cleanly, not crash.
	"33-dc-env-file-missing": {{Err: "/doesnotexist/.env"}},
}

// Loads are the ways the project in folder name is loaded: discovery alone
// unless loads says otherwise.
func Loads(name string) []Load {
	if l, ok := loads[name]; ok {
		return l
	}
	return []Load{{}}
}
