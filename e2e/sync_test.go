package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// These tests run `docker vault sync` (and deploy_test.go `deploy`) through
// the real docker CLI against the real engine of the test bed and a
// kv-emulator process. Every swarm object and Compose project a test makes
// carries a prefix of its own: other tests share the engine.

// syncPrefix is a name unique to one test, usable for swarm secrets,
// stacks and Compose projects (lower case letters and digits).
func syncPrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "dv" + hex.EncodeToString(b)
}

// newSecretValue is a random value no output may contain.
func newSecretValue(label string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "e2e-" + label + "-" + hex.EncodeToString(b)
}

// sum is the hex sha256 of a value, as the test services compute it.
func sum(value string) string {
	s := sha256.Sum256([]byte(value))
	return hex.EncodeToString(s[:])
}

// rotateLater stores a new version of name in the emulator, in a later
// second than anything before: Key Vault's "updated" time, which is how a
// sync sees a change without reading values, has a resolution of one second.
// It returns once that second is over, so the next sync reads a settled
// version (a version read within its own second is read again by the sync
// after, which the tests of the no-op cost would count).
func rotateLater(t *testing.T, em *emulator, name, value string) string {
	t.Helper()
	nextSecond()
	v := em.SetSecret(t, name, value)
	nextSecond()
	return v
}

// nextSecond sleeps into the next wall-clock second.
func nextSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
}

func writeProjectFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	assert.NilError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// swarmSecrets lists the swarm secrets whose names start with prefix, sorted.
func swarmSecrets(t *testing.T, prefix string) []string {
	t.Helper()
	res := docker(t, nil, "secret", "ls", "--format", "{{.Name}}")
	res.Assert(t, icmd.Success)
	var out []string
	for _, n := range strings.Fields(res.Stdout()) {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// cleanupSwarm removes, when the test ends, the stacks, then every service
// and swarm secret whose name starts with prefix. Secrets go once the
// tasks that mount them are gone.
func cleanupSwarm(t *testing.T, prefix string, stacks ...string) {
	t.Helper()
	t.Cleanup(func() {
		for _, s := range stacks {
			docker(t, nil, "stack", "rm", s)
		}
		res := docker(t, nil, "service", "ls", "--format", "{{.Name}}")
		for _, n := range strings.Fields(res.Stdout()) {
			if strings.HasPrefix(n, prefix) {
				docker(t, nil, "service", "rm", n)
			}
		}
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			left := swarmSecrets(t, prefix)
			for _, n := range left {
				docker(t, nil, "secret", "rm", n)
			}
			if left = swarmSecrets(t, prefix); len(left) > 0 {
				return poll.Continue("swarm secrets still in use: %v", left)
			}
			return poll.Success()
		}, poll.WithTimeout(90*time.Second), poll.WithDelay(time.Second))
	})
}

// inspectAll is `docker inspect` of every swarm secret, service and
// container whose name starts with prefix: what a value must never be in.
func inspectAll(t *testing.T, prefix string) string {
	t.Helper()
	var b strings.Builder
	for _, kind := range []string{"secret", "service", "container"} {
		args := []string{kind, "ls", "--format", "{{.ID}} {{.Name}}"}
		if kind == "container" {
			args = []string{"container", "ls", "-a", "--format", "{{.ID}} {{.Names}}"}
		}
		res := docker(t, nil, args...)
		res.Assert(t, icmd.Success)
		var ids []string
		for _, line := range strings.Split(strings.TrimSpace(res.Stdout()), "\n") {
			if id, name, ok := strings.Cut(line, " "); ok && strings.Contains(name, prefix) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		res = docker(t, nil, append([]string{kind, "inspect"}, ids...)...)
		res.Assert(t, icmd.Success)
		b.WriteString(res.Stdout())
	}
	return b.String()
}

// assertNoValueInText checks that text (an inspect dump, a file) holds none
// of the values. It names the value's key, never the value.
func assertNoValueInText(t *testing.T, what, text string, values map[string]string) {
	t.Helper()
	for name, v := range values {
		assert.Check(t, !strings.Contains(text, v), "%s contains the value of %s", what, name)
	}
}

// assertOneLineError checks a failed run: exit code 1, nothing on stdout
// but the plan, one line on stderr containing want.
func assertOneLineError(t *testing.T, res *icmd.Result, want string) {
	t.Helper()
	assert.Check(t, is.Equal(res.ExitCode, 1), "stdout: %s\nstderr: %s", res.Stdout(), res.Stderr())
	stderr := strings.TrimSpace(res.Stderr())
	assert.Check(t, !strings.Contains(stderr, "\n"), "the error is not one line: %q", stderr)
	assert.Check(t, is.Contains(stderr, want))
	assert.Check(t, !strings.Contains(res.Stdout(), "up to date"), res.Stdout())
	assert.Check(t, !strings.Contains(res.Stdout(), "changes applied"), res.Stdout())
}

// secretsProject writes a compose file declaring one external secret per
// Key Vault name, named <prefix>_<kv name with '-' as '_'>, used by no
// service.
func secretsProject(t *testing.T, prefix string, kvNames ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("secrets:\n")
	for _, kv := range kvNames {
		key := strings.ReplaceAll(kv, "-", "_")
		fmt.Fprintf(&b, "  %s:\n    external: true\n    name: %s_%s\n    x-vault:\n      name: %s\n", key, prefix, key, kv)
	}
	dir := t.TempDir()
	writeProjectFile(t, dir, "compose.yaml", b.String())
	return dir
}

// syncPlan is the part of `sync --format json` the tests read.
type syncPlan struct {
	Vault string `json:"vault"`
	Swarm struct {
		Actions []struct {
			Action      string   `json:"action"`
			Secret      string   `json:"secret"`
			VaultSecret string   `json:"vaultSecret"`
			SwarmSecret string   `json:"swarmSecret"`
			Version     string   `json:"version"`
			Services    []string `json:"services"`
		} `json:"actions"`
	} `json:"swarm"`
	Files []struct {
		Secret string `json:"secret"`
		Path   string `json:"path"`
		Action string `json:"action"`
	} `json:"files"`
	DryRun bool   `json:"dryRun"`
	Error  string `json:"error"`
}

func (p syncPlan) kinds() []string {
	var out []string
	for _, a := range p.Swarm.Actions {
		out = append(out, a.Action+" "+a.Secret)
	}
	return out
}

// TestSyncSwarmSecrets: a project of swarm secrets, no service: --dry-run
// and --format json, creation, the no-op cost, rotation with --keep.
func TestSyncSwarmSecrets(t *testing.T) {
	p := syncPrefix(t)
	cleanupSwarm(t, p)
	values := map[string]string{"db-password": newSecretValue("db"), "api-key": newSecretValue("api")}
	em := startEmulator(t, values)
	dir := secretsProject(t, p, "api-key", "db-password")
	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, em.Env, dir, append([]string{"vault", "sync"}, args...)...)
		outputs = append(outputs, res)
		return res
	}

	// --dry-run prints the plan and changes nothing.
	res := run("--dry-run")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "dry run: 2 changes planned, nothing changed"))
	assert.Check(t, is.Regexp(`(?m)^`+p+`_db_password +create +`+p+`_db_password_[0-9a-f]{8} `, res.Stdout()))
	assert.Check(t, is.Len(swarmSecrets(t, p), 0))

	// --format json of a dry run is the same plan, as JSON.
	res = run("--dry-run", "--format", "json")
	res.Assert(t, icmd.Success)
	var plan syncPlan
	assert.NilError(t, json.Unmarshal(syncJSON(t, res.Stdout()), &plan), res.Stdout())
	assert.Check(t, is.Equal(plan.Vault, "https://emulator.vault.azure.net"))
	assert.Check(t, is.DeepEqual(plan.kinds(), []string{"create " + p + "_api_key", "create " + p + "_db_password"}))
	assert.Check(t, is.Len(swarmSecrets(t, p), 0))

	// The sync itself, as JSON: the secrets it made are the ones the plan names.
	res = run("--format", "json")
	res.Assert(t, icmd.Success)
	plan = syncPlan{}
	assert.NilError(t, json.Unmarshal(syncJSON(t, res.Stdout()), &plan), res.Stdout())
	assert.Check(t, !plan.DryRun)
	var made []string
	for _, a := range plan.Swarm.Actions {
		assert.Check(t, is.Equal(a.Action, "create"))
		assert.Check(t, is.Len(a.Version, 32))
		made = append(made, a.SwarmSecret)
	}
	assert.Check(t, is.DeepEqual(swarmSecrets(t, p), made))
	assert.Check(t, is.Contains(res.Stderr(), "created "+made[0]))

	// Nothing changed: one Key Vault list, no value read.
	em.ResetCounters(t)
	res = run()
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "everything is up to date"))
	c := em.Counters(t)
	assert.Check(t, is.Equal(c["GET /secrets"], 1), "%v", c)
	assert.Check(t, is.Equal(c["GET /secrets/{name}/{version}"], 0), "%v", c)

	// Rotate one: only it is read; the previous version stays (--keep 1),
	// the one before goes.
	values["db-password-1"] = newSecretValue("db2")
	rotateLater(t, em, "db-password", values["db-password-1"])
	em.ResetCounters(t)
	res = run()
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "1 changes applied"))
	assert.Check(t, is.Equal(em.Counters(t)["GET /secrets/{name}/{version}"], 1))
	assert.Check(t, is.Len(swarmSecrets(t, p+"_db_password_"), 2))
	values["db-password-2"] = newSecretValue("db3")
	rotateLater(t, em, "db-password", values["db-password-2"])
	res = run("--keep", "1")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Regexp(`(?m)^`+p+`_db_password +prune +`+made[1]+` `, res.Stdout()))
	dbs := swarmSecrets(t, p+"_db_password_")
	assert.Check(t, is.Len(dbs, 2))
	assert.Check(t, !slices.Contains(dbs, made[1]), "the oldest version was not pruned: %v", dbs)

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
	assertNoValueInText(t, "docker inspect", inspectAll(t, p), values)
}

// TestSyncComposeFiles: plain Compose with file secrets. The files are
// written 0600; a running container keeps the old inode, so sync names it,
// and --restart (on this run or a later one) makes it see the new value.
func TestSyncComposeFiles(t *testing.T) {
	p := syncPrefix(t)
	values := map[string]string{"v1": newSecretValue("f1"), "v2": newSecretValue("f2"), "v3": newSecretValue("f3")}
	em := startEmulator(t, map[string]string{"app-token": values["v1"]})
	dir := t.TempDir()
	writeProjectFile(t, dir, "compose.yaml", `name: `+p+`
services:
  app:
    image: `+env.baseImage+`
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sha256sum /run/secrets/token | cut -c1-64 > /tmp/seen; sleep 1 & wait; done"]
    secrets: [token]
secrets:
  token:
    file: ./secrets/token
    x-vault: app-token
`)
	t.Cleanup(func() { vaultDocker(t, em.Env, dir, "compose", "down", "--timeout", "1") })
	file := filepath.Join(dir, "secrets", "token")
	container := p + "-app-1"
	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, em.Env, dir, args...)
		outputs = append(outputs, res)
		return res
	}
	holds := func(want string) {
		t.Helper()
		b, err := os.ReadFile(file)
		assert.NilError(t, err)
		assert.Check(t, string(b) == want, "the secret file does not hold the expected value")
		fi, err := os.Stat(file)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o600)))
	}

	res := run("vault", "sync", "--dry-run")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "dry run: 1 changes planned, nothing changed"))
	_, err := os.Stat(filepath.Join(dir, "secrets"))
	assert.Check(t, os.IsNotExist(err), "a dry run wrote files")

	res = run("vault", "sync")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Regexp(`(?m)^token +create +`+regexp.QuoteMeta(file)+` `, res.Stdout()))
	holds(values["v1"])

	run("compose", "up", "-d").Assert(t, icmd.Success)
	waitSeen(t, container, sum(values["v1"]))

	// Rotate, sync without --restart: the file changes, the container is
	// named, and it indeed still sees the old value.
	rotateLater(t, em, "app-token", values["v2"])
	res = run("vault", "sync")
	res.Assert(t, icmd.Success)
	holds(values["v2"])
	assert.Check(t, is.Contains(res.Stdout(), "containers still using the old value (rerun with --restart"))
	assert.Check(t, is.Contains(res.Stdout(), container))
	time.Sleep(2 * time.Second) // two rounds of the container's loop
	assert.Check(t, is.Equal(seen(t, container), sum(values["v1"])), "a bind-mounted file should keep its old inode")

	// The rerun the message asks for: nothing left to write, the container
	// is still restarted.
	res = run("vault", "sync", "--restart")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "everything is up to date"))
	assert.Check(t, is.Contains(res.Stdout(), "restarted: "+container))
	waitSeen(t, container, sum(values["v2"]))

	// Rotate and restart in one run; a second run restarts nothing.
	rotateLater(t, em, "app-token", values["v3"])
	res = run("vault", "sync", "--restart")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "1 changes applied"))
	assert.Check(t, is.Contains(res.Stdout(), "restarted: "+container))
	holds(values["v3"])
	waitSeen(t, container, sum(values["v3"]))
	res = run("vault", "sync", "--restart")
	res.Assert(t, icmd.Success)
	assert.Check(t, !strings.Contains(res.Stdout(), "restarted"), res.Stdout())

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
	assertNoValueInText(t, "docker inspect", inspectAll(t, p), values)
	state, err := os.ReadFile(filepath.Join(dir, "secrets", ".docker-vault-state.json"))
	assert.NilError(t, err)
	assertNoValueInText(t, "the state file", string(state), values)
	for k, v := range values {
		assertNoValueInText(t, "the state file", string(state), map[string]string{k + " digest": sum(v)})
	}
	entries, err := os.ReadDir(filepath.Join(dir, "secrets"))
	assert.NilError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Check(t, is.DeepEqual(names, []string{".docker-vault-state.json", "token"}), "temporary files left behind")
}

// currentSecret is the swarm secret holding the current version of the
// project's secret name, as a dry run plans it.
func currentSecret(t *testing.T, em *emulator, dir, name string) string {
	t.Helper()
	res := vaultDocker(t, em.Env, dir, "vault", "sync", "--dry-run", "--format", "json")
	res.Assert(t, icmd.Success)
	var plan syncPlan
	assert.NilError(t, json.Unmarshal(syncJSON(t, res.Stdout()), &plan))
	for _, a := range plan.Swarm.Actions {
		if a.Secret == name && a.Action != "prune" {
			return a.SwarmSecret
		}
	}
	t.Fatalf("no current version of %s in the plan", name)
	return ""
}

// rotateAll stores a new version of each of kvNames (recorded in values
// under name-tag), a second after anything before.
func rotateAll(t *testing.T, em *emulator, kvNames []string, values map[string]string, tag string) {
	t.Helper()
	nextSecond()
	for _, n := range kvNames {
		values[n+"-"+tag] = newSecretValue(n)
		em.SetSecret(t, n, values[n+"-"+tag])
	}
	nextSecond()
}

// seen is what a container's loop last wrote to /tmp/seen: the digest of
// the secret it reads, never the value.
func seen(t *testing.T, container string) string {
	t.Helper()
	res := docker(t, nil, "exec", container, "cat", "/tmp/seen")
	if res.ExitCode != 0 {
		return ""
	}
	return strings.TrimSpace(res.Stdout())
}

// waitSeen waits until the container reads the value whose digest is want.
func waitSeen(t *testing.T, container, want string) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if seen(t, container) == want {
			return poll.Success()
		}
		return poll.Continue("%s does not see the expected value", container)
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(500*time.Millisecond))
}

// TestSyncFaults: throttling is ridden out; an unreachable vault, a name
// conflict and an interrupted sync change nothing half-way, and the next run
// converges. The subtests are steps on one project, in order.
func TestSyncFaults(t *testing.T) {
	p := syncPrefix(t)
	cleanupSwarm(t, p)
	kvNames := []string{"s-1", "s-2", "s-3", "s-4", "s-5", "s-6"}
	values := map[string]string{}
	for _, n := range kvNames {
		values[n] = newSecretValue(n)
	}
	em := startEmulator(t, values)
	dir := secretsProject(t, p, kvNames...)
	var outputs []*icmd.Result
	run := func(extraEnv []string, args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, append(append([]string{}, em.Env...), extraEnv...), dir, append([]string{"vault", "sync"}, args...)...)
		outputs = append(outputs, res)
		return res
	}

	t.Run("unmanaged conflict on the third secret", func(t *testing.T) {
		// Someone made, by hand, the swarm secret the third one would be.
		res := run(nil, "--dry-run", "--format", "json")
		res.Assert(t, icmd.Success)
		var plan syncPlan
		assert.NilError(t, json.Unmarshal(syncJSON(t, res.Stdout()), &plan))
		taken := plan.Swarm.Actions[2].SwarmSecret
		assert.Assert(t, strings.HasPrefix(taken, p+"_s_3_"), taken)
		cmd := icmd.Command("docker", "secret", "create", taken, "-")
		cmd.Stdin = strings.NewReader("not a vault value")
		icmd.RunCmd(cmd).Assert(t, icmd.Success)

		// The other five are synced; the exit is 1 and the last line
		// names the one in conflict.
		res = run(nil)
		assert.Check(t, is.Equal(res.ExitCode, 1))
		lines := strings.Split(strings.TrimSpace(res.Stderr()), "\n")
		assert.Check(t, is.Contains(lines[len(lines)-1], "1 of 6 secrets failed, the others were synced: "+p+"_s_3: swarm secret "+taken+" ("))
		assert.Check(t, is.Contains(res.Stderr(), "is not managed by docker vault; remove or rename it"))
		assert.Check(t, is.Regexp(`(?m)^`+p+`_s_3 +error `, res.Stdout()), "the plan shows the failing row")
		assert.Check(t, is.Len(swarmSecrets(t, p), 6), "five created, the conflicting one left alone")

		docker(t, nil, "secret", "rm", taken).Assert(t, icmd.Success)
		res = run(nil)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Contains(res.Stdout(), "1 changes applied"))
		assert.Check(t, is.Len(swarmSecrets(t, p), 6))
		res = run(nil)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Contains(res.Stdout(), "everything is up to date"))
	})

	t.Run("throttled", func(t *testing.T) {
		em.SetFaults(t, `{"throttleRate":0.3,"retryAfter":"1s"}`)
		defer em.SetFaults(t, `{"throttleRate":0,"retryAfter":"0s"}`)
		em.ResetCounters(t)
		// A round sends 7 requests or more, so one without a single 429 is
		// rare (0.7^7, 8%), three in a row very rare: keep rotating until a
		// request was throttled, and every round must succeed.
		for round := 0; round < 3 && em.Counters(t)["fault: throttle"] == 0; round++ {
			rotateAll(t, em, kvNames, values, fmt.Sprintf("throttled%d", round))
			res := run(nil, "--timeout", "2m")
			res.Assert(t, icmd.Success)
			// 6 rotations, then also 6 prunes of the versions before the
			// previous one (--keep 1).
			assert.Check(t, is.Regexp(`(?m)^(6|12) changes applied$`, res.Stdout()))
		}
		assert.Check(t, em.Counters(t)["fault: throttle"] > 0, "no request was throttled: %v", em.Counters(t))
		assert.Check(t, is.Len(swarmSecrets(t, p), 12))
	})

	t.Run("vault unreachable", func(t *testing.T) {
		values["s-1-unreached"] = newSecretValue("s1")
		rotateLater(t, em, "s-1", values["s-1-unreached"])
		before := swarmSecrets(t, p)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		assert.NilError(t, err)
		closed := l.Addr().String()
		l.Close()
		start := time.Now()
		res := run([]string{"HTTPS_PROXY=http://" + closed}, "--timeout", "4s")
		elapsed := time.Since(start)
		assertOneLineError(t, res, "failed to list secrets from https://emulator.vault.azure.net: timed out after 4s (--timeout)")
		assert.Check(t, elapsed < 12*time.Second, "took %s", elapsed)
		assert.Check(t, is.DeepEqual(swarmSecrets(t, p), before))
	})

	t.Run("interrupted", func(t *testing.T) {
		// Slow Key Vault, one read at a time: the sync is still reading
		// values when it gets SIGINT.
		em.SetFaults(t, `{"latency":"400ms"}`)
		before := swarmSecrets(t, p)
		rotateAll(t, em, kvNames[1:], values, "interrupted")
		cmd := vaultDockerCmd(em.Env, dir, "vault", "sync", "--parallel", "1")
		proc := icmd.StartCmd(cmd)
		assert.NilError(t, proc.Error)
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			if em.Counters(t)["GET /secrets/{name}/{version}"] >= 2 {
				return poll.Success()
			}
			return poll.Continue("the sync has not started reading values")
		}, poll.WithTimeout(30*time.Second), poll.WithDelay(100*time.Millisecond))
		assert.NilError(t, proc.Cmd.Process.Signal(syscall.SIGINT))
		res := icmd.WaitOnCmd(15*time.Second, proc)
		outputs = append(outputs, res)
		assert.Check(t, res.ExitCode != 0, "an interrupted sync must not exit 0")
		assert.Check(t, !strings.Contains(res.Stdout(), "changes applied"), res.Stdout())
		assert.Check(t, is.DeepEqual(swarmSecrets(t, p), before), "interrupted while reading: nothing may change")

		em.SetFaults(t, `{"latency":"0s"}`)
		res = run(nil)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Contains(res.Stdout(), "changes applied"))
		res = run(nil)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Contains(res.Stdout(), "everything is up to date"))
		for _, n := range kvNames {
			assert.Check(t, is.Len(swarmSecrets(t, p+"_"+strings.ReplaceAll(n, "-", "_")+"_"), 2), n)
		}
	})

	t.Run("interrupted while waiting for services", func(t *testing.T) {
		// SIGINT during --wait, after the services were moved: the old
		// version is kept, and the next run finishes the job.
		svc := p + "_user"
		secret := currentSecret(t, em, dir, p+"_s_1")
		// A service of the project's stack (the one sync moves), as
		// `docker vault deploy` would make it.
		docker(t, nil, "service", "create", "--detach", "--name", svc, "--stop-grace-period", "1s",
			"--label", "com.docker.stack.namespace="+p,
			"--secret", "source="+secret+",target=s1", env.baseImage, "sleep", "600").Assert(t, icmd.Success)
		rotateAll(t, em, kvNames[:1], values, "waiting")
		proc := icmd.StartCmd(vaultDockerCmd(em.Env, dir, "vault", "sync", "--stack", p, "--wait", "--keep", "0"))
		assert.NilError(t, proc.Error)
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			if strings.Contains(proc.Stderr(), "updated service "+svc) {
				return poll.Success()
			}
			return poll.Continue("the service was not updated yet")
		}, poll.WithTimeout(30*time.Second), poll.WithDelay(50*time.Millisecond))
		assert.NilError(t, proc.Cmd.Process.Signal(syscall.SIGINT))
		res := icmd.WaitOnCmd(15*time.Second, proc)
		outputs = append(outputs, res)
		assert.Check(t, res.ExitCode != 0, "an interrupted sync must not exit 0")

		// The next runs prune what the old task held once it is gone.
		var versions []string
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			res := run(nil, "--stack", p, "--wait", "--keep", "0")
			if res.ExitCode != 0 {
				return poll.Error(fmt.Errorf("sync failed: %s", res.Stderr()))
			}
			if versions = swarmSecrets(t, p+"_s_1_"); len(versions) != 1 {
				return poll.Continue("old versions left: %v", versions)
			}
			return poll.Success()
		}, poll.WithTimeout(60*time.Second), poll.WithDelay(time.Second))
		assert.Check(t, is.Equal(versions[0], currentSecret(t, em, dir, p+"_s_1")))
		res = docker(t, nil, "service", "inspect", "--format", "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}} {{.File.Name}}{{end}}", svc)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Equal(strings.TrimSpace(res.Stdout()), versions[0]+" s1"))
	})

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
	assertNoValueInText(t, "docker inspect", inspectAll(t, p), values)
}

// TestSyncBadInput: each mistake is a one-line error naming what to fix,
// exit 1, and nothing applied.
func TestSyncBadInput(t *testing.T) {
	p := syncPrefix(t)
	cleanupSwarm(t, p)
	values := map[string]string{"present": newSecretValue("present")}
	em := startEmulator(t, values)
	project := func(t *testing.T, compose string) string {
		dir := t.TempDir()
		writeProjectFile(t, dir, "compose.yaml", compose)
		return dir
	}
	var outputs []*icmd.Result
	run := func(t *testing.T, dir string, args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, em.Env, dir, append([]string{"vault", "sync"}, args...)...)
		outputs = append(outputs, res)
		return res
	}

	t.Run("secret missing in the vault", func(t *testing.T) {
		dir := project(t, `secrets:
  a:
    external: true
    name: `+p+`_ma
    x-vault: present
  b:
    external: true
    name: `+p+`_mb
    x-vault: not-in-vault
`)
		// The secret that exists is synced all the same; the exit is 1 and
		// the last line names the one that failed.
		res := run(t, dir)
		assert.Check(t, is.Equal(res.ExitCode, 1))
		lines := strings.Split(strings.TrimSpace(res.Stderr()), "\n")
		assert.Check(t, is.Equal(lines[len(lines)-1], `1 of 2 secrets failed, the others were synced: `+p+`_mb: Key Vault secret "not-in-vault" does not exist in https://emulator.vault.azure.net: create it, or map the secret to another with x-vault.name`))
		assert.Check(t, is.Len(swarmSecrets(t, p+"_ma_"), 1))
		assert.Check(t, is.Len(swarmSecrets(t, p+"_mb_"), 0))
	})

	t.Run("file secret missing in the vault", func(t *testing.T) {
		dir := project(t, `secrets:
  a:
    file: ./secrets/a
    x-vault: present
  b:
    file: ./secrets/b
    x-vault: not-in-vault
`)
		// As for swarm secrets: a is written all the same, the exit is 1
		// and the last line names b.
		res := run(t, dir)
		assert.Check(t, is.Equal(res.ExitCode, 1), res.Combined())
		lines := strings.Split(strings.TrimSpace(res.Stderr()), "\n")
		assert.Check(t, is.Equal(lines[len(lines)-1], `1 of 2 secrets failed, the others were synced: b: Key Vault secret "not-in-vault" does not exist in https://emulator.vault.azure.net: create it, map the secret to another with x-vault.name, or mark it local with x-vault: false`))
		assert.Check(t, is.Regexp(`(?m)^a +create +`+regexp.QuoteMeta(filepath.Join(dir, "secrets", "a"))+` `, res.Stdout()))
		assert.Check(t, is.Regexp(`(?m)^b +error +`, res.Stdout()))
		b, err := os.ReadFile(filepath.Join(dir, "secrets", "a"))
		assert.Check(t, err)
		assert.Check(t, string(b) == values["present"], "secrets/a does not hold the value of present")
		_, err = os.Stat(filepath.Join(dir, "secrets", "b"))
		assert.Check(t, os.IsNotExist(err), "secrets/b may not be written")
	})

	t.Run("no secrets", func(t *testing.T) {
		dir := project(t, "services:\n  app:\n    image: "+env.baseImage+"\n")
		assertOneLineError(t, run(t, dir), "the project declares no Key Vault-backed secret (an external secret, or a file secret marked with x-vault): run `docker vault migrate` first")
	})

	t.Run("invalid swarm name", func(t *testing.T) {
		dir := project(t, "secrets:\n  a:\n    external: true\n    name: "+p+"_"+strings.Repeat("x", 60)+"\n    x-vault: present\n")
		assertOneLineError(t, run(t, dir), "is not a valid swarm secret name")
	})

	t.Run("no list permission", func(t *testing.T) {
		dir := project(t, "secrets:\n  a:\n    external: true\n    name: "+p+"_a\n    x-vault: present\n")
		em.SetFaults(t, `{"forbidden":["*"]}`)
		defer em.SetFaults(t, `{"forbidden":[]}`)
		res := run(t, dir)
		assertOneLineError(t, res, "failed to list secrets from https://emulator.vault.azure.net: access denied")
		assert.Check(t, is.Contains(res.Stderr(), "secrets list permission"))
		assert.Check(t, is.Len(swarmSecrets(t, p+"_a_"), 0))
	})

	t.Run("unknown format", func(t *testing.T) {
		dir := project(t, "secrets:\n  a:\n    external: true\n    name: "+p+"_a\n    x-vault: present\n")
		res := run(t, dir, "--format", "{{.Secret")
		assertOneLineError(t, res, `template parsing error`)
		assert.Check(t, is.Len(swarmSecrets(t, p+"_a_"), 0), "a bad flag must be refused before anything changes")
	})

	t.Run("watch interval", func(t *testing.T) {
		dir := project(t, "secrets:\n  a:\n    external: true\n    name: "+p+"_a\n    x-vault: present\n")
		for _, bad := range []string{"-1s", "1ns", "9s"} {
			res := run(t, dir, "--watch", bad)
			assertOneLineError(t, res, "invalid --watch "+strings.TrimPrefix(bad, "+")+": must be at least 10s")
		}
		assertOneLineError(t, run(t, dir, "--timeout", "-1s"), "invalid --timeout")
		assertOneLineError(t, run(t, dir, "--parallel", "0"), "invalid --parallel 0: must be 1 or more")
		assert.Check(t, is.Len(swarmSecrets(t, p+"_a_"), 0), "a bad flag must be refused before anything changes")
	})

	t.Run("error as json", func(t *testing.T) {
		dir := project(t, "secrets:\n  b:\n    external: true\n    name: "+p+"_b\n    x-vault: not-in-vault\n")
		res := run(t, dir, "--format", "json")
		assert.Check(t, is.Equal(res.ExitCode, 1))
		var plan syncPlan
		assert.NilError(t, json.Unmarshal(syncJSON(t, res.Stdout()), &plan), res.Stdout())
		assert.Check(t, is.DeepEqual(plan.kinds(), []string{"error " + p + "_b"}))
		assert.Check(t, is.Contains(plan.Error, `Key Vault secret "not-in-vault" does not exist`))
	})

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
}

// TestSyncWatch: --watch re-syncs on its interval (10s at the least),
// prints one line per change and nothing otherwise, never reads an
// unchanged value, and stops cleanly on SIGINT.
func TestSyncWatch(t *testing.T) {
	p := syncPrefix(t)
	cleanupSwarm(t, p)
	values := map[string]string{"w-one": newSecretValue("w1"), "w-two": newSecretValue("w2")}
	em := startEmulator(t, values)
	dir := secretsProject(t, p, "w-one", "w-two")

	proc := icmd.StartCmd(vaultDockerCmd(em.Env, dir, "vault", "sync", "--watch", "10s"))
	assert.NilError(t, proc.Error)
	defer func() {
		if proc.Cmd.ProcessState == nil {
			_ = proc.Cmd.Process.Kill()
		}
	}()
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(proc.Stderr()), "\n") {
			if l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	waitLines := func(n int) {
		t.Helper()
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			if len(lines()) >= n {
				return poll.Success()
			}
			return poll.Continue("%d lines so far", len(lines()))
		}, poll.WithTimeout(30*time.Second), poll.WithDelay(200*time.Millisecond))
	}
	waitLists := func(n int) {
		t.Helper()
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			if c := em.Counters(t)["GET /secrets"]; c >= n {
				return poll.Success()
			}
			return poll.Continue("waiting for round %d", n)
		}, poll.WithTimeout(30*time.Second), poll.WithDelay(200*time.Millisecond))
	}

	waitLines(2)
	assert.Check(t, is.Regexp(`^\d{4}-\d\d-\d\dT\S+ create +`+p+`_w_one -> `+p+`_w_one_[0-9a-f]{8}$`, lines()[0]))
	assert.Check(t, is.Regexp(` create +`+p+`_w_two -> `, lines()[1]))

	// A round with nothing changed: a list, no value read, no line.
	em.ResetCounters(t)
	waitLists(1)
	time.Sleep(500 * time.Millisecond)
	c := em.Counters(t)
	assert.Check(t, is.Equal(c["GET /secrets/{name}/{version}"], 0), "%v", c)
	assert.Check(t, is.Len(lines(), 2), strings.Join(lines(), "\n"))

	// A rotation: the next round reads that one value, says so in a line.
	values["w-one-2"] = newSecretValue("w1b")
	rotateLater(t, em, "w-one", values["w-one-2"])
	waitLines(3)
	assert.Check(t, is.Regexp(` rotate +`+p+`_w_one -> `+p+`_w_one_[0-9a-f]{8}$`, lines()[2]))
	assert.Check(t, is.Equal(em.Counters(t)["GET /secrets/{name}/{version}"], 1))
	assert.Check(t, is.Len(swarmSecrets(t, p+"_w_one_"), 2))

	// A failing round says so in one line, and the watch goes on.
	em.SetFaults(t, `{"forbidden":["*"]}`)
	waitLines(4)
	em.SetFaults(t, `{"forbidden":[]}`)
	assert.Check(t, is.Regexp(`^\S+ sync failed: failed to list secrets from https://emulator.vault.azure.net: access denied`, lines()[3]))

	assert.NilError(t, proc.Cmd.Process.Signal(syscall.SIGINT))
	res := icmd.WaitOnCmd(15*time.Second, proc)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), ""))
	assertNoValue(t, res, values)
}
