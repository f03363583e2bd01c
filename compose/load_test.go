package compose

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/errdefs"
	"github.com/sirupsen/logrus"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

func TestLoadYAMLErrorHasPosition(t *testing.T) {
	dir := fs.NewDir(t, "load", fs.WithFile("compose.yaml", "services:\n  db:\n    image: postgres\n    environment:\n      A: [unclosed\n  web:\n"))
	_, err := Load(context.Background(), LoadOptions{WorkingDir: dir.Path()})
	var ye *YAMLError
	assert.Assert(t, errors.As(err, &ye), "%v", err)
	assert.Check(t, is.Equal(ye.File, dir.Join("compose.yaml")))
	assert.Check(t, ye.Line > 0 && ye.Column > 0, "%v", err)
	assert.Check(t, is.ErrorContains(err, dir.Join("compose.yaml")+":"))
}

func TestLoadValidationErrorPassesThrough(t *testing.T) {
	dir := fs.NewDir(t, "load", fs.WithFile("compose.yaml", "services:\n  db:\n    imagee: postgres\n"))
	_, err := Load(context.Background(), LoadOptions{WorkingDir: dir.Path()})
	assert.Check(t, is.Error(err, dir.Join("compose.yaml")+":3:5: services.db.imagee false schema"))
}

func TestLoadNoComposeFile(t *testing.T) {
	dir := fs.NewDir(t, "load")
	_, err := Load(context.Background(), LoadOptions{WorkingDir: dir.Path()})
	assert.Check(t, errors.Is(err, errdefs.ErrNotFound), "%v", err)
}

func TestLoadDiscoveryAndNames(t *testing.T) {
	dir := fs.NewDir(t, "load",
		fs.WithFile("docker-compose.yml", "services:\n  db:\n    image: postgres\n"),
		fs.WithFile("other.yaml", "name: from-yaml\nservices:\n  x:\n    image: alpine\n"),
		fs.WithDir("sub"))

	// Found in a parent directory; the project directory is the file's.
	p, err := Load(context.Background(), LoadOptions{WorkingDir: dir.Join("sub")})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(p.Compose.ComposeFiles, []string{dir.Join("docker-compose.yml")}))
	assert.Check(t, is.Equal(p.Compose.WorkingDir, dir.Path()))
	assert.Check(t, is.Equal(p.Compose.Name, filepath.Base(dir.Path())))

	// COMPOSE_FILE and COMPOSE_PROJECT_NAME from the shell.
	p, err = Load(context.Background(), LoadOptions{WorkingDir: dir.Path(), Environ: []string{"COMPOSE_FILE=other.yaml", "COMPOSE_PROJECT_NAME=from-env"}})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(p.Compose.ComposeFiles, []string{dir.Join("other.yaml")}))
	assert.Check(t, is.Equal(p.Compose.Name, "from-env"))

	p, err = Load(context.Background(), LoadOptions{WorkingDir: dir.Path(), Files: []string{"other.yaml"}})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(p.Compose.Name, "from-yaml"))

	_, err = Load(context.Background(), LoadOptions{WorkingDir: dir.Path(), Files: []string{"-"}})
	assert.Check(t, is.ErrorContains(err, "stdin is not supported"))
}

func TestLoadDotEnvDisabled(t *testing.T) {
	dir := fs.NewDir(t, "load",
		fs.WithFile("compose.yaml", "services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: ${PW:-fallback}\n"),
		fs.WithFile(".env", "PW=from-dotenv\n"))
	p, err := Load(context.Background(), LoadOptions{WorkingDir: dir.Path(), Environ: []string{"COMPOSE_DISABLE_ENV_FILE=true"}})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(p.DotEnv, ""))
	assert.Check(t, is.Equal(*p.Compose.Services["db"].Environment["POSTGRES_PASSWORD"], "fallback"))
}

func TestReload(t *testing.T) {
	dir := fs.NewDir(t, "reload",
		fs.WithFile("compose.yaml", `include:
  - ./inc/compose.yaml
services:
  db:
    image: postgres
    env_file: ./db.env
    environment:
      POSTGRES_PASSWORD: ${PW}
`),
		fs.WithFile(".env", "PW=old-pw-1\n"),
		fs.WithFile("db.env", "DB_TOKEN=old-token-1\n"),
		fs.WithDir("inc", fs.WithFile("compose.yaml", "services:\n  other:\n    image: alpine\n")))
	p, err := Load(context.Background(), LoadOptions{WorkingDir: dir.Path()})
	assert.NilError(t, err)
	compose := dir.Join("compose.yaml")
	before, err := os.ReadFile(compose)
	assert.NilError(t, err)

	rewritten := []byte(`include:
  - ./inc/compose.yaml
services:
  db:
    image: postgres
    env_file: ./db.env
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password
    secrets: [postgres_password]
secrets:
  postgres_password:
    file: ./secrets/postgres_password
`)
	np, err := Reload(context.Background(), p, map[string][]byte{
		compose:                         rewritten,
		dir.Join(".env"):                []byte("\n"),
		dir.Join("db.env"):              []byte("DB_TOKEN=new-token-1\n"),
		dir.Join("inc", "compose.yaml"): []byte("services:\n  other:\n    image: alpine:3\n"),
	})
	assert.NilError(t, err)
	env := np.Compose.Services["db"].Environment
	assert.Check(t, is.Equal(*env["POSTGRES_PASSWORD_FILE"], "/run/secrets/postgres_password"))
	assert.Check(t, is.Equal(*env["DB_TOKEN"], "new-token-1"))
	_, still := env["POSTGRES_PASSWORD"]
	assert.Check(t, !still)
	assert.Check(t, is.Len(np.Compose.Secrets, 1))

	// Nothing was written.
	after, err := os.ReadFile(compose)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(after, before))

	// Broken results are refused, with positions for YAML errors.
	_, err = Reload(context.Background(), p, map[string][]byte{compose: []byte("services:\n  db: [\n")})
	var ye *YAMLError
	assert.Check(t, errors.As(err, &ye), "%v", err)
	_, err = Reload(context.Background(), p, map[string][]byte{compose: []byte("services:\n  db:\n    image: postgres\n    secrets: [missing]\n")})
	assert.Check(t, is.ErrorContains(err, "undefined secret missing"))
	_, err = Reload(context.Background(), p, map[string][]byte{dir.Join("inc", "compose.yaml"): []byte("services:\n  other:\n    secrets: [nope]\n    image: alpine\n")})
	assert.Check(t, is.ErrorContains(err, "no longer loads"))
}

// A panic of compose-go is an error, and its value (which may quote the
// file) is not in it.
func TestLoaderPanicHidesValue(t *testing.T) {
	err := loaderPanic("unexpected value s3cr3t-in-the-file")
	assert.Check(t, is.ErrorContains(err, "failed to load compose project: compose-go failed on this project (a string panic"))
	assert.Check(t, !strings.Contains(err.Error(), "s3cr3t"), "%v", err)
}

// Quiet keeps compose-go's warning of an unset variable off stderr, in the
// main file and in an included one; without it compose-go warns as docker
// compose does.
func TestLoadQuiet(t *testing.T) {
	dir := fs.NewDir(t, "load",
		fs.WithFile("compose.yaml", "include: [inc.yaml]\nservices:\n  app:\n    image: busybox\n    environment:\n      A: ${UNSET_IN_MAIN}\n"),
		fs.WithFile("inc.yaml", "services:\n  other:\n    image: busybox\n    environment:\n      B: ${UNSET_IN_INCLUDE}\n"))
	var buf bytes.Buffer
	out, level := logrus.StandardLogger().Out, logrus.GetLevel()
	logrus.SetOutput(&buf)
	logrus.SetLevel(logrus.WarnLevel)
	t.Cleanup(func() { logrus.SetOutput(out); logrus.SetLevel(level) })

	_, err := Load(context.Background(), LoadOptions{WorkingDir: dir.Path(), Environ: []string{}, Quiet: true})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(buf.String(), ""))

	_, err = Load(context.Background(), LoadOptions{WorkingDir: dir.Path(), Environ: []string{}})
	assert.NilError(t, err)
	assert.Check(t, is.Contains(buf.String(), `UNSET_IN_MAIN`))
}
