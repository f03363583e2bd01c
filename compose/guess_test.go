package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/internal/composebench"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/fs"
)

// guessAndLoad starts a load, takes the guess and waits for compose-go.
func guessAndLoad(t *testing.T, lo LoadOptions) (*Project, *Project, error) {
	t.Helper()
	l, err := Start(context.Background(), lo)
	if err != nil {
		return nil, nil, err
	}
	g := l.Guess()
	p, err := l.Wait()
	return g, p, err
}

// Projects the guess must cover, and get right: each is guessed, and the
// guess has the facts compose-go's model has.
var guessable = map[string]string{
	"map-and-list": `
x-common: &common
  TZ: Etc/UTC
  N: 5
services:
  db:
    image: postgres:${PG:-16}
    environment:
      <<: *common
      POSTGRES_PASSWORD: literal
      FROM_ENV: ${TOKEN}
      DEFAULT: ${MISSING:-fallback}
      PASS_THROUGH:
      EMPTY: ""
      FLAG: true
      PORT: 5432
      ESCAPED: $$notavar
  web:
    image: example/web
    environment:
      - API_KEY=${TOKEN}
      - PASS_THROUGH
      - EQ=a=b
      - EMPTY=
`,
	"env-files": `
services:
  app:
    image: app
    env_file: app.env
    environment:
      OVERRIDE: mine
  other:
    image: app
    env_file:
      - app.env
      - path: ./optional.env
        required: false
      - path: other.env
        required: true
`,
	"commands-and-secrets": `
services:
  db:
    image: mysql
    command: mysqld --password=${TOKEN} --user "a b"
    entrypoint: ["docker-entrypoint.sh", "${TOKEN}"]
    healthcheck:
      test: mysqladmin ping -p${TOKEN}
      interval: 10s
    environment:
      MYSQL_ROOT_PASSWORD_FILE: /run/secrets/root
    secrets: [root]
    ports: ["3306:3306"]
  probe:
    image: busybox
    healthcheck:
      test: ["CMD", "true"]
secrets:
  root:
    file: ./root.txt
x-vault:
  exclude: [probe.X]
`,
}

func TestGuessMatchesCompose(t *testing.T) {
	for name, content := range guessable {
		t.Run(name, func(t *testing.T) {
			dir := fs.NewDir(t, "guess",
				fs.WithFile("compose.yaml", content),
				fs.WithFile(".env", "TOKEN=s3cr3t-t0ken\nPASS_THROUGH=from-dotenv\n"),
				fs.WithFile("app.env", "A=1\nOVERRIDE=theirs\nPASSWORD=${TOKEN}\n"),
				fs.WithFile("other.env", "B=2\n"),
				fs.WithFile("root.txt", "x"))
			g, p, err := guessAndLoad(t, LoadOptions{WorkingDir: dir.Path(), Environ: []string{"FROM_SHELL=1"}})
			assert.NilError(t, err)
			assert.Assert(t, g != nil, "the guess declined a project it covers")
			assert.Check(t, SameFacts(g, p), "the guess differs from compose-go's model")
		})
	}
}

func TestGuessBenchProject(t *testing.T) {
	g, p, err := guessAndLoad(t, LoadOptions{WorkingDir: composebench.Project(t, 50)})
	assert.NilError(t, err)
	assert.Assert(t, g != nil)
	assert.Check(t, SameFacts(g, p))
}

// What the guess does not reproduce, it declines.
func TestGuessDeclines(t *testing.T) {
	cases := map[string]map[string]string{
		"include":        {"compose.yaml": "include: [other.yaml]\nservices:\n  a:\n    image: a\n", "other.yaml": "services:\n  b:\n    image: b\n"},
		"extends":        {"compose.yaml": "services:\n  a:\n    image: a\n  b:\n    extends: a\n"},
		"build":          {"compose.yaml": "services:\n  a:\n    build: .\n", "Dockerfile": "FROM scratch\n"},
		"profiles":       {"compose.yaml": "services:\n  a:\n    image: a\n    profiles: [debug]\n"},
		"reset":          {"compose.yaml": "services:\n  a:\n    image: a\n    environment: !reset {}\n"},
		"env_file twice": {"compose.yaml": "services:\n  a:\n    image: a\n    env_file: [a.env, ./a.env]\n", "a.env": "A=1\n"},
		"float":          {"compose.yaml": "services:\n  a:\n    image: a\n    environment:\n      RATIO: 1.50\n"},
		"two docs":       {"compose.yaml": "services:\n  a:\n    image: a\n---\nservices:\n  b:\n    image: b\n"},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			var ops []fs.PathOp
			for f, c := range files {
				ops = append(ops, fs.WithFile(f, c))
			}
			dir := fs.NewDir(t, "guess", ops...)
			l, err := Start(context.Background(), LoadOptions{WorkingDir: dir.Path()})
			if err != nil {
				return // a project Start refuses has nothing to guess
			}
			assert.Check(t, l.Guess() == nil)
			_, _ = l.Wait()
		})
	}
	// Two -f files.
	dir := fs.NewDir(t, "guess", fs.WithFile("a.yaml", "services:\n  a:\n    image: a\n"), fs.WithFile("b.yaml", "services:\n  a:\n    image: b\n"))
	l, err := Start(context.Background(), LoadOptions{WorkingDir: dir.Path(), Files: []string{"a.yaml", "b.yaml"}})
	assert.NilError(t, err)
	assert.Check(t, l.Guess() == nil)
	_, err = l.Wait()
	assert.NilError(t, err)
}

// SameFacts tells a wrong guess from a right one.
func TestSameFactsSeesDifferences(t *testing.T) {
	dir := fs.NewDir(t, "guess",
		fs.WithFile("compose.yaml", guessable["map-and-list"]),
		fs.WithFile(".env", "TOKEN=s3cr3t-t0ken\n"))
	lo := LoadOptions{WorkingDir: dir.Path()}
	changes := map[string]func(g *Project){
		"a value":    func(g *Project) { v := "other"; g.Compose.Services["db"].Environment["POSTGRES_PASSWORD"] = &v },
		"a variable": func(g *Project) { delete(g.Compose.Services["web"].Environment, "API_KEY") },
		"an image":   func(g *Project) { s := g.Compose.Services["db"]; s.Image = "mysql"; g.Compose.Services["db"] = s },
		"a secret":   func(g *Project) { g.Compose.Secrets["extra"] = g.Compose.Secrets["none"] },
		"an env file": func(g *Project) {
			g.EnvFiles[0] = &EnvFile{Path: g.EnvFiles[0].Path, Kind: g.EnvFiles[0].Kind, Content: []byte("TOKEN=x\n")}
		},
		"a disabled": func(g *Project) { g.Compose.DisabledServices["off"] = g.Compose.Services["db"] },
		"x-vault": func(g *Project) {
			g.Compose.Extensions = map[string]any{"x-vault": map[string]any{"include": []any{"TZ"}}}
		},
		"no difference": nil,
	}
	for name, change := range changes {
		g, p, err := guessAndLoad(t, lo)
		assert.NilError(t, err)
		assert.Assert(t, g != nil)
		if change == nil {
			assert.Check(t, SameFacts(g, p), name)
			continue
		}
		change(g)
		assert.Check(t, !SameFacts(g, p), "SameFacts misses %s", name)
	}
}

// FuzzGuess: on any compose file compose-go loads, a guess the guess makes
// is right (SameFacts), and nothing panics.
func FuzzGuess(f *testing.F) {
	for _, c := range guessable {
		f.Add(c, "TOKEN=s3cr3t-t0ken\n")
	}
	f.Add("services:\n  a:\n    image: a\n    environment:\n      N: 0x1F\n      M: +1\n      T: 2001-12-14\n      Y: yes\n", "")
	f.Add("services:\n  a:\n    image: ${IMG:?need}\n    environment: [A=${B:-x}, C]\n", "B=1\nC=2\n")
	f.Add("services:\n  a:\n    image: a\n    command: echo \"${X}\"\n    healthcheck:\n      test: [CMD-SHELL, \"true\"]\n", "X=a b\n")
	// compose-go compiles its schema on the first load, which under the
	// fuzzer's coverage instrumentation takes long enough for the fuzzer
	// to call a worker hung: done once per worker, before fuzzing.
	warm := f.TempDir()
	assert.NilError(f, os.WriteFile(filepath.Join(warm, "compose.yaml"), []byte("services:\n  a:\n    image: a\n"), 0o600))
	_, err := Load(context.Background(), LoadOptions{WorkingDir: warm, Environ: []string{}})
	assert.NilError(f, err)
	f.Fuzz(func(t *testing.T, compose, env string) {
		dir := t.TempDir()
		if os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o600) != nil ||
			os.WriteFile(filepath.Join(dir, ".env"), []byte(env), 0o600) != nil {
			t.Skip()
		}
		l, err := Start(context.Background(), LoadOptions{WorkingDir: dir, NoConsistency: true, Environ: []string{}})
		if err != nil {
			return
		}
		g := l.Guess()
		p, err := l.Wait()
		if err != nil && strings.Contains(err.Error(), "panic") {
			t.Errorf("%v", err)
		}
		if err != nil || g == nil {
			return
		}
		if !SameFacts(g, p) {
			t.Errorf("the guess differs from compose-go's model")
		}
	})
}
