package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/compose"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// writeTree writes files (slash paths relative to dir) and returns dir.
func writeTree(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		assert.NilError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

// posOf is the 1-based line and byte column of the first occurrence of
// sub in content.
func posOf(t *testing.T, content, sub string) (line, col int) {
	t.Helper()
	i := strings.Index(content, sub)
	assert.Assert(t, i >= 0, "%q not in the fixture", sub)
	before := content[:i]
	line = strings.Count(before, "\n") + 1
	return line, i - (strings.LastIndex(before, "\n") + 1) + 1
}

// assertNoValues fails when any form of any value (raw, hex, base64,
// JSON-escaped, URL-encoded) is in the result as JSON.
func assertNoValues(t *testing.T, res *Result, values ...string) {
	t.Helper()
	b, err := json.Marshal(res)
	assert.NilError(t, err)
	var vs []Value
	for i, v := range values {
		vs = append(vs, Value{Name: fmt.Sprint("v", i), Value: []byte(v)})
	}
	m := NewValues(vs)
	defer m.Close()
	for _, h := range m.find(b) {
		name, enc := m.Hit(h.needle)
		t.Errorf("value %s (%s) is in the result at byte %d", name, enc, h.off)
	}
}

// only returns the findings of rule (and file, when not "").
func only(res *Result, rule, file string) []Finding {
	var out []Finding
	for _, f := range res.Findings {
		if f.Rule == rule && (file == "" || f.File == file) {
			out = append(out, f)
		}
	}
	return out
}

// byVariable returns the one finding of rule for variable.
func byVariable(t *testing.T, res *Result, rule, variable string) Finding {
	t.Helper()
	var got []Finding
	for _, f := range only(res, rule, "") {
		if f.Variable == variable {
			got = append(got, f)
		}
	}
	assert.Assert(t, is.Len(got, 1), "%s %s in %+v", rule, variable, res.Findings)
	return got[0]
}

const projectCompose = `x-settings:
  ADMIN_PASSWORD: Xbl0ck-Admin-Passw0rd
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: Lit3ral-Pg-Passw0rd
      POSTGRES_USER: app
      DB_PASSWORD: ${DB_PASSWORD}
      SHELL_SECRET: ${FROM_SHELL_SECRET}
    env_file: db.env
    healthcheck:
      test: ["CMD", "psql", "--password", "Health-Ch3ck-Passw0rd"]
  app:
    build:
      context: .
      args:
        NPM_TOKEN: Bu1ld-Arg-Npm-T0ken
    environment:
      DATABASE_URL: postgres://app:Url-Cred-Passw0rd@db:5432/app
      DB_PASSWORD: ${DB_PASSWORD}
    command: ["server", "--password", "Cmd-L1ne-Passw0rd"]
`

const projectDotEnv = `# the project's .env
DB_PASSWORD=Dot-Env-Passw0rd
UNUSED_TOKEN=Unused-T0ken-Value-9
`

const projectDockerfile = `FROM alpine
ARG NPM_TOKEN
ENV API_SECRET_KEY=D0ckerfile-Env-S3cret
RUN echo hi
`

var projectValues = []string{
	"Xbl0ck-Admin-Passw0rd", "Lit3ral-Pg-Passw0rd", "Health-Ch3ck-Passw0rd", "Bu1ld-Arg-Npm-T0ken",
	"Url-Cred-Passw0rd", "Cmd-L1ne-Passw0rd", "Dot-Env-Passw0rd", "Unused-T0ken-Value-9",
	"D0ckerfile-Env-S3cret", "EnvF1le-Redis-Passw0rd", "Sh3ll-Only-Secret-Value",
}

func sourceProject(t *testing.T) string {
	return writeTree(t, t.TempDir(), map[string]string{
		"compose.yaml": projectCompose,
		".env":         projectDotEnv,
		"db.env":       "REDIS_PASSWORD=EnvF1le-Redis-Passw0rd\n",
		"Dockerfile":   projectDockerfile,
	})
}

func scanProject(t *testing.T, dir string, values *Values, environ ...string) *Result {
	t.Helper()
	res, err := ScanProject(context.Background(), ProjectOptions{
		Load:   compose.LoadOptions{WorkingDir: dir, Profiles: []string{"*"}, Environ: environ},
		Root:   dir,
		Values: values,
	})
	assert.NilError(t, err)
	return res
}

// TestScanProjectSources reaches every source kind of a project through
// ScanProject: each finding is where the value is written.
func TestScanProjectSources(t *testing.T) {
	dir := sourceProject(t)
	res := scanProject(t, dir, nil, "FROM_SHELL_SECRET=Sh3ll-Only-Secret-Value")
	assertNoValues(t, res, projectValues...)

	at := func(f Finding, file, content, sub string) {
		t.Helper()
		line, col := posOf(t, content, sub)
		assert.Check(t, is.Equal(f.File, file))
		assert.Check(t, is.Equal(f.Line, line), "%s %s", f.Rule, f.Variable)
		assert.Check(t, is.Equal(f.Column, col), "%s %s", f.Rule, f.Variable)
		assert.Check(t, f.Message != "")
		assert.Check(t, f.Fix != "")
		assert.Check(t, f.Fingerprint != "")
		assert.Check(t, is.Equal(f.Suppressed, ""))
	}

	lit := byVariable(t, res, RuleEnvironment, "POSTGRES_PASSWORD")
	at(lit, "compose.yaml", projectCompose, "Lit3ral-Pg-Passw0rd")
	assert.Check(t, is.Equal(lit.Severity, SeverityError))
	assert.Check(t, is.DeepEqual(lit.Services, []string{"db"}))
	assert.Check(t, is.Contains(lit.Fix, "POSTGRES_PASSWORD_FILE"))
	assert.Check(t, lit.Secret != "")

	// One .env line interpolated into two services: one finding.
	dot := byVariable(t, res, RuleEnvFile, "DB_PASSWORD")
	line, _ := posOf(t, projectDotEnv, "DB_PASSWORD=")
	assert.Check(t, is.Equal(dot.File, ".env"))
	assert.Check(t, is.Equal(dot.Line, line))
	assert.Check(t, is.DeepEqual(dot.Services, []string{"db", "app"}))
	assert.Check(t, is.Equal(dot.Service, "db"))
	assert.Check(t, is.Contains(dot.Message, "interpolated into db.DB_PASSWORD, app.DB_PASSWORD: "))

	// A .env entry no service uses is still held in the file.
	unused := byVariable(t, res, RuleEnvFile, "UNUSED_TOKEN")
	assert.Check(t, is.Equal(unused.File, ".env"))
	assert.Check(t, is.Len(unused.Services, 0))

	envFile := byVariable(t, res, RuleEnvFile, "REDIS_PASSWORD")
	assert.Check(t, is.Equal(envFile.File, "db.env"))
	assert.Check(t, is.Equal(envFile.Line, 1))

	at(byVariable(t, res, RuleEnvironment, "DATABASE_URL"), "compose.yaml", projectCompose, "postgres://app:")
	at(byVariable(t, res, RuleBuildArg, "NPM_TOKEN"), "compose.yaml", projectCompose, "Bu1ld-Arg-Npm-T0ken")
	assert.Check(t, is.Contains(byVariable(t, res, RuleBuildArg, "NPM_TOKEN").Fix, "RUN --mount=type=secret,id=npm_token"))
	at(byVariable(t, res, RuleExtension, "ADMIN_PASSWORD"), "compose.yaml", projectCompose, "Xbl0ck-Admin-Passw0rd")
	at(byVariable(t, res, RuleHealthcheck, "healthcheck.test"), "compose.yaml", projectCompose, `["CMD", "psql"`)
	at(byVariable(t, res, RuleCommand, "command"), "compose.yaml", projectCompose, `["server"`)

	df := byVariable(t, res, RuleDockerfile, "API_SECRET_KEY")
	line, _ = posOf(t, projectDockerfile, "ENV API_SECRET_KEY")
	assert.Check(t, is.Equal(df.File, "Dockerfile"))
	assert.Check(t, is.Equal(df.Line, line))
	assert.Check(t, is.Contains(df.Fix, "RUN --mount=type=secret"))
	// ARG NPM_TOKEN has no value in the Dockerfile: nothing is held there.
	assert.Check(t, is.Len(only(res, RuleDockerfile, ""), 1))

	// The shell's value is in no file: a note, no finding.
	for _, f := range res.Findings {
		assert.Check(t, f.Variable != "SHELL_SECRET" && f.Variable != "FROM_SHELL_SECRET", "%+v", f)
	}
	assert.Check(t, is.Contains(strings.Join(res.Notes, "\n"), "db.SHELL_SECRET is a secret whose value comes from the shell ($FROM_SHELL_SECRET)"))
	// POSTGRES_USER is not a secret.
	for _, f := range res.Findings {
		assert.Check(t, f.Variable != "POSTGRES_USER")
	}
	assert.Check(t, is.Equal(res.Files, 4))
}

// TestScanProjectSuppressed: a # docker-vault:ignore comment on the line
// or alone above it, and an x-vault exclude entry, keep the finding with
// the reason.
func TestScanProjectSuppressed(t *testing.T) {
	composeYAML := `x-vault:
  exclude:
    - api.EXCLUDED_PASSWORD
services:
  api:
    image: busybox
    build: .
    environment:
      TRAILING_PASSWORD: Ign0red-Trailing-Pw # docker-vault:ignore test fixture
      # docker-vault:ignore
      ABOVE_PASSWORD: Ign0red-Above-Passw0rd
      KEPT_PASSWORD: N0t-Ignored-Passw0rd # see docker-vault:ignore docs
      EXCLUDED_PASSWORD: Excl-uded-Passw0rd
      DOTENV_TOKEN: ${DOTENV_TOKEN}
`
	dockerfile := "FROM busybox\n# docker-vault:ignore rotated long ago\nENV OLD_SECRET_KEY=D0ckerfile-Ign0red\nENV NEW_SECRET_KEY=D0ckerfile-Rep0rted\n"
	dir := writeTree(t, t.TempDir(), map[string]string{
		"compose.yaml": composeYAML,
		".env":         "DOTENV_TOKEN=Dot-Env-Ign0red-T0ken # docker-vault:ignore\n",
		"Dockerfile":   dockerfile,
	})
	res := scanProject(t, dir, nil)
	assertNoValues(t, res, "Ign0red-Trailing-Pw", "Ign0red-Above-Passw0rd", "N0t-Ignored-Passw0rd", "Excl-uded-Passw0rd", "Dot-Env-Ign0red-T0ken", "D0ckerfile-Ign0red", "D0ckerfile-Rep0rted")

	assert.Check(t, is.Equal(byVariable(t, res, RuleEnvironment, "TRAILING_PASSWORD").Suppressed, "# docker-vault:ignore comment: test fixture"))
	assert.Check(t, is.Equal(byVariable(t, res, RuleEnvironment, "ABOVE_PASSWORD").Suppressed, "# docker-vault:ignore comment"))
	assert.Check(t, is.Equal(byVariable(t, res, RuleEnvironment, "KEPT_PASSWORD").Suppressed, ""))
	ex := byVariable(t, res, RuleEnvironment, "EXCLUDED_PASSWORD")
	assert.Check(t, is.Equal(ex.Suppressed, "excluded by x-vault"))
	assert.Check(t, ex.Message != "" && !strings.Contains(ex.Message, "excluded"), ex.Message)
	assert.Check(t, is.Equal(byVariable(t, res, RuleEnvFile, "DOTENV_TOKEN").Suppressed, "# docker-vault:ignore comment"))
	assert.Check(t, is.Equal(byVariable(t, res, RuleDockerfile, "OLD_SECRET_KEY").Suppressed, "# docker-vault:ignore comment: rotated long ago"))
	assert.Check(t, is.Equal(byVariable(t, res, RuleDockerfile, "NEW_SECRET_KEY").Suppressed, ""))
}

// TestScanProjectValues finds Key Vault values in every file the project
// read, in each form, and names the secret, never the value.
func TestScanProjectValues(t *testing.T) {
	dir := sourceProject(t)
	vs := NewValues([]Value{
		{Name: "dot-env-pw", Value: []byte("Dot-Env-Passw0rd")},
		{Name: "dockerfile-secret", Value: []byte("D0ckerfile-Env-S3cret")},
		{Name: "not-there", Value: []byte("N0where-In-The-Tree")},
	})
	defer vs.Close()
	res := scanProject(t, dir, vs)
	assertNoValues(t, res, projectValues...)
	got := only(res, RuleVaultValue, "")
	assert.Assert(t, is.Len(got, 2), "%+v", got)
	line, col := posOf(t, projectDotEnv, "Dot-Env-Passw0rd")
	assert.Check(t, is.DeepEqual(got[0], Finding{
		Rule: RuleVaultValue, Severity: SeverityError, File: ".env", Line: line, Column: col,
		Secret: "dot-env-pw", Encoding: "raw", Message: got[0].Message, Fix: got[0].Fix, Fingerprint: got[0].Fingerprint,
	}))
	assert.Check(t, is.Contains(got[0].Message, "dot-env-pw"))
	line, col = posOf(t, projectDockerfile, "D0ckerfile-Env-S3cret")
	assert.Check(t, is.Equal(got[1].File, "Dockerfile"))
	assert.Check(t, is.Equal(got[1].Line, line))
	assert.Check(t, is.Equal(got[1].Column, col))
	assert.Check(t, is.Equal(got[1].Secret, "dockerfile-secret"))
}

// TestScanProjectLoadError: a project that does not load is an error,
// and the error holds no value.
func TestScanProjectLoadError(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"compose.yaml": "services:\n  a:\n    image: busybox\n    environment:\n      A_PASSWORD: [Br0ken-Passw0rd\n",
	})
	_, err := ScanProject(context.Background(), ProjectOptions{Load: compose.LoadOptions{WorkingDir: dir}, Root: dir})
	assert.Check(t, err != nil)
	assert.Check(t, !strings.Contains(err.Error(), "Br0ken-Passw0rd"), err.Error())
}

// TestRepoRoot finds the nearest .git folder or file.
func TestRepoRoot(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"repo/.git/HEAD":       "ref: refs/heads/main\n",
		"repo/a/b/c.txt":       "",
		"repo/sub/.git":        "gitdir: ../.git/modules/sub\n",
		"repo/sub/x/y.txt":     "",
		"norepo/deep/file.txt": "",
	})
	assert.Check(t, is.Equal(RepoRoot(filepath.Join(dir, "repo", "a", "b")), filepath.Join(dir, "repo")))
	assert.Check(t, is.Equal(RepoRoot(filepath.Join(dir, "repo")), filepath.Join(dir, "repo")))
	assert.Check(t, is.Equal(RepoRoot(filepath.Join(dir, "repo", "sub", "x")), filepath.Join(dir, "repo", "sub")))
	// No .git above (the temp dir is not in a repository).
	out := RepoRoot(filepath.Join(dir, "norepo", "deep"))
	assert.Check(t, out == filepath.Join(dir, "norepo", "deep") || !strings.HasPrefix(out, dir), out)
}

// TestScanProjectWeak: a value only its shape calls secret is a warning.
func TestScanProjectWeak(t *testing.T) {
	const random = "x8Kq2LpZ7vRt9WmN4bYc6HdJ3sFg5AeQ"
	dir := writeTree(t, t.TempDir(), map[string]string{
		"compose.yaml": "services:\n  a:\n    image: busybox\n    environment:\n      SESSION_SEED: " + random + "\n      APP_PASSWORD: Str0ng-Named-Passw0rd\n",
	})
	res := scanProject(t, dir, nil)
	assertNoValues(t, res, random, "Str0ng-Named-Passw0rd")
	assert.Check(t, is.Equal(byVariable(t, res, RuleEnvironment, "SESSION_SEED").Severity, SeverityWarning))
	assert.Check(t, is.Equal(byVariable(t, res, RuleEnvironment, "APP_PASSWORD").Severity, SeverityError))
}
