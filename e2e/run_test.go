//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// composeProjectName is a compose project name of this test's own; the
// project is taken down (containers, networks) when the test ends.
func composeProjectName(t *testing.T, dir, what string) string {
	t.Helper()
	name := fmt.Sprintf("dv-e2e-%s-%d-%s", what, os.Getpid(), strings.ToLower(uniqueValue(t, "")[:6]))
	t.Cleanup(func() {
		dockerIn(t, dir, nil, "compose", "-p", name, "down", "--timeout", "1", "--remove-orphans")
	})
	return name
}

// projectContainers are the ids of every container of compose project
// name, stopped ones included.
func projectContainers(t *testing.T, name string) []string {
	t.Helper()
	res := docker(t, nil, "ps", "-a", "-q", "--filter", "label=com.docker.compose.project="+name)
	res.Assert(t, icmd.Success)
	return strings.Fields(res.Stdout())
}

// assertNotInContainers checks that `docker inspect` of each container
// holds no form of the value.
func assertNotInContainers(t *testing.T, ids []string, value string) {
	t.Helper()
	for _, id := range ids {
		res := docker(t, nil, "inspect", id)
		res.Assert(t, icmd.Success)
		assertNotInText(t, "docker inspect "+id, res.Stdout(), value)
	}
}

// writeProject writes compose.yaml into a new folder.
func writeProject(t *testing.T, compose string) string {
	t.Helper()
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o600))
	return dir
}

// TestRunComposeUp: `docker vault run -- docker compose up` of a project
// whose secret compose reads from a variable: the container checks the
// digest of /run/secrets/db_password (the digest compose interpolates
// from WANT, so a wrong one proves the check can fail), and no file under
// the project or /tmp, no output and no `docker inspect` holds the value.
func TestRunComposeUp(t *testing.T) {
	value := uniqueValue(t, "e2e-run-")
	values := map[string]string{"db-password": value}
	// Seeded through the admin endpoint: the emulator's seed file is in
	// /tmp, which must hold no value.
	em := startEmulator(t, map[string]string{})
	em.SetSecret(t, "db-password", value)
	dir := writeProject(t, `
services:
  check:
    image: `+env.baseImage+`
    command: ["sh", "-c", "test \"$$(sha256sum /run/secrets/db_password | cut -d' ' -f1)\" = \"${WANT}\" && echo digest-ok"]
    secrets: [db_password]
secrets:
  db_password:
    environment: DB_PASSWORD
`)
	name := composeProjectName(t, dir, "run")
	up := func(want string) *icmd.Result {
		res := vaultDocker(t, append(em.Env, "WANT="+want, "COMPOSE_PROJECT_NAME="+name), dir,
			"vault", "run", "--", "docker", "compose", "up", "--no-color", "--exit-code-from", "check")
		assertNoValue(t, res, values)
		return res
	}
	// No process's command line (docker, the plugin, compose) holds it.
	w := watchProcs(value, func(l string) bool { return strings.Contains(l, "compose up") })
	res := up(digest(value))
	seen, hits := w.Stop()
	res.Assert(t, icmd.Expected{ExitCode: 0, Out: "digest-ok"})
	assert.Check(t, len(seen) > 0, "the process watch saw no compose")
	assert.Check(t, is.Len(hits, 0), "processes whose command line holds the value: %v", hits)
	ids := projectContainers(t, name)
	assert.Assert(t, is.Len(ids, 1))
	assertNotInContainers(t, ids, value)

	res = up(digest("not the value"))
	assert.Check(t, res.ExitCode != 0, "a wrong digest passed: %s", res.Combined())
	assert.Check(t, !strings.Contains(res.Stdout(), "digest-ok"))

	assertNotInTree(t, dir, value)
	assertNotInTree(t, os.TempDir(), value)
	assertNotInTree(t, env.configDir, value)
}

// TestRunExitStatusAndSignal: the child's exit code is run's, a SIGINT to
// the docker CLI reaches the child once, and run needs a command.
func TestRunExitStatusAndSignal(t *testing.T) {
	em := startEmulator(t, map[string]string{})
	em.SetSecret(t, "token", uniqueValue(t, "e2e-run-token-"))
	dir := writeProject(t, `
services:
  app: {image: `+env.baseImage+`, secrets: [token]}
secrets:
  token: {environment: TOKEN}
`)
	res := vaultDocker(t, em.Env, dir, "vault", "run", "--", "sh", "-c", `test -n "$TOKEN" && exit 7`)
	assert.Check(t, is.Equal(res.ExitCode, 7), res.Combined())

	res = vaultDocker(t, em.Env, dir, "vault", "run")
	assert.Check(t, res.ExitCode != 0)
	assert.Check(t, is.Contains(res.Stderr(), "'docker vault run' requires at least 1 argument"))

	proc := icmd.StartCmd(vaultDockerCmd(em.Env, dir, "vault", "run", "--", "sh", "-c",
		`trap 'echo got-int; exit 42' INT; echo ready; while :; do sleep 0.1; done`))
	assert.NilError(t, proc.Error)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if strings.Contains(proc.Stdout(), "ready") {
			return poll.Success()
		}
		return poll.Continue("the child has not started")
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(50*time.Millisecond))
	assert.NilError(t, proc.Cmd.Process.Signal(syscall.SIGINT))
	res = icmd.WaitOnCmd(15*time.Second, proc)
	assert.Check(t, is.Equal(res.ExitCode, 42), res.Combined())
	assert.Check(t, is.Equal(strings.Count(res.Stdout(), "got-int"), 1), res.Stdout())
}

// TestRunRefusesBadInput: a missing Key Vault secret, and values that
// together pass the kernel's limit on a new process's environment, start
// nothing.
func TestRunRefusesBadInput(t *testing.T) {
	em := startEmulator(t, map[string]string{})
	em.SetSecret(t, "token", uniqueValue(t, "e2e-run-token-"))
	dir := writeProject(t, `
services:
  app: {image: `+env.baseImage+`, secrets: [token, gone]}
secrets:
  token: {environment: TOKEN}
  gone: {environment: GONE, x-vault: no-such-secret}
`)
	marker := filepath.Join(dir, "started")
	res := vaultDocker(t, em.Env, dir, "vault", "run", "--", "touch", marker)
	assertOneLineError(t, res, "touch was not started: secret gone: failed to get secret no-such-secret from https://emulator.vault.azure.net: ")
	_, err := os.Stat(marker)
	assert.Check(t, os.IsNotExist(err), "the command was started")

	// Key Vault holds at most 25 KB a value, under Linux's 128 KiB a
	// variable: six of them pass the 128 KiB a process gets in all under
	// a 256 KiB stack limit (ARG_MAX is a quarter of it, at least 128 KiB).
	var compose strings.Builder
	compose.WriteString("services:\n  app: {image: " + env.baseImage + "}\nsecrets:\n")
	for i := range 6 {
		n := strconv.Itoa(i)
		em.SetSecret(t, "big-"+n, strings.Repeat(n, 25000-i))
		fmt.Fprintf(&compose, "  big_%s: {environment: BIG_%s}\n", n, n)
	}
	big := writeProject(t, compose.String())
	marker = filepath.Join(big, "started")
	cmd := vaultDockerCmd(em.Env, big)
	cmd.Command = []string{"sh", "-c", `ulimit -s 256 && exec docker vault run -- touch "$0"`, marker}
	res = icmd.RunCmd(cmd)
	assertOneLineError(t, res, "touch was not started: the arguments and environment with the Key Vault values would take ")
	assert.Check(t, is.Contains(res.Stderr(), "bytes, over the 131072 bytes this system allows a new process (ARG_MAX, less 8192 for the docker CLI); the largest value is secret big_0's (Key Vault secret big-0, 25000 bytes)"))
	_, err = os.Stat(marker)
	assert.Check(t, os.IsNotExist(err), "the command was started")
	// The same values under the usual stack limit fit.
	res = icmd.RunCmd(vaultDockerCmd(em.Env, big, "vault", "run", "--", "touch", marker))
	res.Assert(t, icmd.Success)
	_, err = os.Stat(marker)
	assert.Check(t, err == nil, "the command did not run: %s", res.Combined())
}
