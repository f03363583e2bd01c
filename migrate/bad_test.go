package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/compose"
)

const badProject = `services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: Bad-Input-Pw-301
      POSTGRES_USER: app
  cache:
    image: mariadb:11
    environment:
      MARIADB_ROOT_PASSWORD: ${ROOT_PW}
`

const badDotEnv = "ROOT_PW=Bad-Input-Root-302\n"

var badValues = []string{"Bad-Input-Pw-301", "Bad-Input-Root-302"}

// writeProject writes files (slash path -> content) into a new directory.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		assert.NilError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	return dir
}

func TestInvalidYAMLHasPosition(t *testing.T) {
	for _, tc := range []struct{ content, pos, msg string }{
		// yaml v4 counts the parser's lines from 0 and its scanner's from
		// 1: each case pins the line a reader would point at.
		{"services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: [unclosed\n", ":6:1: ",
			"did not find expected ',' or ']' (while parsing a flow sequence that starts at line 5, column 26)"},
		{"services:\n  db:\n    image: postgres\n   environment: {}\n", ":4:4: ", "did not find expected key"},
		{"services:\n  db:\n\timage: postgres\n", ":3:", "found character that cannot start any token"},
		{"services:\n  db: &a\n    image: *b\n", ":3:13: ", "unknown anchor 'b' referenced"},
		{"services:\n  db:\n    image: 'postgres\n", ":4:1: ", "found unexpected end of stream (while scanning a quoted scalar that starts at line 3, column 12)"},
		{"services:\n  db:\n    image: postgres\n     environment: x\n", ":4:17: ", "mapping values are not allowed in this context"},
	} {
		dir := writeProject(t, map[string]string{"compose.yaml": tc.content})
		_, err := compose.Load(context.Background(), compose.LoadOptions{WorkingDir: dir, Environ: []string{}})
		assert.Assert(t, err != nil, tc.content)
		var ye *compose.YAMLError
		assert.Check(t, errors.As(err, &ye), "%T %v", err, err)
		assert.Check(t, is.Regexp(`^`+regexp.QuoteMeta(filepath.Join(dir, "compose.yaml"))+`:\d+:\d+: \S`, err.Error()))
		assert.Check(t, is.Contains(err.Error(), tc.pos))
		assert.Check(t, is.Contains(err.Error(), tc.msg))
	}
}

// TestComposeErrorsPassThrough checks that compose-go's own validation
// errors come back as compose-go words them.
func TestComposeErrorsPassThrough(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": "services:\n  db:\n    image: postgres\n    ports: 12\n    environment:\n      POSTGRES_PASSWORD: Bad-Input-Pw-301\n"})
	_, err := compose.Load(context.Background(), compose.LoadOptions{WorkingDir: dir, Environ: []string{}})
	assert.ErrorContains(t, err, "services.db.ports must be a array")
	assertNoValueIn(t, err.Error(), badValues, "the error")

	dir = writeProject(t, map[string]string{"compose.yaml": "services:\n  db:\n    image: postgres\n    secrets: [missing]\n"})
	_, err = compose.Load(context.Background(), compose.LoadOptions{WorkingDir: dir, Environ: []string{}})
	assert.ErrorContains(t, err, `service "db" refers to undefined secret missing`)
}

// planBad plans the bad-input project in dir.
func planBad(t *testing.T, dir string) *Plan {
	t.Helper()
	_, _, plan := makePlanIn(t, dir, compose.LoadOptions{}, Options{})
	assert.Assert(t, is.Len(plan.Secrets, 2))
	return plan
}

// assertNothingWritten checks that dir holds exactly before: same files,
// same bytes, no temporary file, no secrets folder.
func assertNothingWritten(t *testing.T, dir string, before map[string][]byte) {
	t.Helper()
	after := readTree(t, dir)
	assert.Check(t, is.DeepEqual(sortedKeys(after), sortedKeys(before)))
	for rel, b := range before {
		assert.Check(t, is.Equal(string(after[rel]), string(b)), rel)
	}
	_, err := os.Stat(filepath.Join(dir, "secrets"))
	assert.Check(t, errors.Is(err, os.ErrNotExist), "a secrets folder was left")
}

func TestWriteReadOnlyComposeFile(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": badProject, ".env": badDotEnv})
	plan := planBad(t, dir)
	compose := filepath.Join(dir, "compose.yaml")
	assert.NilError(t, os.Chmod(compose, 0o444))
	before := readTree(t, dir)
	err := Write(plan.Files)
	assert.ErrorContains(t, err, "nothing was written")
	assert.ErrorContains(t, err, compose+" is read-only")
	assertNoValueIn(t, err.Error(), badValues, "the error")
	assertNothingWritten(t, dir, before)
	st, err := os.Stat(compose)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Mode().Perm(), os.FileMode(0o444)))
}

func TestWriteVanishedOrChangedFile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(dir string) error
		want   string
	}{
		{"compose file vanished", func(dir string) error { return os.Remove(filepath.Join(dir, "compose.yaml")) }, "compose.yaml vanished"},
		{".env vanished", func(dir string) error { return os.Remove(filepath.Join(dir, ".env")) }, ".env vanished"},
		{"compose file changed", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(badProject+"# edited\n"), 0o644)
		}, "compose.yaml changed since"},
		{"secret file appeared", func(dir string) error {
			assert.NilError(t, os.Mkdir(filepath.Join(dir, "secrets"), 0o700))
			return os.WriteFile(filepath.Join(dir, "secrets", "postgres_password"), []byte("x"), 0o600)
		}, "postgres_password appeared"},
		{".gitignore appeared", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("/build/\n"), 0o644)
		}, ".gitignore appeared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeProject(t, map[string]string{"compose.yaml": badProject, ".env": badDotEnv})
			plan := planBad(t, dir)
			assert.NilError(t, tc.change(dir))
			before := readTree(t, dir)
			err := Write(plan.Files)
			assert.ErrorContains(t, err, "nothing was written")
			assert.ErrorContains(t, err, tc.want)
			after := readTree(t, dir)
			assert.Check(t, is.DeepEqual(sortedKeys(after), sortedKeys(before)))
			for rel, b := range before {
				assert.Check(t, is.Equal(string(after[rel]), string(b)), rel)
			}
		})
	}
}

// TestWriteRollsBack makes the last rename fail after the compose file,
// .env and the first secret file were put in place: all of them must be put
// back, the secrets folder removed, no temporary file left.
func TestWriteRollsBack(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": badProject, ".env": badDotEnv, ".gitignore": "/build/\n"})
	plan := planBad(t, dir)
	before := readTree(t, dir)
	n := 0
	rename = func(from, to string) error {
		n++
		if n == len(plan.Files) {
			return errors.New("injected rename failure")
		}
		return os.Rename(from, to)
	}
	defer func() { rename = os.Rename }()
	err := Write(plan.Files)
	assert.ErrorContains(t, err, "nothing was written")
	assert.ErrorContains(t, err, "injected rename failure")
	assert.Check(t, is.Equal(n, len(plan.Files)))
	assert.Check(t, len(plan.Files) >= 4, "the rollback must cover several files")
	assertNothingWritten(t, dir, before)
}

// TestSecretFileWithOtherContent: an existing secret file that holds
// something else is an error naming it; one that holds the value is kept.
func TestSecretFileWithOtherContent(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": badProject, ".env": badDotEnv, "secrets/postgres_password": "something else"})
	p, r := load(t, dir, compose.LoadOptions{})
	_, err := Make(context.Background(), p, r, Options{})
	assert.ErrorContains(t, err, filepath.Join(dir, "secrets", "postgres_password")+" already exists with other content")
	assertNoValueIn(t, err.Error(), badValues, "the error")

	assert.NilError(t, os.WriteFile(filepath.Join(dir, "secrets", "postgres_password"), []byte(badValues[0]), 0o600))
	plan := planBad(t, dir)
	for _, f := range plan.Files {
		assert.Check(t, f.Path != filepath.Join(dir, "secrets", "postgres_password"), "the same value is written again")
	}
	assert.NilError(t, Write(plan.Files))
}

// TestSymlinkedComposeFile: the file a link points at is edited, the link
// stays a link.
func TestSymlinkedComposeFile(t *testing.T) {
	dir := writeProject(t, map[string]string{"real/compose.yaml": badProject, ".env": badDotEnv})
	link := filepath.Join(dir, "compose.yaml")
	assert.NilError(t, os.Symlink(filepath.Join("real", "compose.yaml"), link))
	plan := planBad(t, dir)
	assert.NilError(t, Write(plan.Files))
	st, err := os.Lstat(link)
	assert.NilError(t, err)
	assert.Check(t, st.Mode()&os.ModeSymlink != 0, "the link was replaced by a file")
	b, err := os.ReadFile(filepath.Join(dir, "real", "compose.yaml"))
	assert.NilError(t, err)
	assertNoValueIn(t, string(b), badValues, "the edited compose file")
	assert.Check(t, is.Contains(string(b), "POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password"))
	// The secrets folder is the project's (where the link is), as compose
	// resolves ./secrets/... against the project directory.
	_, err = os.Stat(filepath.Join(dir, "secrets", "postgres_password"))
	assert.NilError(t, err)
	_, _, again := makePlanIn(t, dir, compose.LoadOptions{}, Options{})
	assert.Check(t, !again.Changed())
}
