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

// TestMigratePushDeployRotate is the whole path of a swarm project: a
// password written as a literal in compose.yaml is migrated to an external
// secret with its value pushed to Key Vault, the stack is deployed, the task
// reads the value through VAR_FILE (checked by digest), the value rotates
// in Key Vault, `sync --wait` moves the task onto it, and a second migrate
// and sync change nothing.
func TestMigratePushDeployRotate(t *testing.T) {
	p := syncPrefix(t)
	stack := p
	cleanupSwarm(t, p, stack)
	variable := strings.ToUpper(p) + "_PASSWORD"
	values := map[string]string{"v1": newSecretValue("migrate1"), "v2": newSecretValue("migrate2")}
	em := startEmulator(t, map[string]string{})
	dir := t.TempDir()
	writeProjectFile(t, dir, "compose.yaml", digestProject(variable, values["v1"])+"      LOG_LEVEL: info\n")

	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, em.Env, dir, args...)
		outputs = append(outputs, res)
		return res
	}

	res := run("vault", "migrate", "--to", "external", "--push")
	res.Assert(t, icmd.Success)
	secret := strings.ToLower(variable)
	assert.Check(t, is.Regexp(`(?m)^web +`+variable+` -> `+variable+`_FILE +literal +migrated +file-variable +`+secret, res.Stdout()))
	assert.Check(t, is.Contains(res.Stdout(), "stored 1 values in Key Vault"))
	rewritten, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(rewritten), values["v1"]), "the value is still in compose.yaml")
	assert.Check(t, is.Contains(string(rewritten), variable+"_FILE: /run/secrets/"+secret))
	_, err = os.Stat(filepath.Join(dir, "secrets"))
	assert.Check(t, os.IsNotExist(err), "--push writes no secret file")

	// Key Vault has it: ls shows it, mapped to the compose secret.
	res = run("vault", "ls", "-f", "compose.yaml", "--format", "{{.Name}} {{.Status}}")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(strings.TrimSpace(res.Stdout()), strings.ReplaceAll(secret, "_", "-")+" enabled"))

	res = run("vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stack)
	res.Assert(t, icmd.Success)
	waitServiceSeen(t, stack+"_web", sum(values["v1"]))

	rotateLater(t, em, strings.ReplaceAll(secret, "_", "-"), values["v2"])
	res = run("vault", "sync", "--stack", stack, "--wait", "--keep", "0")
	res.Assert(t, icmd.Success)
	waitServiceSeen(t, stack+"_web", sum(values["v2"]))
	assert.Check(t, is.Len(swarmSecrets(t, p), 1), "the old version is pruned")

	res = run("vault", "migrate", "--to", "external", "--push")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "nothing to migrate"))
	res = run("vault", "sync", "--stack", stack)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "everything is up to date"))

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
	assertNoValueInText(t, "docker inspect", inspectAll(t, p), values)
}

// digestProject is a project of one service, web, on the base image, that
// reads variable through variable_FILE (declared in x-vault, so migrate
// moves it there) and writes the digest of what it reads to /tmp/seen,
// where docker exec can see it. Its environment: block is last, so that a
// caller can append entries to it.
func digestProject(variable, value string) string {
	return fmt.Sprintf(`x-vault:
  file-variables:
    %[1]s:
      %[2]s: %[2]s_FILE

services:
  web:
    image: %[1]s
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sha256sum \"$$%[2]s_FILE\" | cut -c1-64 > /tmp/seen; sleep 1 & wait; done"]
    stop_grace_period: 2s
    environment:
      %[2]s: %[3]s
`, env.baseImage, variable, value)
}
