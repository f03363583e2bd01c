package compose

import (
	"context"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

// finding returns the environment (or other) finding of service.variable.
func finding(t *testing.T, r *Report, service, variable string) Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Service == service && f.Variable == variable {
			return f
		}
	}
	t.Fatalf("no finding for %s.%s in\n%s", service, variable, r)
	return Finding{}
}

func detect(t *testing.T, opts LoadOptions) (*Project, *Report) {
	t.Helper()
	p, err := Load(context.Background(), opts)
	assert.NilError(t, err)
	r, err := Detect(p, DetectOptions{})
	assert.NilError(t, err)
	return p, r
}

const traceCompose = `x-common: &common
  COMMON_TOKEN: common-token-value
services:
  db:
    image: postgres:16
    env_file:
      - ./db.env
      - path: ./missing.env
        required: false
    environment:
      <<: *common
      POSTGRES_PASSWORD: literal-pw-1
      DB_PASSWORD: ${DOTENV_PW}
      SHELL_TOKEN: ${SHELL_TOKEN}
      OVERRIDDEN_PASSWORD: ${BOTH_PW}
      DEFAULT_PASSWORD: ${UNSET_PW:-default-pw-1}
      REQUIRED_PASSWORD: ${DOTENV_PW:?set it}
      DATABASE_URL: postgres://u:${DOTENV_PW}@db/app
      SHADOWED_SECRET: from-compose
      ESCAPED_PASSWORD: pa$$word1
  app:
    image: example/app
    environment:
      - API_TOKEN=list-literal-1
      - PASSTHRU_PASSWORD
      - SHELL_PASSWORD
      - NOWHERE_PASSWORD
`

const traceDotEnv = `# project env
DOTENV_PW=dotenv-secret-1
BOTH_PW=from-dotenv
PASSTHRU_PASSWORD=passthru-secret-1
`

const traceDBEnv = `# db env file
PLAIN=1
ENVFILE_SECRET=envfile-secret-1
SHADOWED_SECRET=from-env-file
`

func TestTraceSources(t *testing.T) {
	dir := fs.NewDir(t, "trace",
		fs.WithFile("compose.yaml", traceCompose),
		fs.WithFile(".env", traceDotEnv),
		fs.WithFile("db.env", traceDBEnv))
	compose := dir.Join("compose.yaml")
	dotenv := dir.Join(".env")
	p, r := detect(t, LoadOptions{
		WorkingDir: dir.Path(),
		Environ:    []string{"SHELL_TOKEN=shell-token-1", "BOTH_PW=from-shell", "SHELL_PASSWORD=shell-pw-1"},
	})
	assert.Check(t, is.Equal(p.DotEnv, dotenv))

	for _, tc := range []struct {
		service, variable string
		value             string
		src               Source
	}{
		{"db", "POSTGRES_PASSWORD", "literal-pw-1", Source{
			Kind: SourceLiteral, Field: "environment", Form: "map",
			Position: Position{File: compose, Line: 12, Column: 26}, Key: Position{File: compose, Line: 12, Column: 7},
		}},
		{"db", "COMMON_TOKEN", "common-token-value", Source{
			Kind: SourceLiteral, Field: "environment", Form: "map", Shared: true,
			Position: Position{File: compose, Line: 2, Column: 17}, Key: Position{File: compose, Line: 2, Column: 3},
		}},
		{"db", "DB_PASSWORD", "dotenv-secret-1", Source{
			Kind: SourceInterpolated, Field: "environment", Form: "map", SingleRef: true,
			Position: Position{File: compose, Line: 13, Column: 20}, Key: Position{File: compose, Line: 13, Column: 7},
			Refs: []VarRef{{Name: "DOTENV_PW", Origin: OriginDotEnv, Position: Position{File: dotenv, Line: 2, Column: 11}}},
		}},
		{"db", "SHELL_TOKEN", "shell-token-1", Source{
			Kind: SourceInterpolated, Field: "environment", Form: "map", SingleRef: true,
			Position: Position{File: compose, Line: 14, Column: 20}, Key: Position{File: compose, Line: 14, Column: 7},
			Refs: []VarRef{{Name: "SHELL_TOKEN", Origin: OriginShell}},
		}},
		// The shell wins over .env, as in docker compose.
		{"db", "OVERRIDDEN_PASSWORD", "from-shell", Source{
			Kind: SourceInterpolated, Field: "environment", Form: "map", SingleRef: true,
			Position: Position{File: compose, Line: 15, Column: 28}, Key: Position{File: compose, Line: 15, Column: 7},
			Refs: []VarRef{{Name: "BOTH_PW", Origin: OriginShell}},
		}},
		{"db", "DEFAULT_PASSWORD", "default-pw-1", Source{
			Kind: SourceInterpolated, Field: "environment", Form: "map", SingleRef: true,
			Position: Position{File: compose, Line: 16, Column: 25}, Key: Position{File: compose, Line: 16, Column: 7},
			Refs: []VarRef{{Name: "UNSET_PW", Origin: OriginDefault, Position: Position{File: compose, Line: 16, Column: 25}}},
		}},
		{"db", "REQUIRED_PASSWORD", "dotenv-secret-1", Source{
			Kind: SourceInterpolated, Field: "environment", Form: "map", SingleRef: true,
			Position: Position{File: compose, Line: 17, Column: 26}, Key: Position{File: compose, Line: 17, Column: 7},
			Refs: []VarRef{{Name: "DOTENV_PW", Origin: OriginDotEnv, Position: Position{File: dotenv, Line: 2, Column: 11}}},
		}},
		{"db", "DATABASE_URL", "postgres://u:dotenv-secret-1@db/app", Source{
			Kind: SourceInterpolated, Field: "environment", Form: "map",
			Position: Position{File: compose, Line: 18, Column: 21}, Key: Position{File: compose, Line: 18, Column: 7},
			Refs: []VarRef{{Name: "DOTENV_PW", Origin: OriginDotEnv, Position: Position{File: dotenv, Line: 2, Column: 11}}},
		}},
		// environment: wins over env_file.
		{"db", "SHADOWED_SECRET", "from-compose", Source{
			Kind: SourceLiteral, Field: "environment", Form: "map",
			Position: Position{File: compose, Line: 19, Column: 24}, Key: Position{File: compose, Line: 19, Column: 7},
		}},
		{"db", "ESCAPED_PASSWORD", "pa$word1", Source{
			Kind: SourceLiteral, Field: "environment", Form: "map",
			Position: Position{File: compose, Line: 20, Column: 25}, Key: Position{File: compose, Line: 20, Column: 7},
		}},
		{"db", "ENVFILE_SECRET", "envfile-secret-1", Source{
			Kind: SourceEnvFile, Field: "env_file", Position: Position{File: dir.Join("db.env"), Line: 3, Column: 16},
		}},
		{"app", "API_TOKEN", "list-literal-1", Source{
			Kind: SourceLiteral, Field: "environment", Form: "list", Position: Position{File: compose, Line: 24, Column: 9},
		}},
		{"app", "PASSTHRU_PASSWORD", "passthru-secret-1", Source{
			Kind: SourcePassThrough, Field: "environment", Form: "list", Position: Position{File: compose, Line: 25, Column: 9},
			Refs: []VarRef{{Name: "PASSTHRU_PASSWORD", Origin: OriginDotEnv, Position: Position{File: dotenv, Line: 4, Column: 19}}},
		}},
		{"app", "SHELL_PASSWORD", "shell-pw-1", Source{
			Kind: SourcePassThrough, Field: "environment", Form: "list", Position: Position{File: compose, Line: 26, Column: 9},
			Refs: []VarRef{{Name: "SHELL_PASSWORD", Origin: OriginShell}},
		}},
	} {
		f := finding(t, r, tc.service, tc.variable)
		assert.Check(t, is.Equal(string(f.Value), tc.value), "%s.%s", tc.service, tc.variable)
		assert.Check(t, is.DeepEqual(f.Source, tc.src), "%s.%s", tc.service, tc.variable)
	}

	unset := finding(t, r, "app", "NOWHERE_PASSWORD")
	assert.Check(t, unset.Unset)
	assert.Check(t, is.Equal(unset.Action, ActionReport))
	assert.Check(t, is.DeepEqual(unset.Source.Refs, []VarRef{{Name: "NOWHERE_PASSWORD", Origin: OriginUnset}}))

	url := finding(t, r, "db", "DATABASE_URL")
	assert.Check(t, url.Embedded)
	assert.Check(t, is.Equal(url.Action, ActionReport))
	assert.Check(t, is.Contains(url.Reason, "the password inside is the value of secret db_password"))

	// The optional env file that does not exist is recorded, not an error.
	var missing *EnvFile
	for _, ef := range p.EnvFiles {
		if ef.Path == dir.Join("missing.env") {
			missing = ef
		}
	}
	assert.Assert(t, missing != nil)
	assert.Check(t, missing.Missing)
}

func TestTraceEnvFileFlag(t *testing.T) {
	dir := fs.NewDir(t, "trace",
		fs.WithFile("compose.yaml", "services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: ${PW}\n"),
		fs.WithFile(".env", "PW=ignored-when-env-file-given\n"),
		fs.WithDir("conf", fs.WithFile("prod.env", "A=1\nPW=flag-secret-1\n")))
	p, r := detect(t, LoadOptions{WorkingDir: dir.Path(), EnvFiles: []string{"conf/prod.env"}})
	assert.Check(t, is.Equal(p.DotEnv, ""))
	f := finding(t, r, "db", "POSTGRES_PASSWORD")
	assert.Check(t, is.Equal(string(f.Value), "flag-secret-1"))
	assert.Check(t, is.DeepEqual(f.Source.Refs, []VarRef{{Name: "PW", Origin: OriginEnvFile, Position: Position{File: dir.Join("conf", "prod.env"), Line: 2, Column: 4}}}))
	assert.Check(t, is.Equal(f.Action, ActionMigrate))
	assert.Check(t, is.Equal(f.FileVariable, "POSTGRES_PASSWORD_FILE"))
}

func TestTraceIncludeAndExtends(t *testing.T) {
	dir := fs.NewDir(t, "trace",
		fs.WithFile("compose.yaml", `include:
  - path: ./sub/compose.yaml
    env_file: ./sub/include.env
services:
  web:
    extends:
      file: ./base/base.yaml
      service: webbase
    environment:
      WEB_PASSWORD: overridden-pw-1
`),
		fs.WithDir("sub",
			fs.WithFile("compose.yaml", "services:\n  worker:\n    image: example/worker\n    env_file: ./worker.env\n    environment:\n      WORKER_TOKEN: ${INCLUDED_TOKEN}\n"),
			fs.WithFile("worker.env", "WORKER_SECRET=worker-secret-1\n"),
			fs.WithFile("include.env", "INCLUDED_TOKEN=included-token-1\n")),
		fs.WithDir("base",
			fs.WithFile("base.yaml", "services:\n  webbase:\n    image: example/web\n    environment:\n      WEB_PASSWORD: base-pw-1\n      BASE_API_KEY: base-key-1\n")))
	p, r := detect(t, LoadOptions{WorkingDir: dir.Path()})

	var roles []string
	for _, f := range p.Files {
		rel, err := filepath.Rel(dir.Path(), f.Path)
		assert.NilError(t, err)
		roles = append(roles, string(f.Role)+" "+rel)
	}
	assert.Check(t, is.DeepEqual(roles, []string{"main compose.yaml", "include sub/compose.yaml", "extends base/base.yaml"}))

	f := finding(t, r, "web", "WEB_PASSWORD")
	assert.Check(t, is.Equal(string(f.Value), "overridden-pw-1"))
	assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: dir.Join("compose.yaml"), Line: 10, Column: 21}))

	f = finding(t, r, "web", "BASE_API_KEY")
	assert.Check(t, is.Equal(string(f.Value), "base-key-1"))
	assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: dir.Join("base", "base.yaml"), Line: 6, Column: 21}))

	// env_file relative to the included file; interpolation with the
	// include's own env_file.
	f = finding(t, r, "worker", "WORKER_SECRET")
	assert.Check(t, is.DeepEqual(f.Source, Source{Kind: SourceEnvFile, Field: "env_file", Position: Position{File: dir.Join("sub", "worker.env"), Line: 1, Column: 15}}))
	f = finding(t, r, "worker", "WORKER_TOKEN")
	assert.Check(t, is.Equal(string(f.Value), "included-token-1"))
	assert.Check(t, is.DeepEqual(f.Source.Refs, []VarRef{{Name: "INCLUDED_TOKEN", Origin: OriginInclude, Position: Position{File: dir.Join("sub", "include.env"), Line: 1, Column: 16}}}))
}

func TestTraceOverrideFilesAndReset(t *testing.T) {
	dir := fs.NewDir(t, "trace",
		fs.WithFile("compose.yaml", "services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: first-pw-1\n      OLD_TOKEN: old-token-1\n"),
		fs.WithFile("compose.override.yaml", "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: second-pw-1\n"),
		fs.WithFile("reset.yaml", "services:\n  db:\n    environment: !override\n      NEW_TOKEN: new-token-1\n"))

	// Discovery picks compose.yaml and its override.
	_, r := detect(t, LoadOptions{WorkingDir: dir.Path()})
	f := finding(t, r, "db", "POSTGRES_PASSWORD")
	assert.Check(t, is.Equal(string(f.Value), "second-pw-1"))
	assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: dir.Join("compose.override.yaml"), Line: 4, Column: 26}))
	f = finding(t, r, "db", "OLD_TOKEN")
	assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: dir.Join("compose.yaml"), Line: 6, Column: 18}))

	_, r = detect(t, LoadOptions{WorkingDir: dir.Path(), Files: []string{"compose.yaml", "reset.yaml"}})
	assert.Check(t, is.Len(r.Findings, 1), r.String())
	f = finding(t, r, "db", "NEW_TOKEN")
	assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: dir.Join("reset.yaml"), Line: 4, Column: 18}))
}

func TestTraceAnchorsInList(t *testing.T) {
	dir := fs.NewDir(t, "trace", fs.WithFile("compose.yaml", `x-env: &env
  - SHARED_PASSWORD=anchored-pw-1
services:
  a:
    image: postgres
    environment: *env
  b:
    image: postgres
    environment: *env
`))
	_, r := detect(t, LoadOptions{WorkingDir: dir.Path()})
	for _, svc := range []string{"a", "b"} {
		f := finding(t, r, svc, "SHARED_PASSWORD")
		assert.Check(t, f.Source.Shared)
		assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: dir.Join("compose.yaml"), Line: 2, Column: 5}))
		assert.Check(t, is.Equal(f.SecretName, "shared_password"))
	}
	assert.Check(t, is.Len(r.Secrets, 1))
}
