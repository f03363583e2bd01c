package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/icmd"
)

// emulator is a scripts/kv-emulator process of the test's own.
type emulator struct {
	// Env is what the emulator prints for clients: SSL_CERT_FILE,
	// HTTPS_PROXY, IDENTITY_ENDPOINT, IDENTITY_HEADER, DOCKER_VAULT_URL.
	Env   []string
	Admin string // http://127.0.0.1:PORT/admin
}

var (
	emulatorOnce sync.Once
	emulatorBin  string
	emulatorErr  error
)

// startEmulator builds scripts/kv-emulator (once per test binary), runs it as
// its own process seeded with seed and any extra flags, and stops it when the
// test ends.
func startEmulator(t *testing.T, seed map[string]string, flags ...string) *emulator {
	t.Helper()
	emulatorOnce.Do(func() {
		emulatorBin = filepath.Join(filepath.Dir(env.pluginPath), "kv-emulator")
		build := exec.Command("go", "build", "-o", emulatorBin, "./scripts/kv-emulator")
		build.Dir = env.repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			emulatorErr = fmt.Errorf("building kv-emulator: %v: %s", err, out)
		}
	})
	assert.NilError(t, emulatorErr)

	dir := t.TempDir()
	seedJSON, err := json.Marshal(seed)
	assert.NilError(t, err)
	seedFile := filepath.Join(dir, "seed.json")
	assert.NilError(t, os.WriteFile(seedFile, seedJSON, 0o600))

	args := append([]string{"--listen", "127.0.0.1:0", "--ca-out", filepath.Join(dir, "ca.pem"), "--seed", seedFile}, flags...)
	cmd := exec.Command(emulatorBin, args...)
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

	// It prints "# admin: URL" and its export lines once it is listening.
	type started struct {
		kv    []string
		admin string
	}
	ready := make(chan started, 1)
	go func() {
		var s started
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "# admin: "); ok {
				s.admin = a
			}
			if rest, ok := strings.CutPrefix(line, "export "); ok {
				if k, v, ok := strings.Cut(rest, "="); ok {
					s.kv = append(s.kv, k+"="+strings.Trim(v, "'"))
					if k == "DOCKER_VAULT_URL" {
						break
					}
				}
			}
		}
		ready <- s
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case s := <-ready:
		assert.Assert(t, len(s.kv) == 5 && s.admin != "", "emulator printed %q", s.kv)
		// Past the second the seeded versions were written in, as for a
		// vault whose values were set a while ago: a sync reads them
		// settled (see rotateLater).
		nextSecond()
		return &emulator{Env: s.kv, Admin: s.admin}
	case <-time.After(60 * time.Second):
		t.Fatal("kv-emulator did not start")
	}
	return nil
}

// SetSecret stores a new version of name through the admin endpoint, as a
// rotation in Key Vault would, and returns the version.
func (e *emulator) SetSecret(t *testing.T, name, value string) string {
	t.Helper()
	resp, err := http.Post(e.Admin+"/secrets/"+name, "application/octet-stream", strings.NewReader(value))
	assert.NilError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusOK)
	var out struct{ Version string }
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Version
}

// Counters returns the emulator's request counters by route.
func (e *emulator) Counters(t *testing.T) map[string]int {
	t.Helper()
	resp, err := http.Get(e.Admin + "/counters")
	assert.NilError(t, err)
	defer resp.Body.Close()
	out := map[string]int{}
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

// ResetCounters zeroes the counters.
func (e *emulator) ResetCounters(t *testing.T) {
	t.Helper()
	resp, err := http.Post(e.Admin+"/reset", "", nil)
	assert.NilError(t, err)
	resp.Body.Close()
}

// SetFaults changes the emulator's faults (JSON fields of kvtest.Faults,
// e.g. {"throttleRate":0.3,"retryAfter":"1s"}).
func (e *emulator) SetFaults(t *testing.T, faults string) {
	t.Helper()
	resp, err := http.Post(e.Admin+"/faults", "application/json", strings.NewReader(faults))
	assert.NilError(t, err)
	defer resp.Body.Close()
	assert.Assert(t, resp.StatusCode < 300, "faults %s: %s", faults, resp.Status)
}

// vaultDocker runs the real docker CLI in dir with the test config and an
// environment holding nothing Azure but what the emulator gave: inherited
// AZURE_*, identity, proxy and CA variables would change which credential
// DefaultAzureCredential picks or where requests go.
func vaultDocker(t *testing.T, kvEnv []string, dir string, args ...string) *icmd.Result {
	t.Helper()
	return icmd.RunCmd(vaultDockerCmd(kvEnv, dir, args...))
}

func vaultDockerCmd(kvEnv []string, dir string, args ...string) icmd.Cmd {
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
	return cmd
}

// assertNoValue checks that no value appears in what a command printed.
func assertNoValue(t *testing.T, res *icmd.Result, values map[string]string) {
	t.Helper()
	for name, v := range values {
		assert.Check(t, !strings.Contains(res.Stdout(), v), "stdout leaks the value of %s", name)
		assert.Check(t, !strings.Contains(res.Stderr(), v), "stderr leaks the value of %s", name)
	}
}
