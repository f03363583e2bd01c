package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// lsSeed is what the emulator holds; no output of the plugin may contain a
// value.
var lsSeed = map[string]string{
	"db-password":  "e2e-ls-db-c0ffee",
	"prod-api-key": "e2e-ls-api-f00d",
	"smtp-user":    "e2e-ls-smtp-beef",
}

// lsEmulator builds scripts/kv-emulator, runs it as its own process seeded
// with lsSeed, and returns the environment it prints (SSL_CERT_FILE,
// HTTPS_PROXY, IDENTITY_ENDPOINT, IDENTITY_HEADER, DOCKER_VAULT_URL).
func lsEmulator(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "kv-emulator")
	build := exec.Command("go", "build", "-o", bin, "./scripts/kv-emulator")
	build.Dir = env.repoRoot
	out, err := build.CombinedOutput()
	assert.NilError(t, err, "building kv-emulator: %s", out)

	seed, err := json.Marshal(lsSeed)
	assert.NilError(t, err)
	seedFile := filepath.Join(dir, "seed.json")
	assert.NilError(t, os.WriteFile(seedFile, seed, 0o600))

	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--ca-out", filepath.Join(dir, "ca.pem"), "--seed", seedFile)
	stdout, err := cmd.StdoutPipe()
	assert.NilError(t, err)
	cmd.Stderr = os.Stderr
	assert.NilError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})

	// It prints its export lines once it is listening.
	lines := make(chan []string, 1)
	go func() {
		var kv []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok && strings.HasPrefix(sc.Text(), "export ") {
				kv = append(kv, k+"="+strings.Trim(v, "'"))
				if k == "DOCKER_VAULT_URL" {
					break
				}
			}
		}
		lines <- kv
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case kv := <-lines:
		assert.Assert(t, len(kv) == 5, "emulator printed %q", kv)
		return kv
	case <-time.After(60 * time.Second):
		t.Fatal("kv-emulator did not start")
	}
	return nil
}

// lsDocker runs the real docker CLI with the test config and an environment
// holding nothing Azure but what the emulator gave: the inherited AZURE_*,
// identity, proxy and CA variables would change which credential
// DefaultAzureCredential picks or where requests go.
func lsDocker(t *testing.T, kvEnv []string, dir string, args ...string) *icmd.Result {
	t.Helper()
	var environ []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AZURE_"), strings.HasPrefix(k, "IDENTITY_"), strings.HasPrefix(k, "MSI_"),
			strings.HasPrefix(k, "SSL_CERT_"), k == "IMDS_ENDPOINT", k == "DOCKER_VAULT_URL",
			strings.HasSuffix(strings.ToUpper(k), "_PROXY"):
			continue
		}
		environ = append(environ, kv)
	}
	cmd := icmd.Command("docker", args...)
	cmd.Dir = dir
	cmd.Env = append(append(environ, "DOCKER_CONFIG="+env.configDir), kvEnv...)
	return icmd.RunCmd(cmd)
}

func assertNoSeedValue(t *testing.T, res *icmd.Result) {
	t.Helper()
	for name, v := range lsSeed {
		assert.Check(t, !strings.Contains(res.Stdout(), v), "stdout leaks the value of %s", name)
		assert.Check(t, !strings.Contains(res.Stderr(), v), "stderr leaks the value of %s", name)
	}
}

func TestLs(t *testing.T) {
	kvEnv := lsEmulator(t)
	dir := t.TempDir()

	t.Run("table", func(t *testing.T) {
		res := lsDocker(t, kvEnv, dir, "vault", "ls")
		res.Assert(t, icmd.Success)
		assertNoSeedValue(t, res)
		lines := strings.Split(strings.TrimSpace(res.Stdout()), "\n")
		assert.Assert(t, is.Len(lines, 4), res.Stdout())
		assert.Check(t, is.Regexp(`^NAME +STATUS +UPDATED +CONTENT TYPE$`, lines[0]))
		assert.Check(t, is.Regexp(`^db-password +enabled +\S.* ago +-$`, lines[1]))
		assert.Check(t, is.Regexp(`^prod-api-key +enabled `, lines[2]))
		assert.Check(t, is.Regexp(`^smtp-user +enabled `, lines[3]))
	})

	t.Run("json", func(t *testing.T) {
		res := lsDocker(t, kvEnv, dir, "vault", "ls", "--format", "json")
		res.Assert(t, icmd.Success)
		assertNoSeedValue(t, res)
		var rows []struct {
			Name    string
			Enabled bool
			Updated time.Time
		}
		assert.NilError(t, json.Unmarshal([]byte(res.Stdout()), &rows))
		assert.Assert(t, is.Len(rows, 3))
		for i, name := range []string{"db-password", "prod-api-key", "smtp-user"} {
			assert.Check(t, is.Equal(rows[i].Name, name))
			assert.Check(t, rows[i].Enabled)
			assert.Check(t, time.Since(rows[i].Updated) < time.Hour)
		}
	})

	t.Run("quiet and template", func(t *testing.T) {
		res := lsDocker(t, kvEnv, dir, "vault", "ls", "-q")
		res.Assert(t, icmd.Expected{Out: "db-password\nprod-api-key\nsmtp-user\n"})
		assertNoSeedValue(t, res)

		res = lsDocker(t, kvEnv, dir, "vault", "ls", "--format", "{{.Name}} {{.Status}}")
		res.Assert(t, icmd.Expected{Out: "db-password enabled\nprod-api-key enabled\nsmtp-user enabled\n"})
	})

	// One run with every flag: a compose project (x-vault name, derived
	// name, a missing secret), versions, an explicit credential and vault
	// name, a timeout, and the custom-domain switch (harmless here).
	t.Run("compose file and every flag", func(t *testing.T) {
		compose := filepath.Join(dir, "compose.yaml")
		assert.NilError(t, os.WriteFile(compose, []byte(`
services:
  app:
    image: `+env.baseImage+`
    secrets: [db_password, api_key, not_there]
secrets:
  db_password:
    file: ./db_password.txt
  api_key:
    external: true
    x-vault:
      name: prod-api-key
  not_there:
    external: true
`), 0o600))
		res := lsDocker(t, kvEnv, dir, "vault", "ls", "-f", compose, "--versions",
			"--vault", "emulator", "--credential", "managed-identity", "--timeout", "60s",
			"--disable-challenge-resource-verification")
		res.Assert(t, icmd.Success)
		assertNoSeedValue(t, res)
		lines := strings.Split(strings.TrimSpace(res.Stdout()), "\n")
		assert.Assert(t, is.Len(lines, 4), res.Stdout())
		assert.Check(t, is.Regexp(`^NAME +STATUS +VERSION +UPDATED +CONTENT TYPE +COMPOSE SECRET$`, lines[0]))
		assert.Check(t, is.Regexp(`^db-password +enabled +[0-9a-f]{32} +\S.* ago +- +db_password$`, lines[1]))
		assert.Check(t, is.Regexp(`^not-there +missing +- +- +- +not_there$`, lines[2]))
		assert.Check(t, is.Regexp(`^prod-api-key +enabled +[0-9a-f]{32} +.* api_key$`, lines[3]))
		assert.Check(t, !strings.Contains(res.Stdout(), "smtp-user"), "not mapped by the project")
	})

	t.Run("http vault refused", func(t *testing.T) {
		res := lsDocker(t, kvEnv, dir, "vault", "ls", "--vault", "http://x")
		res.Assert(t, icmd.Expected{ExitCode: 1})
		assert.Check(t, is.Equal(res.Stdout(), ""))
		assert.Check(t, is.Equal(strings.TrimSpace(res.Stderr()), `invalid vault in --vault: vault URL "http://x" must use https: use https://x`))
	})
}
