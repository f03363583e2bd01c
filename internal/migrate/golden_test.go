package migrate

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/compose"
)

// goldenCases are whole projects: testdata/NAME/in is the project before,
// testdata/NAME/want every file after Make and Write (compose files, .env,
// env files, secret files, .gitignore), and testdata/NAME/plan.golden the
// findings and files of the plan. `go test ./migrate -update` regenerates
// want/ and plan.golden: read the diff. A project's .gitignore is kept as
// "gitignore" in testdata: as a .gitignore it would hide the golden secret
// files from git.
var goldenCases = []struct {
	name string
	load compose.LoadOptions
	opts Options
}{
	// Comments, quoting, a map and a list environment, an empty flag, a
	// top-level secrets: that exists already.
	{name: "comments"},
	// An anchor shared by two postgres services is rewritten once, in the
	// anchor; one shared with an image that has no file variant is
	// reported for both services and left alone.
	{name: "anchors"},
	// ${VAR} from .env: a .env line goes once nothing uses it and stays
	// while a URL still interpolates it; a pass-through entry takes its
	// value from .env.
	{name: "dotenv"},
	// env_file sources, short and long syntax (a missing optional file),
	// one value in two env files: one secret.
	{name: "env-file"},
	// CRLF compose file, .env and .gitignore stay CRLF.
	{name: "crlf"},
	// --to external: external secrets with their Key Vault names, nothing
	// written but the compose file; grafana reads __FILE.
	{name: "to-external", opts: Options{To: ToExternal}},
	// --to environment: `environment: VAR` secrets, nothing written but
	// the compose file and .env; a variable the project still uses
	// (an entry of another service, a .env line a URL interpolates) or
	// one docker reads gets SECRET_ in front; a read_only service is
	// reported.
	{name: "to-environment", opts: Options{To: ToEnvironment}},
	// One value in three services: one secret all of them list; a
	// .gitignore without a final newline.
	{name: "shared-value"},
	// Images without a file variant and a password inside a URL: reported
	// with the reason, nothing written.
	{name: "no-file-variant"},
	// The project's x-vault file-variables (a path and a secret name) and
	// exclude.
	{name: "x-vault"},
	// One anchored value three entries alias: the anchored one can only
	// be edited once the aliases are gone, so it is edited after them.
	{name: "alias-value"},
	// A secrets: list that comes through an alias: the variable was
	// already rewritten when adding the secret fails, so the finding's
	// edits are undone (all or none) and it is reported.
	{name: "alias-secrets"},
	// Services in an included file: their secrets are declared in that
	// file (compose loads it as a project of its own) with a file: path
	// relative to it; a value shared with the main file is one secret
	// declared in both; an env_file of the included project.
	{name: "include"},
	// Values written over several lines (folded, literal, double-quoted,
	// plain): moved whole, and every line masked in the diff, the
	// reported one's context lines too.
	{name: "multiline"},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyProject(t, tc.name, dir)
			before := readTree(t, dir)
			p, r, plan := makePlanIn(t, dir, tc.load, tc.opts)
			values := secretValues(r)
			assert.Assert(t, len(values) > 0, "the case has no secret")

			after := assertGoldenRun(t, tc.name, dir, p, r, plan)

			// Secret files are the only files that may hold values, and
			// they are private.
			for _, rel := range sortedKeys(after) {
				st, err := os.Stat(filepath.Join(dir, rel))
				assert.NilError(t, err)
				if filepath.Dir(rel) == "secrets" {
					assert.Check(t, is.Equal(st.Mode().Perm(), os.FileMode(0o600)), rel)
					continue
				}
				if _, existed := before[rel]; !existed {
					assertNoValueIn(t, string(after[rel]), values, rel)
				}
			}
			if st, err := os.Stat(filepath.Join(dir, "secrets")); err == nil {
				assert.Check(t, is.Equal(st.Mode().Perm(), os.FileMode(0o700)))
			}

			// A second run changes nothing and migrates nothing.
			_, _, again := makePlanIn(t, dir, tc.load, tc.opts)
			assert.Check(t, !again.Changed(), "second run: %s", itemTable(again, dir))
			assert.Check(t, is.Equal(again.Counts()[Migrated], 0))
			assert.NilError(t, Write(again.Files, WriteOptions{}))
			assert.Check(t, is.DeepEqual(readTree(t, dir), after))
		})
	}
}

// TestGoldenSecretFilesHoldTheValues checks what the golden files cannot
// show by name: every migrated variable's secret file holds exactly the
// value compose gave the variable before.
func TestGoldenSecretFilesHoldTheValues(t *testing.T) {
	for _, tc := range goldenCases {
		if tc.opts.To == ToExternal || tc.opts.To == ToEnvironment {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyProject(t, tc.name, dir)
			p, _, plan := makePlanIn(t, dir, tc.load, tc.opts)
			assert.NilError(t, Write(plan.Files, WriteOptions{}))
			p2, _ := load(t, dir, tc.load)
			for _, it := range plan.Items {
				if it.Action != Migrated {
					continue
				}
				old := p.Compose.Services[it.Service].Environment[it.Variable]
				assert.Assert(t, old != nil, "%s.%s", it.Service, it.Variable)
				env := p2.Compose.Services[it.Service].Environment
				_, still := env[it.Variable]
				assert.Check(t, !still, "%s.%s is still set", it.Service, it.Variable)
				ref := env[it.FileVariable]
				assert.Assert(t, ref != nil, "%s.%s", it.Service, it.FileVariable)
				name := filepath.Base(*ref)
				sec, ok := p2.Compose.Secrets[name]
				assert.Assert(t, ok, "secret %s is not declared", name)
				b, err := os.ReadFile(sec.File)
				assert.NilError(t, err)
				assert.Check(t, string(b) == *old, "%s.%s: the secret file does not hold the value", it.Service, it.Variable)
				listed := false
				for _, s := range p2.Compose.Services[it.Service].Secrets {
					listed = listed || s.Source == name
				}
				assert.Check(t, listed, "%s does not list %s", it.Service, name)
			}
		})
	}
}

// TestBatchedMatchesUnbatched plans every golden case with the edits of
// each file batched (the fast path) and one by one (the fallback): the
// files must be the same.
func TestBatchedMatchesUnbatched(t *testing.T) {
	for _, tc := range goldenCases {
		dir := t.TempDir()
		copyProject(t, tc.name, dir)
		p, r := load(t, dir, tc.load)
		opts := tc.opts
		if opts.To == "" {
			opts.To = ToFile
		}
		opts.SecretsDir = "secrets"
		fast, err := makePlan(p, r, opts, true)
		if errors.Is(err, errBatch) {
			t.Logf("%s: the batch falls back", tc.name)
			continue
		}
		assert.NilError(t, err, tc.name)
		slow, err := makePlan(p, r, opts, false)
		assert.NilError(t, err, tc.name)
		assert.Check(t, is.Equal(itemTable(fast, dir), itemTable(slow, dir)), tc.name)
		for i := range fast.Files {
			assert.Check(t, is.Equal(string(fast.Files[i].New), string(slow.Files[i].New)), "%s: %s", tc.name, fast.Files[i].Path)
		}
	}
}

// copyProject copies testdata/NAME/in into dir, gitignore as .gitignore.
func copyProject(t *testing.T, name, dir string) {
	t.Helper()
	copyTree(t, filepath.Join("testdata", name, "in"), dir)
	if _, err := os.Stat(filepath.Join(dir, "gitignore")); err == nil {
		assert.NilError(t, os.Rename(filepath.Join(dir, "gitignore"), filepath.Join(dir, ".gitignore")))
	}
}

// testdataName is the name a project file is kept under in testdata.
func testdataName(rel string) string {
	if rel == ".gitignore" {
		return "gitignore"
	}
	return rel
}
