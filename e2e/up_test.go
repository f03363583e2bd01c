//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// upProject is a project whose secrets are Swarm's and the host's (an
// external one, a Key Vault-backed file one whose file does not exist):
// the compose file `docker vault deploy` takes. Its app runs as 999:999,
// which the base image's passwd does not know, and stays up only when
// both secrets hold the values of their digests.
func upProject(dbDigest, tlsDigest string) string {
	return `
services:
  app:
    image: ` + env.baseImage + `
    user: "999:999"
    command:
      - sh
      - -c
      - >-
        trap 'exit 0' TERM;
        test "$$(id -u)" = 999 &&
        test "$$(sha256sum /run/secrets/db_password | cut -d' ' -f1)" = ` + dbDigest + ` &&
        test "$$(sha256sum /run/secrets/tls | cut -d' ' -f1)" = ` + tlsDigest + ` &&
        echo digest-ok || exit 3;
        sleep 600 & wait
    secrets:
      - db_password
      - source: tls.key
        target: tls
secrets:
  db_password:
    external: true
    name: prod_db_password
  tls.key:
    file: ./secrets/tls.key
    x-vault: tls-key
`
}

// TestUpExternalSecrets: `docker vault up -d` starts a project whose
// secrets are external and file ones, with no value on the host; the
// container, running as a user only it knows, reads them; `docker
// compose ps`, `logs` and `down` then work on the project without docker
// vault, which found it by the same name.
func TestUpExternalSecrets(t *testing.T) {
	db, tls := uniqueValue(t, "e2e-up-db-"), uniqueValue(t, "e2e-up-tls-")
	values := map[string]string{"db-password": db, "tls-key": tls}
	em := startEmulator(t, map[string]string{})
	em.SetSecret(t, "db-password", db)
	em.SetSecret(t, "tls-key", tls)
	root := t.TempDir()
	// The folder names the project, as for any compose project.
	name := composeProjectName(t, root, "up")
	dir := filepath.Join(root, name)
	assert.NilError(t, os.Mkdir(dir, 0o700))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(upProject(digest(db), digest(tls))), 0o600))
	var outputs []*icmd.Result

	res := vaultDocker(t, em.Env, dir, "vault", "up", "--dry-run", "-d")
	res.Assert(t, icmd.Success)
	outputs = append(outputs, res)
	assert.Check(t, is.Contains(res.Stdout(), " -f - up -d\nwith DOCKER_VAULT_SECRET_DB_PASSWORD, DOCKER_VAULT_SECRET_TLS_KEY set from Key Vault\n"))
	assert.Check(t, is.Contains(res.Stdout(), "  db_password:\n    external: !reset null\n    environment: DOCKER_VAULT_SECRET_DB_PASSWORD\n"))
	assert.Check(t, is.Len(projectContainers(t, name), 0), "a dry run started something")

	w := watchProcs(db, func(l string) bool { return strings.Contains(l, "compose") })
	res = vaultDocker(t, em.Env, dir, "vault", "up", "-d", "--no-color")
	seen, hits := w.Stop()
	outputs = append(outputs, res)
	res.Assert(t, icmd.Success)
	assert.Check(t, len(seen) > 0, "the process watch saw no compose")
	assert.Check(t, is.Len(hits, 0), "processes whose command line holds the value: %v", hits)

	// Without docker vault, from the project's folder.
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		logs := dockerIn(t, dir, nil, "compose", "logs", "--no-color", "app")
		outputs = append(outputs, logs)
		if strings.Contains(logs.Stdout(), "digest-ok") {
			return poll.Success()
		}
		return poll.Continue("the app has not read its secrets: %s", logs.Combined())
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(200*time.Millisecond))
	ps := dockerIn(t, dir, nil, "compose", "ps", "--format", "{{.Service}} {{.State}}")
	ps.Assert(t, icmd.Expected{Out: "app running"})
	outputs = append(outputs, ps)
	ids := projectContainers(t, name)
	assert.Assert(t, is.Len(ids, 1))
	assertNotInContainers(t, ids, db)
	assertNotInContainers(t, ids, tls)

	// compose run, with the override on stdin as well.
	res = vaultDocker(t, em.Env, dir, "vault", "compose", "--progress", "quiet", "run", "--rm", "--no-deps", "-T", "app",
		"sh", "-c", `test "$(sha256sum /run/secrets/tls | cut -d' ' -f1)" = `+digest(tls)+` && echo run-ok`)
	outputs = append(outputs, res)
	res.Assert(t, icmd.Expected{Out: "run-ok"})

	down := dockerIn(t, dir, nil, "compose", "down", "--timeout", "1")
	outputs = append(outputs, down)
	down.Assert(t, icmd.Success)
	assert.Check(t, is.Len(projectContainers(t, name), 0))

	_, err := os.Stat(filepath.Join(dir, "secrets"))
	assert.Check(t, os.IsNotExist(err), "a secret file was written")
	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
	assertNotInTree(t, root, db)
	assertNotInTree(t, root, tls)
	assertNotInTree(t, os.TempDir(), db)
	assertNotInTree(t, os.TempDir(), tls)
}

// TestUpRefuses: a missing Key Vault secret starts nothing; a uid the
// engine cannot resolve for the service's user is compose's error, and
// the note says why.
func TestUpRefuses(t *testing.T) {
	em := startEmulator(t, map[string]string{})
	em.SetSecret(t, "db-password", uniqueValue(t, "e2e-up-db-"))
	dir := writeProject(t, `
services:
  app:
    image: `+env.baseImage+`
    command: ["sleep", "600"]
    secrets: [db_password, gone]
secrets:
  db_password: {external: true}
  gone: {external: true, x-vault: no-such-secret}
`)
	name := composeProjectName(t, dir, "up-missing")
	res := vaultDocker(t, em.Env, dir, "vault", "up", "-d", "-p", name)
	assertOneLineError(t, res, "docker compose up was not started: secret gone: failed to get secret no-such-secret from https://emulator.vault.azure.net: ")
	assert.Check(t, is.Len(projectContainers(t, name), 0))

	dir = writeProject(t, `
services:
  app:
    image: `+env.baseImage+`
    user: "999:999"
    command: ["sleep", "600"]
    secrets: [{source: db_password, uid: "999", gid: "999"}]
secrets:
  db_password: {external: true}
`)
	name = composeProjectName(t, dir, "up-uid")
	res = vaultDocker(t, em.Env, dir, "vault", "up", "-d", "-p", name)
	assert.Check(t, res.ExitCode != 0, res.Combined())
	assert.Check(t, is.Contains(res.Stderr(), `unable to find entry "999:999"`))
	assert.Check(t, is.Contains(res.Stderr(), "note: app (db_password) set uid or gid on a secret filled from Key Vault: "))
}

// TestComposeBuildExternalSecret: `docker vault compose build` fills the
// build secret of a service from the same external secret deploy uses:
// the Dockerfile's step checks its digest.
func TestComposeBuildExternalSecret(t *testing.T) {
	value := uniqueValue(t, "e2e-compose-build-")
	em := startEmulator(t, map[string]string{})
	em.SetSecret(t, "npm-token", value)
	img := fmt.Sprintf("docker-vault-test/f1-compose-build:%d", os.Getpid())
	t.Cleanup(func() { docker(t, nil, "image", "rm", "-f", img) })
	dir := buildDir(t, map[string]string{
		"Dockerfile": `FROM ` + env.baseImage + `
ARG WANT
RUN --mount=type=secret,id=npm_token,required=true \
    test "$(sha256sum /run/secrets/npm_token | cut -d' ' -f1)" = "$WANT" || { echo "npm_token digest mismatch" >&2; exit 1; }
`,
		"compose.yaml": `
services:
  app:
    image: ` + img + `
    build:
      context: .
      secrets: [npm_token]
secrets:
  npm_token:
    external: true
`,
	})
	build := func(want string) *icmd.Result {
		res := vaultDocker(t, em.Env, dir, "vault", "compose", "--progress", "plain", "build", "--no-cache", "--build-arg", "WANT="+want, "app")
		assertNoValue(t, res, map[string]string{"npm-token": value})
		return res
	}
	build(digest(value)).Assert(t, icmd.Success)
	res := build(digest("not the value"))
	assert.Check(t, res.ExitCode != 0, "a wrong digest passed")
	assert.Check(t, is.Contains(res.Combined(), "npm_token digest mismatch"))
	assertNotInTree(t, dir, value)
}
