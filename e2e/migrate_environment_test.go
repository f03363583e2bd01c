//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// TestMigrateToEnvironmentThenRun: a literal password and a file secret are
// migrated with --to environment --push into environment-sourced secrets;
// docker compose accepts the result, the project files hold no value, plain
// `docker compose up` says which variable it lacks, and `docker vault run --
// docker compose up` gives the container both secrets (checked by digest),
// even once the old secret file is gone. No output, file or `docker
// inspect` holds a value.
func TestMigrateToEnvironmentThenRun(t *testing.T) {
	pw := uniqueValue(t, "e2e-migrate-env-pw-")
	tls := uniqueValue(t, "e2e-migrate-env-tls-")
	values := map[string]string{"password": pw, "tls key": tls}
	em := startEmulator(t, map[string]string{})
	dir := t.TempDir()
	writeProjectFile(t, dir, "compose.yaml", fmt.Sprintf(`x-vault:
  file-variables:
    %[1]s:
      APP_PASSWORD: APP_PASSWORD_FILE

services:
  app:
    image: %[1]s
    environment:
      APP_PASSWORD: %[2]s
    secrets: [tls_key]
    command:
      - sh
      - -c
      - 'test "$$(sha256sum < "$$APP_PASSWORD_FILE" | cut -d " " -f 1)" = %[3]s && test "$$(sha256sum < /run/secrets/tls_key | cut -d " " -f 1)" = %[4]s && echo digests-ok'

secrets:
  tls_key:
    file: ./tls.key
`, env.baseImage, pw, digest(pw), digest(tls)))
	writeProjectFile(t, dir, "tls.key", tls)
	name := composeProjectName(t, dir, "migenv")

	var outputs []*icmd.Result
	run := func(extraEnv []string, args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, append(append([]string{}, em.Env...), extraEnv...), dir, args...)
		outputs = append(outputs, res)
		return res
	}
	original, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	assert.NilError(t, err)

	res := run(nil, "vault", "migrate", "--to", "environment", "--dry-run")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "+    environment: APP_PASSWORD\n"))
	assert.Check(t, is.Contains(res.Stdout(), "would convert 1 file secrets to environment ones: tls_key -> tls-key\n"))

	// Without --push, Key Vault must hold the values already.
	res = run(nil, "vault", "migrate", "--to", "environment")
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "add --push to store them"})
	now, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(now), string(original)), "a refused migrate changed compose.yaml")

	res = run(nil, "vault", "migrate", "--to", "environment", "--push")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Regexp(`(?m)^app +APP_PASSWORD -> APP_PASSWORD_FILE +literal +migrated +file-variable +app_password`, res.Stdout()))
	assert.Check(t, is.Contains(res.Stdout(), "secrets `docker vault run` fills from Key Vault through variables: app_password from $APP_PASSWORD, tls_key from $TLS_KEY\n"))
	assert.Check(t, is.Contains(res.Stdout(), "stored 2 values in Key Vault"))
	assert.Check(t, is.Contains(res.Stderr(), "delete them once `docker vault run -- docker compose up` works: tls.key"))
	rewritten, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(rewritten), "      APP_PASSWORD_FILE: /run/secrets/app_password\n"))
	assert.Check(t, is.Contains(string(rewritten), "  tls_key:\n    environment: TLS_KEY\n"))
	assert.Check(t, is.Contains(string(rewritten), "  app_password:\n    environment: APP_PASSWORD\n"))
	_, err = os.Stat(filepath.Join(dir, "secrets"))
	assert.Check(t, os.IsNotExist(err), "--to environment wrote secret files")

	// docker compose accepts the rewrite, and shows no value.
	res = dockerIn(t, dir, nil, "compose", "config", "-q")
	res.Assert(t, icmd.Success)
	res = dockerIn(t, dir, nil, "compose", "config")
	res.Assert(t, icmd.Success)
	outputs = append(outputs, res)
	assert.Check(t, is.Contains(res.Stdout(), "environment: APP_PASSWORD"))

	// Plain compose, without the variables, refuses to start the service.
	res = dockerIn(t, dir, []string{"COMPOSE_PROJECT_NAME=" + name}, "compose", "up", "--no-color", "--exit-code-from", "app")
	outputs = append(outputs, res)
	assert.Check(t, res.ExitCode != 0, "compose started the service without its secrets: %s", res.Combined())
	assert.Check(t, is.Regexp(`environment variable "(APP_PASSWORD|TLS_KEY)" required by secret`, res.Combined()))

	// The old secret file can go: the value comes from Key Vault.
	assert.NilError(t, os.Remove(filepath.Join(dir, "tls.key")))
	res = run([]string{"COMPOSE_PROJECT_NAME=" + name}, "vault", "run", "--", "docker", "compose", "up", "--no-color", "--exit-code-from", "app")
	res.Assert(t, icmd.Expected{ExitCode: 0, Out: "digests-ok"})
	ids := projectContainers(t, name)
	assert.Assert(t, len(ids) > 0)
	for _, v := range values {
		assertNotInContainers(t, ids, v)
		assertNotInTree(t, dir, v)
		assertNotInTree(t, os.TempDir(), v)
	}

	res = run(nil, "vault", "migrate", "--to", "environment", "--push")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "nothing to migrate"))

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
	assert.Check(t, !strings.Contains(string(rewritten), pw))
}

// TestMigrateToEnvironmentReadOnly: on this engine, compose refuses to
// copy an environment secret into a read_only service, so migrate reports
// that service's variables instead of moving them, and the project still
// starts as it did.
func TestMigrateToEnvironmentReadOnly(t *testing.T) {
	pw := uniqueValue(t, "e2e-migrate-env-ro-")
	em := startEmulator(t, map[string]string{})
	dir := t.TempDir()
	writeProjectFile(t, dir, "compose.yaml", fmt.Sprintf(`x-vault:
  file-variables:
    %[1]s:
      APP_PASSWORD: APP_PASSWORD_FILE
services:
  app:
    image: %[1]s
    read_only: true
    environment:
      APP_PASSWORD: %[2]s
    command: ["true"]
`, env.baseImage, pw))
	res := vaultDocker(t, em.Env, dir, "vault", "migrate", "--to", "environment", "--push")
	res.Assert(t, icmd.Success)
	assertNoValue(t, res, map[string]string{"password": pw})
	assert.Check(t, is.Regexp(`(?m)^app +APP_PASSWORD +literal +reported .*service app is read_only, and compose cannot copy an environment secret into a read-only container`, res.Stdout()))
	assert.Check(t, is.Contains(res.Stdout(), "nothing to migrate"))

	// What compose does with one: it refuses to start the service.
	name := composeProjectName(t, dir, "migenvro")
	writeProjectFile(t, dir, "compose.yaml", fmt.Sprintf(`services:
  app:
    image: %[1]s
    read_only: true
    command: ["true"]
    secrets: [s]
secrets:
  s:
    environment: E2E_RO_SECRET
`, env.baseImage))
	res = dockerIn(t, dir, []string{"COMPOSE_PROJECT_NAME=" + name, "E2E_RO_SECRET=not-a-secret"}, "compose", "up", "--no-color")
	assert.Check(t, res.ExitCode != 0)
	assert.Check(t, is.Contains(res.Combined(), "in read-only service app: `file` is the sole supported option"))
}
