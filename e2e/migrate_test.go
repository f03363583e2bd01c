package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// migrateE2EValue is the secret of the e2e project; nothing the plugin or
// the engine shows may contain it.
const migrateE2EValue = "e2e-Migrate-Pw-7c41d9"

// migrateE2EProject is an app on the base image that reads its password
// from the file named by $APP_PASSWORD_FILE, as the official images do; the
// project's x-vault says so. The command compares the file's digest with
// the expected one: exit 0 on a match, 1 otherwise (so before the
// migration, with no APP_PASSWORD_FILE, it fails).
func migrateE2EProject(image string) string {
	sum := sha256.Sum256([]byte(migrateE2EValue))
	return fmt.Sprintf(`x-vault:
  file-variables:
    %[1]s:
      APP_PASSWORD: APP_PASSWORD_FILE

services:
  app:
    image: %[1]s
    environment:
      APP_PASSWORD: %[2]s   # to be migrated
      APP_MODE: check
    command:
      - sh
      - -c
      - 'test -n "$$APP_PASSWORD_FILE" && test "$$(sha256sum < "$$APP_PASSWORD_FILE" | cut -d " " -f 1)" = %[3]s'
`, image, migrateE2EValue, hex.EncodeToString(sum[:]))
}

// composeUp runs the project once and returns the app container's exit
// code and its `docker inspect` JSON.
func composeUp(t *testing.T, dir, project string) (int, string) {
	t.Helper()
	res := dockerIn(t, dir, nil, "compose", "-p", project, "up", "--no-color", "--exit-code-from", "app")
	assertNoValue(t, res, map[string]string{"password": migrateE2EValue})
	ps := dockerIn(t, dir, nil, "compose", "-p", project, "ps", "-a", "-q", "app")
	ps.Assert(t, icmd.Success)
	id := strings.TrimSpace(ps.Stdout())
	assert.Assert(t, id != "", "no app container: %s", res.Combined())
	inspect := docker(t, nil, "inspect", id)
	inspect.Assert(t, icmd.Success)
	code := docker(t, nil, "inspect", "--format", "{{.State.ExitCode}}", id)
	code.Assert(t, icmd.Success)
	var n int
	_, err := fmt.Sscan(strings.TrimSpace(code.Stdout()), &n)
	assert.NilError(t, err)
	return n, inspect.Stdout()
}

func TestMigrateThenComposeUp(t *testing.T) {
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(migrateE2EProject(env.baseImage)), 0o644))
	project := fmt.Sprintf("dv-migrate-e2e-%d", os.Getpid())
	t.Cleanup(func() {
		dockerIn(t, dir, nil, "compose", "-p", project, "down", "-v", "--remove-orphans")
	})
	values := map[string]string{"password": migrateE2EValue}

	// Before: the check fails (no file), and the value sits in the
	// container's environment for anyone who can inspect it.
	code, inspect := composeUp(t, dir, project)
	assert.Check(t, code != 0, "the check passed without a secret file")
	assert.Check(t, strings.Contains(inspect, migrateE2EValue), "the control run should show the leak")
	dockerIn(t, dir, nil, "compose", "-p", project, "down", "-v").Assert(t, icmd.Success)

	res := dockerIn(t, dir, nil, "vault", "migrate", "--dry-run")
	res.Assert(t, icmd.Success)
	assertNoValue(t, res, values)
	assert.Check(t, is.Contains(res.Stdout(), "-      APP_PASSWORD: ********\n+      APP_PASSWORD_FILE: /run/secrets/app_password   # to be migrated\n"))

	res = dockerIn(t, dir, nil, "vault", "migrate")
	res.Assert(t, icmd.Success)
	assertNoValue(t, res, values)
	assert.Check(t, is.Regexp(`(?m)^app +APP_PASSWORD -> APP_PASSWORD_FILE +literal +migrated +file-variable +app_password`, res.Stdout()))
	b, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(b), migrateE2EValue))
	st, err := os.Stat(filepath.Join(dir, "secrets", "app_password"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Mode().Perm(), os.FileMode(0o600)))

	code, inspect = composeUp(t, dir, project)
	assert.Check(t, is.Equal(code, 0), "the app did not read the secret file")
	assert.Check(t, !strings.Contains(inspect, migrateE2EValue), "docker inspect shows the value")
	assert.Check(t, is.Contains(inspect, "APP_PASSWORD_FILE=/run/secrets/app_password"))

	res = dockerIn(t, dir, nil, "vault", "migrate", "--check")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "nothing to migrate"))
}

// TestQuickstartExample runs what the README's quick start runs on
// examples/quickstart, in a copy: the dry run shows the diff and writes
// nothing; the migration itself gives a project docker compose accepts;
// a second run has nothing to do.
func TestQuickstartExample(t *testing.T) {
	src := filepath.Join(env.repoRoot, "examples", "quickstart")
	dir := t.TempDir()
	values := map[string]string{}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		assert.NilError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755))
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	assert.NilError(t, err)
	for _, v := range []string{"qs-Postgres-8c2e19", "qs-Auth-Key-e7b3a5d06f", "qs-Wp-Db-5d81c2", "qs-Grafana-a9e044", "qs-Rabbit-31b7f0"} {
		values[v] = v
	}

	// --pull=never, as make demo runs it: the example names real images,
	// which a test must never pull (no registry is reached from a test).
	// None is in the engine, so the built-in table decides.
	res := dockerIn(t, dir, nil, "vault", "migrate", "--dry-run", "--pull=never")
	res.Assert(t, icmd.Success)
	assertNoValue(t, res, values)
	out := res.Stdout()
	assert.Check(t, is.Contains(out, "would migrate 5 variables into 4 secrets, report 1; 7 files would change (nothing written)"))
	assert.Check(t, is.Regexp(`(?m)^queue +RABBITMQ_DEFAULT_PASS +literal +reported +.*image rabbitmq could not be read \(image rabbitmq:3-management is not in the engine and --pull=never\) and the built-in table knows no file variant of RABBITMQ_DEFAULT_PASS`, out))
	_, err = os.Stat(filepath.Join(dir, "secrets"))
	assert.Check(t, os.IsNotExist(err), "--dry-run wrote")

	res = dockerIn(t, dir, nil, "vault", "migrate", "--pull=never")
	res.Assert(t, icmd.Success)
	assertNoValue(t, res, values)
	res = dockerIn(t, dir, nil, "compose", "config", "-q")
	res.Assert(t, icmd.Success)
	res = dockerIn(t, dir, nil, "compose", "config")
	res.Assert(t, icmd.Success)
	for v := range values {
		if v == "qs-Rabbit-31b7f0" {
			continue // reported: it stays where it was
		}
		assert.Check(t, !strings.Contains(res.Stdout(), v), "docker compose config still shows a migrated value")
	}
	// The rabbitmq password is still in the file: the gate fails on it
	// until it is accepted.
	res = dockerIn(t, dir, nil, "vault", "migrate", "--check", "--pull=never")
	res.Assert(t, icmd.Expected{ExitCode: 3, Err: "1 secrets are reported in place (see above); --allow-reported accepts them"})
	assert.Check(t, is.Contains(res.Stdout(), "nothing to migrate"))
	res = dockerIn(t, dir, nil, "vault", "migrate", "--check", "--allow-reported", "--pull=never")
	res.Assert(t, icmd.Success)
}
