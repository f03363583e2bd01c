package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// These tests run several stacks on the one test-bed swarm, as production
// swarms do, and check that a sync touches only what is its own.

// stackProject writes a project whose service proves, by digest, which value
// it reads from /run/secrets/db_password. The swarm secret's base name is
// the same in every project (name); kvName picks the Key Vault secret, or
// "" marks the secret local (x-vault: false).
func stackProject(t *testing.T, name, kvName string) string {
	t.Helper()
	xvault := "\n      name: " + kvName
	if kvName == "" {
		xvault = " false"
	}
	dir := t.TempDir()
	writeProjectFile(t, dir, "compose.yaml", `services:
  web:
    image: `+env.baseImage+`
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sha256sum /run/secrets/db_password | cut -c1-64 > /tmp/seen; sleep 1 & wait; done"]
    stop_grace_period: 2s
    secrets: [db_password]
secrets:
  db_password:
    external: true
    name: `+name+`
    x-vault:`+xvault+`
`)
	return dir
}

// disable disables a Key Vault secret in the emulator.
func (e *emulator) disable(t *testing.T, name string) {
	t.Helper()
	resp, err := http.Post(e.Admin+"/secrets/"+name+"/disable", "", nil)
	assert.NilError(t, err)
	resp.Body.Close()
	assert.Assert(t, resp.StatusCode < 300, resp.Status)
}

// TestStacksKeepTheirOwnSecrets: two stacks declare the same compose secret
// mapped to different Key Vault secrets, then to two vaults. Alternating
// syncs of each leave every task on its own value; a third stack that uses
// the same secret by hand is reported, never updated.
func TestStacksKeepTheirOwnSecrets(t *testing.T) {
	p := syncPrefix(t)
	stackA, stackB, stackC := p+"a", p+"b", p+"c"
	cleanupSwarm(t, p, stackA, stackB)
	values := map[string]string{"a1": newSecretValue("a1"), "b1": newSecretValue("b1")}
	em := startEmulator(t, map[string]string{"a-db": values["a1"], "b-db": values["b1"]})
	name := p + "_db_password"
	dirA := stackProject(t, name, "a-db")
	dirB := stackProject(t, name, "b-db")
	var outputs []*icmd.Result
	run := func(kvEnv []string, dir string, args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, kvEnv, dir, args...)
		outputs = append(outputs, res)
		res.Assert(t, icmd.Success)
		return res
	}
	run(em.Env, dirA, "vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stackA)
	run(em.Env, dirB, "vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stackB)
	waitServiceSeen(t, stackA+"_web", sum(values["a1"]))
	waitServiceSeen(t, stackB+"_web", sum(values["b1"]))

	// Both rotate; three alternating syncs each move only their own stack.
	rotateAll(t, em, []string{"a-db", "b-db"}, values, "2")
	for i, step := range []struct {
		env               []string
		dir, stack, other string
	}{
		{em.Env, dirA, stackA, stackB}, {em.Env, dirB, stackB, stackA}, {em.Env, dirA, stackA, stackB},
	} {
		res := run(step.env, step.dir, "vault", "sync", "--stack", step.stack, "--wait")
		assert.Check(t, !strings.Contains(res.Stderr(), "updated service "+step.other+"_web"), "sync %d of %s moved %s:\n%s", i, step.stack, step.other, res.Stderr())
	}
	waitServiceSeen(t, stackA+"_web", sum(values["a-db-2"]))
	waitServiceSeen(t, stackB+"_web", sum(values["b-db-2"]))

	// A third stack uses A's current secret by hand. A's next rotation
	// reports it, and leaves it where it is.
	current := currentSecret(t, em, dirA, name)
	docker(t, nil, "service", "create", "--detach", "--name", stackC+"_x", "--label", "com.docker.stack.namespace="+stackC,
		"--secret", "source="+current+",target=db_password", env.baseImage, "sleep", "600").Assert(t, icmd.Success)
	t.Cleanup(func() { docker(t, nil, "service", "rm", stackC+"_x") })
	rotateAll(t, em, []string{"a-db"}, values, "3")
	res := run(em.Env, dirA, "vault", "sync", "--stack", stackA, "--format", "json")
	var plan struct {
		Swarm struct {
			Actions []struct {
				Action   string   `json:"action"`
				Services []string `json:"services"`
				Others   []string `json:"otherServices"`
				Reason   string   `json:"reason"`
			} `json:"actions"`
		} `json:"swarm"`
	}
	assert.NilError(t, json.Unmarshal(syncJSON(t, res.Stdout()), &plan), res.Stdout())
	rotate := plan.Swarm.Actions[0]
	assert.Check(t, is.Equal(rotate.Action, "rotate"))
	assert.Check(t, is.DeepEqual(rotate.Services, []string{stackA + "_web"}))
	assert.Check(t, is.DeepEqual(rotate.Others, []string{stackC + "_x"}))
	assert.Check(t, is.Contains(rotate.Reason, "--stack "+stackC+" or --all-stacks"))
	inUse := docker(t, nil, "service", "inspect", "--format", "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}{{end}}", stackC+"_x")
	assert.Check(t, is.Equal(strings.TrimSpace(inUse.Stdout()), current), "the other stack's service was moved")
	waitServiceSeen(t, stackA+"_web", sum(values["a-db-3"]))
	waitServiceSeen(t, stackB+"_web", sum(values["b-db-2"]))

	// Two vaults: B moves to a vault of its own with a Key Vault secret of
	// the same name as A's. Same compose name, same Key Vault name, another
	// vault: another identity.
	values["o1"] = newSecretValue("other-vault")
	other := startEmulator(t, map[string]string{"a-db": values["o1"]}, "--name", "othervault")
	dirB2 := stackProject(t, name, "a-db")
	run(other.Env, dirB2, "vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stackB)
	waitServiceSeen(t, stackB+"_web", sum(values["o1"]))
	for i := 0; i < 3; i++ {
		run(em.Env, dirA, "vault", "sync", "--stack", stackA, "--wait")
		run(other.Env, dirB2, "vault", "sync", "--stack", stackB, "--wait")
	}
	waitServiceSeen(t, stackA+"_web", sum(values["a-db-3"]))
	waitServiceSeen(t, stackB+"_web", sum(values["o1"]))

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
	assertNoValueInText(t, "docker inspect", inspectAll(t, p), values)
}

// TestSyncPartialRotation: with one disabled secret among three rotated
// ones, the other two rotate and the exit is 1, naming the one that failed.
func TestSyncPartialRotation(t *testing.T) {
	p := syncPrefix(t)
	cleanupSwarm(t, p)
	names := []string{"pa", "pb", "pc"}
	values := map[string]string{}
	seed := map[string]string{}
	for _, n := range names {
		values[n] = newSecretValue(n)
		seed[n] = values[n]
	}
	em := startEmulator(t, seed)
	dir := secretsProject(t, p, names...)
	res := vaultDocker(t, em.Env, dir, "vault", "sync")
	res.Assert(t, icmd.Success)
	first := swarmSecrets(t, p)
	assert.Assert(t, is.Len(first, 3))

	rotateAll(t, em, names, values, "2")
	em.disable(t, "pb")
	res = vaultDocker(t, em.Env, dir, "vault", "sync", "--keep", "1")
	assert.Check(t, is.Equal(res.ExitCode, 1), res.Combined())
	stderr := strings.TrimSpace(res.Stderr())
	lines := strings.Split(stderr, "\n")
	assert.Check(t, is.Equal(lines[len(lines)-1], `1 of 3 secrets failed, the others were synced: `+p+`_pb: Key Vault secret "pb" is disabled`))
	assert.Check(t, is.Regexp(`(?m)^`+p+`_pa +rotate +`, res.Stdout()))
	assert.Check(t, is.Regexp(`(?m)^`+p+`_pb +error +`, res.Stdout()))
	assert.Check(t, is.Regexp(`(?m)^`+p+`_pc +rotate +`, res.Stdout()))
	after := swarmSecrets(t, p)
	assert.Check(t, is.Len(after, 5), "two new versions, the disabled one untouched: %v", after)
	assertNoValue(t, res, values)
}

// TestDeployAllLocal: a stack whose only secret is `x-vault: false` (a swarm
// secret managed by hand) deploys with no vault at all, naming the secret as
// the compose file does.
func TestDeployAllLocal(t *testing.T) {
	p := syncPrefix(t)
	stack := p + "l"
	cleanupSwarm(t, p, stack)
	value := newSecretValue("by-hand")
	cmd := icmd.Command("docker", "secret", "create", p+"_legacy", "-")
	cmd.Stdin = strings.NewReader(value)
	icmd.RunCmd(cmd).Assert(t, icmd.Success)
	dir := stackProject(t, p+"_legacy", "")
	res := vaultDocker(t, nil, dir, "vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", "--dry-run", stack)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "no Key Vault-backed secret to sync: would run docker stack deploy "+stack))
	res = vaultDocker(t, nil, dir, "vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stack)
	res.Assert(t, icmd.Success)
	waitServiceSeen(t, stack+"_web", sum(value))
	assert.Check(t, is.DeepEqual(swarmSecrets(t, p), []string{p + "_legacy"}))
	assertNoValue(t, res, map[string]string{"legacy": value})
}
