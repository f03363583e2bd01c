package migrate

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
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
func writeProject(t testing.TB, files map[string]string) string {
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
		// The anchor's name is not quoted back: `*b` may be a value.
		{"services:\n  db: &a\n    image: *b\n", ":3:12: ", `unknown anchor referenced (quote a value that starts with "*")`},
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
	err := Write(plan.Files, WriteOptions{})
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
		}, "compose.yaml changed while migrate ran; nothing was written: run it again"},
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
			err := Write(plan.Files, WriteOptions{})
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

// TestWriteRollsBack appends to .env just before it is replaced, the last
// file written: the .gitignore, the secret files and the compose file,
// already in place, are put back, the secrets folder removed, no work file
// left, and the append is intact.
func TestWriteRollsBack(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": badProject, ".env": badDotEnv, ".gitignore": "/build/\n"})
	plan := planBad(t, dir)
	assert.Assert(t, len(plan.Files) >= 4, "the rollback must cover several files")
	env := filepath.Join(dir, ".env")
	var before map[string][]byte
	steps := 0
	err := Write(plan.Files, WriteOptions{Dir: dir, step: func(i int) {
		steps++
		if i == len(plan.Files)-1 {
			f, err := os.OpenFile(env, os.O_APPEND|os.O_WRONLY, 0)
			assert.NilError(t, err)
			_, err = f.WriteString("ADDED=1\n")
			assert.NilError(t, err)
			assert.NilError(t, f.Close())
			before = readTree(t, dir)
			for rel := range before {
				if strings.HasPrefix(rel, ".docker-vault-tmp-") {
					delete(before, rel)
				}
			}
			// What the rollback must restore.
			before["compose.yaml"] = []byte(badProject)
			before[".gitignore"] = []byte("/build/\n")
			for rel := range before {
				if strings.HasPrefix(rel, "secrets/") {
					delete(before, rel)
				}
			}
		}
	}})
	assert.Check(t, is.Equal(steps, len(plan.Files)))
	assert.Check(t, is.Error(err, env+" changed while migrate ran; nothing was written: run it again"))
	assertNothingWritten(t, dir, before)
	b, rerr := os.ReadFile(env)
	assert.NilError(t, rerr)
	assert.Check(t, is.Equal(string(b), badDotEnv+"ADDED=1\n"))
}

// TestWriteRollbackError: a file already replaced that cannot be put back
// is named, and the error does not claim nothing was written.
func TestWriteRollbackError(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": badProject, ".env": badDotEnv})
	plan := planBad(t, dir)
	compose := filepath.Join(dir, "compose.yaml")
	err := Write(plan.Files, WriteOptions{Dir: dir, step: func(i int) {
		if i == len(plan.Files)-1 {
			assert.NilError(t, os.Remove(compose))
			assert.NilError(t, os.Mkdir(compose, 0o755))
			assert.NilError(t, os.WriteFile(filepath.Join(dir, ".env"), []byte("EDITED=1\n"), 0o644))
		}
	}})
	assert.Assert(t, err != nil)
	assert.Check(t, is.Contains(err.Error(), ".env changed since it was read; putting back the files already written failed: "+compose+" changed after it was written: left as it is; its old content is "))
	assert.Check(t, !strings.Contains(err.Error(), "nothing was written"), err.Error())
	assertNoValueIn(t, err.Error(), badValues, "the error")
}

// interruptWrite runs Write and stops it dead (as kill -9 would: nothing
// deferred removes the work folder) before file stop is put in place.
func interruptWrite(t *testing.T, dir string, files []*File, stop int) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		Write(files, WriteOptions{Dir: dir, step: func(i int) {
			if i == stop {
				runtime.Goexit()
			}
		}})
		t.Error("Write returned")
	}()
	<-done
}

// TestWriteAfterInterruptedWrite: the next Write removes what an
// interrupted one left, and says so. When the interrupted one had
// replaced files, they are put back and Write stops: the plan was made on
// them. Either way nothing of the work folder is left, and a new plan
// writes the project as an uninterrupted run does.
func TestWriteAfterInterruptedWrite(t *testing.T) {
	clean := writeProject(t, map[string]string{"compose.yaml": badProject, ".env": badDotEnv})
	assert.NilError(t, Write(planBad(t, clean).Files, WriteOptions{}))
	want := readTree(t, clean)

	for _, tc := range []struct {
		stop    int
		log     string
		wantErr string
	}{
		{stop: 0, log: `^removed 9 leftover files of an interrupted migrate\n$`},
		{stop: 2, log: `^put back \S+/\.gitignore, \S+/secrets/mariadb_root_password that an interrupted migrate had written, and removed its 9 leftover files\n$`,
			wantErr: "nothing was written: the files an interrupted write had written were put back (see above), so the project changed since it was read: run migrate again"},
	} {
		dir := writeProject(t, map[string]string{"compose.yaml": badProject, ".env": badDotEnv})
		before := readTree(t, dir)
		plan := planBad(t, dir)
		interruptWrite(t, dir, plan.Files, tc.stop)
		var log bytes.Buffer
		err := Write(plan.Files, WriteOptions{Dir: dir, Log: &log})
		assert.Check(t, is.Regexp(tc.log, log.String()))
		assertNoValueIn(t, log.String(), badValues, "the log")
		if tc.wantErr != "" {
			assert.Check(t, is.Error(err, tc.wantErr))
			assertNothingWritten(t, dir, before)
			plan = planBad(t, dir)
			log.Reset()
			err = Write(plan.Files, WriteOptions{Dir: dir, Log: &log})
			assert.Check(t, is.Equal(log.String(), ""))
		}
		assert.NilError(t, err)
		got := readTree(t, dir)
		assert.Check(t, is.DeepEqual(sortedKeys(got), sortedKeys(want)))
		for rel, b := range want {
			assert.Check(t, is.Equal(string(got[rel]), string(b)), rel)
		}
	}
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
	assert.NilError(t, Write(plan.Files, WriteOptions{}))
}

// TestSymlinkedComposeFile: the file a link points at is edited, the link
// stays a link.
func TestSymlinkedComposeFile(t *testing.T) {
	dir := writeProject(t, map[string]string{"real/compose.yaml": badProject, ".env": badDotEnv})
	link := filepath.Join(dir, "compose.yaml")
	assert.NilError(t, os.Symlink(filepath.Join("real", "compose.yaml"), link))
	plan := planBad(t, dir)
	assert.NilError(t, Write(plan.Files, WriteOptions{}))
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

// TestWriteRemovesOldLeftovers: the temporary and backup files an earlier
// version left beside the files it wrote, when killed, are removed, and
// nothing else.
func TestWriteRemovesOldLeftovers(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml":                              badProject,
		".env":                                      badDotEnv,
		".compose.yaml.docker-vault-2871533":        badProject,
		"..env.docker-vault-99120.orig":             badDotEnv,
		"secrets/.postgres_password.docker-vault-4": badValues[0],
		".compose.yaml.docker-vault-notes":          "mine\n",
	})
	plan := planBad(t, dir)
	var log bytes.Buffer
	assert.NilError(t, Write(plan.Files, WriteOptions{Dir: dir, Log: &log}))
	assert.Check(t, is.Equal(log.String(), "removed 3 leftover files of an interrupted migrate of an earlier version\n"))
	got := readTree(t, dir)
	assert.Check(t, is.DeepEqual(sortedKeys(got), []string{".compose.yaml.docker-vault-notes", ".env", ".gitignore", "compose.yaml", "secrets/mariadb_root_password", "secrets/postgres_password"}))
}

// TestUnreadableFileNamedOnce: a file the plan must read and cannot is
// named once, with the reason.
func TestUnreadableFileNamedOnce(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": badProject, ".env": badDotEnv})
	assert.NilError(t, os.Mkdir(filepath.Join(dir, ".gitignore"), 0o755))
	p, r := load(t, dir, compose.LoadOptions{})
	_, err := Make(context.Background(), p, r, Options{})
	path := filepath.Join(dir, ".gitignore")
	assert.Error(t, err, "failed to read file "+path+": is a directory")
}
