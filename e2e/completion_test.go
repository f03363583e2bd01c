//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// Shell completion through the real docker CLI: `docker __complete vault
// ...` is delegated by the docker CLI to the plugin, as a shell's
// completion script asks for it.

// cobra's ShellCompDirective values (the number after ":" on the last line).
const (
	compDefault    = 0
	compNoFileComp = 4
	compFilterExt  = 8
	compFilterDirs = 16
)

// completeVault runs `docker __completeNoDesc vault ARGS` in dir and returns
// the completions and the directive.
func completeVault(t *testing.T, dir string, kvEnv []string, args ...string) ([]string, int) {
	t.Helper()
	res := vaultDocker(t, kvEnv, dir, append([]string{"__completeNoDesc", "vault"}, args...)...)
	res.Assert(t, icmd.Success)
	lines := strings.Split(strings.TrimSuffix(res.Stdout(), "\n"), "\n")
	last := lines[len(lines)-1]
	assert.Assert(t, strings.HasPrefix(last, ":"), "no directive: %q (stderr %q)", res.Stdout(), res.Stderr())
	d, err := strconv.Atoi(last[1:])
	assert.NilError(t, err)
	if len(lines) == 1 {
		return nil, d
	}
	return lines[:len(lines)-1], d
}

func TestCompletionFilesAndFolders(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args  []string
		d     int
		comps []string
	}{
		// The cases: files and folders are offered, not NoFileComp.
		{[]string{"migrate", "-f", ""}, compFilterExt, []string{"yaml", "yml"}},
		{[]string{"migrate", ""}, compFilterExt, []string{"yaml", "yml"}},
		{[]string{"deploy", "-c", ""}, compFilterExt, []string{"yaml", "yml"}},
		{[]string{"sync", "-c", ""}, compFilterExt, []string{"yaml", "yml"}},
		{[]string{"sync", "--env-file", ""}, compDefault, nil},
		{[]string{"set", "-f", ""}, compDefault, nil},
		{[]string{"build", ""}, compFilterDirs, nil},
		{[]string{"build", "-t", "docker-vault-test/x:1", "--no-leak-check", ""}, compFilterDirs, nil},
		{[]string{"build", "-f", ""}, compDefault, nil},
		// Nothing to offer: no file names either.
		{[]string{"sync", ""}, compNoFileComp, nil},
		{[]string{"ls", "--vault", ""}, compNoFileComp, nil},
	} {
		comps, d := completeVault(t, dir, nil, tc.args...)
		assert.Check(t, is.Equal(d, tc.d), "%v", tc.args)
		assert.Check(t, is.DeepEqual(comps, tc.comps), "%v", tc.args)
	}
}

func TestCompletionEnums(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args  []string
		comps []string
	}{
		{[]string{"migrate", "--to", ""}, []string{"file", "external", "environment"}},
		{[]string{"migrate", "--to", "ex"}, []string{"external"}},
		{[]string{"migrate", "--pull", ""}, []string{"missing", "never", "always"}},
		{[]string{"migrate", "--pull=n"}, []string{"never"}},
		{[]string{"ls", "--format", ""}, []string{"table", "json"}},
		{[]string{"sync", "--credential", "azure"}, []string{"azure-cli", "azure-powershell"}},
		{[]string{"build", "--credential", "managed"}, []string{"managed-identity"}},
		{[]string{"deploy", "--resolve-image", ""}, []string{"always", "changed", "never"}},
	} {
		comps, d := completeVault(t, dir, nil, tc.args...)
		assert.Check(t, is.Equal(d, compNoFileComp), "%v", tc.args)
		assert.Check(t, is.DeepEqual(comps, tc.comps), "%v", tc.args)
	}
}

// TestCompletionStackNames: a stack is any service labelled with its
// namespace, as `docker stack deploy` labels them; one service of the
// test's own stands for it.
func TestCompletionStackNames(t *testing.T) {
	ctx := context.Background()
	c := engineClient(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	stack := "dvtest-cmpl-" + hex.EncodeToString(b)
	svc, err := c.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: swarm.ServiceSpec{
		Annotations: swarm.Annotations{
			Name:   stack + "_web",
			Labels: map[string]string{"com.docker.stack.namespace": stack},
		},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:   env.baseImage,
				Command: []string{"sleep", "300"},
				Labels:  map[string]string{"com.docker.stack.namespace": stack},
			},
		},
	}})
	assert.NilError(t, err)
	t.Cleanup(func() { _, _ = c.ServiceRemove(context.Background(), svc.ID, client.ServiceRemoveOptions{}) })

	dir := t.TempDir()
	comps, d := completeVault(t, dir, nil, "deploy", "")
	assert.Check(t, is.Equal(d, compNoFileComp))
	assert.Check(t, is.Contains(comps, stack))
	for _, n := range comps {
		assert.Check(t, n != "", "an empty stack name in %v", comps)
	}

	comps, _ = completeVault(t, dir, nil, "deploy", stack[:len(stack)-2])
	assert.Check(t, is.DeepEqual(comps, []string{stack}))
	comps, _ = completeVault(t, dir, nil, "sync", "--stack", stack[:len(stack)-2])
	assert.Check(t, is.DeepEqual(comps, []string{stack}))
	comps, _ = completeVault(t, dir, nil, "deploy", stack, "")
	assert.Check(t, is.Len(comps, 0), "deploy takes one stack")

	// A context that does not exist offers nothing, quietly: completion
	// never falls back to another engine. (DOCKER_CONTEXT: the docker CLI
	// does not pass its global flags, --context included, on to a plugin's
	// completion.)
	res := vaultDocker(t, []string{"DOCKER_CONTEXT=dvtest-no-such-context"}, dir, "__completeNoDesc", "vault", "deploy", "")
	assert.Check(t, !strings.Contains(res.Stdout(), stack), res.Stdout())
	assert.Check(t, is.Equal(strings.TrimSpace(res.Stdout()), ":4"))

	// An engine that does not answer (a closed port on 127.0.0.1): nothing
	// offered, exit 0, no error on stdout, and no waiting.
	start := time.Now()
	res = vaultDocker(t, []string{"DOCKER_HOST=tcp://127.0.0.1:1"}, dir, "__completeNoDesc", "vault", "sync", "--stack", "")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(strings.TrimSpace(res.Stdout()), ":4"))
	assert.Check(t, time.Since(start) < 10*time.Second, "took %s", time.Since(start))
}

func TestCompletionProject(t *testing.T) {
	dir := t.TempDir()
	value := newSecretValue("completion")
	compose := `services:
  web:
    image: ` + env.baseImage + `
    environment:
      DB_PASSWORD: ` + value + `
    secrets: [api_key]
  worker:
    image: ` + env.baseImage + `
  debug:
    image: ` + env.baseImage + `
    profiles: [debugging]
secrets:
  api_key:
    file: ./api_key.txt
`
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o600))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "other.yaml"),
		[]byte("services:\n  solo:\n    image: "+env.baseImage+"\nsecrets:\n  solo_key:\n    file: ./s.txt\n"), 0o600))

	for _, tc := range []struct {
		args  []string
		comps []string
	}{
		{[]string{"build", "--compose", ""}, []string{"debug", "web", "worker"}},
		{[]string{"build", "--compose", "-f", "other.yaml", ""}, []string{"solo"}},
		{[]string{"push", ""}, []string{"api_key"}},
		{[]string{"push", "-f", "other.yaml", ""}, []string{"solo_key"}},
		{[]string{"push", "-c", "other.yaml", ""}, []string{"solo_key"}},
		{[]string{"sync", "--profile", ""}, []string{"debugging"}},
		{[]string{"migrate", "--include", "web."}, []string{"web.DB_PASSWORD"}},
		{[]string{"push", "-f", "missing.yaml", ""}, nil},
	} {
		res := vaultDocker(t, nil, dir, append([]string{"__completeNoDesc", "vault"}, tc.args...)...)
		assertNoValue(t, res, map[string]string{"DB_PASSWORD": value})
		comps, d := completeVault(t, dir, nil, tc.args...)
		assert.Check(t, is.Equal(d, compNoFileComp), "%v", tc.args)
		assert.Check(t, is.DeepEqual(comps, tc.comps), "%v", tc.args)
	}
}

// TestCompletionVaultNames: Key Vault names only with --vault, and a slow
// vault offers nothing within about a second.
func TestCompletionVaultNames(t *testing.T) {
	seed := map[string]string{"db-password": newSecretValue("kv1"), "api-key": newSecretValue("kv2")}
	em := startEmulator(t, seed)
	var url string
	for _, kv := range em.Env {
		if v, ok := strings.CutPrefix(kv, "DOCKER_VAULT_URL="); ok {
			url = v
		}
	}
	assert.Assert(t, url != "")
	dir := t.TempDir()

	comps, d := completeVault(t, dir, em.Env, "set", "--vault", url, "")
	assert.Check(t, is.Equal(d, compNoFileComp))
	assert.Check(t, is.DeepEqual(comps, []string{"api-key", "db-password"}))

	// DOCKER_VAULT_URL (in em.Env) alone: no call, no names.
	comps, _ = completeVault(t, dir, em.Env, "set", "")
	assert.Check(t, is.Len(comps, 0))

	em.SetFaults(t, `{"latency":"5s"}`)
	start := time.Now()
	res := vaultDocker(t, em.Env, dir, "__completeNoDesc", "vault", "set", "--vault", url, "")
	took := time.Since(start)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(strings.TrimSpace(res.Stdout()), ":4"))
	assert.Check(t, took < 3*time.Second, "completion took %s", took)
	assertNoValue(t, res, seed)
}
