package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// TestDeployAndRotateStack deploys a stack whose service proves, by digest,
// which value it reads from /run/secrets, rotates the value in Key Vault,
// syncs with --wait, and checks that the task sees the new value, the old
// version is gone, a second sync costs one Key Vault list, and a second
// deploy does not revert the rotation.
func TestDeployAndRotateStack(t *testing.T) {
	p := syncPrefix(t)
	stack := p
	cleanupSwarm(t, p, stack)
	values := map[string]string{"v1": newSecretValue("stack1"), "v2": newSecretValue("stack2"), "v3": newSecretValue("stack3")}
	em := startEmulator(t, map[string]string{"db-password": values["v1"]})
	dir := t.TempDir()
	// The service writes the digest of what it reads, every second, where
	// `docker exec` can read it: the value itself is never printed.
	writeProjectFile(t, dir, "compose.yaml", `services:
  web:
    image: `+env.baseImage+`
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sha256sum /run/secrets/db_password | cut -c1-64 > /tmp/seen; sleep 1 & wait; done"]
    stop_grace_period: 2s
    secrets:
      - source: db_password
        uid: "0"
        gid: "1"
        mode: 0440
secrets:
  db_password:
    external: true
    name: `+p+`_db_password
    x-vault:
      name: db-password
`)
	service := stack + "_web"
	const target = " db_password 0:1 -r--r-----"
	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, em.Env, dir, args...)
		outputs = append(outputs, res)
		return res
	}
	serviceSecret := func() string {
		t.Helper()
		res := docker(t, nil, "service", "inspect", "--format",
			"{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}} {{.File.Name}} {{.File.UID}}:{{.File.GID}} {{.File.Mode}}{{end}}", service)
		res.Assert(t, icmd.Success)
		return strings.TrimSpace(res.Stdout())
	}

	// --dry-run plans the sync and shows the override, deploys nothing.
	res := run("vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", "--dry-run", stack)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "would run docker stack deploy "+stack))
	assert.Check(t, is.Len(swarmSecrets(t, p), 0))
	assert.Check(t, docker(t, nil, "service", "inspect", service).ExitCode != 0, "a dry run deployed the stack")

	res = run("vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stack)
	res.Assert(t, icmd.Success)
	first := swarmSecrets(t, p)
	assert.Assert(t, is.Len(first, 1))
	assert.Check(t, is.Regexp(`^`+p+`_db_password_[0-9a-f]{8}$`, first[0]))
	assert.Check(t, is.Equal(serviceSecret(), first[0]+target))
	waitServiceSeen(t, service, sum(values["v1"]))

	// Rotate in Key Vault; sync --wait moves the task onto the new version
	// and, with --keep 0, removes the old one.
	rotateLater(t, em, "db-password", values["v2"])
	res = run("vault", "sync", "--stack", stack, "--wait", "--keep", "0")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Regexp(`(?m)^`+p+`_db_password +rotate +`+p+`_db_password_[0-9a-f]{8} +[0-9a-f]{8} +services: `+service+`$`, res.Stdout()))
	assert.Check(t, is.Regexp(`(?m)^`+p+`_db_password +prune +`+first[0]+` `, res.Stdout()))
	second := swarmSecrets(t, p)
	assert.Assert(t, is.Len(second, 1), "the old version must be gone after --wait --keep 0: %v", second)
	assert.Check(t, second[0] != first[0])
	assert.Check(t, is.Equal(serviceSecret(), second[0]+target), "target and mode kept")
	waitServiceSeen(t, service, sum(values["v2"]))

	// Nothing changed: one Key Vault list, no value read.
	em.ResetCounters(t)
	res = run("vault", "sync", "--stack", stack)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "everything is up to date"))
	c := em.Counters(t)
	assert.Check(t, is.Equal(c["GET /secrets"], 1), "%v", c)
	assert.Check(t, is.Equal(c["GET /secrets/{name}/{version}"], 0), "%v", c)

	// A second deploy keeps the rotated version.
	res = run("vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stack)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(serviceSecret(), second[0]+target), "deploy reverted the rotation")
	assert.Check(t, is.DeepEqual(swarmSecrets(t, p), second))
	waitServiceSeen(t, service, sum(values["v2"]))

	// Rotate again and let deploy do the sync, without --wait: the old
	// version may still be mounted by the stopping task, and whatever the
	// sync could not prune, deploy must name the new version.
	rotateLater(t, em, "db-password", values["v3"])
	res = run("vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", "--keep", "0", stack)
	res.Assert(t, icmd.Success)
	third := currentSecret(t, em, dir, p+"_db_password")
	assert.Check(t, third != second[0])
	assert.Check(t, is.Equal(serviceSecret(), third+target), "deploy named an old version")
	waitServiceSeen(t, service, sum(values["v3"]))

	// JSON of a sync: valid, the plan for this stack's secret.
	res = run("vault", "sync", "--stack", stack, "--format", "json", "--keep", "0")
	res.Assert(t, icmd.Success)
	var plan syncPlan
	assert.NilError(t, json.Unmarshal(syncJSON(t, res.Stdout()), &plan), res.Stdout())
	assert.Check(t, len(plan.Swarm.Actions) >= 1)
	assert.Check(t, is.Equal(plan.Swarm.Actions[0].SwarmSecret, third))

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
	assertNoValueInText(t, "docker inspect", inspectAll(t, p), values)
	for k, v := range values {
		assertNoValueInText(t, "docker inspect", inspectAll(t, p), map[string]string{k + " digest": sum(v)})
	}
}

// waitServiceSeen waits until every running task of the service reads the
// value whose digest is want.
func waitServiceSeen(t *testing.T, service, want string) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		res := docker(t, nil, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+service, "--filter", "status=running")
		ids := strings.Fields(res.Stdout())
		if len(ids) == 0 {
			return poll.Continue("no running task of %s", service)
		}
		for _, id := range ids {
			if seen(t, id) != want {
				return poll.Continue("a task of %s does not see the expected value", service)
			}
		}
		return poll.Success()
	}, poll.WithTimeout(90*time.Second), poll.WithDelay(500*time.Millisecond))
}
