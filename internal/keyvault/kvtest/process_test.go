package kvtest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

// TestMain lets the test binary act as a client process: with
// KVTEST_CHILD=roundtrip it does what the plugin does (DefaultAzureCredential,
// the SDK's default transport, configuration from the environment only) and
// exits. A child process is the only honest test of the environment
// variables: in this process MSAL's token cache and net/http's proxy
// settings are already fixed.
func TestMain(m *testing.M) {
	if os.Getenv("KVTEST_CHILD") == "roundtrip" {
		os.Exit(childRoundTrip())
	}
	os.Exit(m.Run())
}

// childRoundTrip sets a generated value, reads it back, and reads the
// secret named by KVTEST_SEEDED_NAME, comparing it with the value on stdin.
// It prints outcomes, never values.
func childRoundTrip() int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
		return 1
	}
	expected, err := io.ReadAll(os.Stdin)
	if err != nil {
		return fail("failed to read stdin: %v", err)
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return fail("failed to create credential: %v", err)
	}
	client, err := azsecrets.NewClient(os.Getenv("DOCKER_VAULT_URL"), cred, nil)
	if err != nil {
		return fail("failed to create client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	b := make([]byte, 16)
	_, _ = rand.Read(b)
	value := hex.EncodeToString(b)
	set, err := client.SetSecret(ctx, "child-roundtrip", azsecrets.SetSecretParameters{Value: &value}, nil)
	if err != nil {
		return fail("set failed: %v", err)
	}
	got, err := client.GetSecret(ctx, "child-roundtrip", set.ID.Version(), nil)
	if err != nil {
		return fail("get failed: %v", err)
	}
	if *got.Value != value {
		return fail("get returned a different value")
	}
	fmt.Println("roundtrip ok", set.ID.Version())

	if name := os.Getenv("KVTEST_SEEDED_NAME"); name != "" {
		seeded, err := client.GetSecret(ctx, name, "", nil)
		if err != nil {
			return fail("get seeded failed: %v", err)
		}
		if *seeded.Value != string(expected) {
			return fail("seeded secret %s has a different value", name)
		}
		fmt.Println("seeded ok", name)
	}
	return 0
}

// childEnv is this process's environment without anything that would steer
// the child's credential or proxy choice, plus env.
func childEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AZURE_"), strings.HasPrefix(k, "IDENTITY_"), strings.HasPrefix(k, "MSI_"),
			strings.HasPrefix(k, "IMDS_"), strings.HasPrefix(k, "KVTEST_"):
			continue
		}
		switch strings.ToUpper(k) {
		case "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "DOCKER_VAULT_URL":
			continue
		}
		out = append(out, kv)
	}
	return append(out, env...)
}

func runChild(t *testing.T, env []string, stdin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = childEnv(append(env, "KVTEST_CHILD=roundtrip")...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	assert.NilError(t, err, "child output:\n%s", out.String())
	return out.String()
}

func TestEnvDrivesAChildProcess(t *testing.T) {
	const seeded = "seeded-for-child-0c4e"
	s := kvtest.NewServer(t, kvtest.Options{Seed: map[string]string{"app-token": seeded}})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	assert.NilError(t, s.WriteCA(caFile))

	env := s.Env(caFile)
	assert.Equal(t, len(env), 5)
	out := runChild(t, append(env, "KVTEST_SEEDED_NAME=app-token"), seeded)
	assert.Assert(t, is.Contains(out, "roundtrip ok"))
	assert.Assert(t, is.Contains(out, "seeded ok app-token"))
	assertNoLeak(t, seeded, out)

	// A fresh process asks the token endpoint once and answers one challenge.
	assert.Equal(t, s.Count(kvtest.RouteToken), 1)
	assert.Equal(t, s.Count(kvtest.RouteChallenge), 1)
	assert.Equal(t, s.Count(kvtest.RouteSetSecret), 1)
	assert.Equal(t, s.Count(kvtest.RouteGetSecret), 2)
	assert.Assert(t, s.Count(kvtest.RouteConnect) >= 1)
}

func buildEmulator(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	assert.NilError(t, err, "the go tool is needed to build scripts/kv-emulator")
	bin := filepath.Join(t.TempDir(), "kv-emulator")
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/docker-vault/docker-vault/scripts/kv-emulator").CombinedOutput()
	assert.NilError(t, err, "%s", out)
	return bin
}

func TestStandaloneProgram(t *testing.T) {
	bin := buildEmulator(t)
	dir := t.TempDir()
	const seeded = "standalone-seed-value-e81"
	seedFile := filepath.Join(dir, "seed.json")
	seedJSON, _ := json.Marshal(map[string]string{"seeded": seeded})
	assert.NilError(t, os.WriteFile(seedFile, seedJSON, 0o600))
	caFile, envFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "kv.env")

	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--name", "standalone", "--seed", seedFile,
		"--ca-out", caFile, "--env-out", envFile, "--latency", "1ms")
	stdout, err := cmd.StdoutPipe()
	assert.NilError(t, err)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	assert.NilError(t, cmd.Start())
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	// Read the banner up to the last export line.
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var printed []string
	env := map[string]string{}
	timeout := time.After(30 * time.Second)
	for env["DOCKER_VAULT_URL"] == "" {
		select {
		case line, ok := <-lines:
			assert.Assert(t, ok, "kv-emulator exited early: %s", stderr.String())
			printed = append(printed, line)
			if rest, ok := strings.CutPrefix(line, "export "); ok {
				k, v, _ := strings.Cut(rest, "=")
				env[k] = shellUnquote(v)
			}
		case <-timeout:
			t.Fatalf("kv-emulator printed no environment; stderr: %s", stderr.String())
		}
	}
	assert.Equal(t, env["DOCKER_VAULT_URL"], "https://standalone.vault.azure.net")
	assert.Equal(t, env["SSL_CERT_FILE"], caFile)
	assert.Assert(t, strings.HasPrefix(env["HTTPS_PROXY"], "http://127.0.0.1:"))
	assert.Assert(t, strings.HasPrefix(printed[0], "# vault: https://standalone.vault.azure.net"), printed[0])
	admin, ok := strings.CutPrefix(printed[1], "# admin: ")
	assert.Assert(t, ok, printed[1])
	// No --rand-seed: a random one, printed so that the run can be repeated.
	seed, ok := strings.CutPrefix(printed[2], "# rand seed: ")
	assert.Assert(t, ok, printed[2])
	n, err := strconv.ParseInt(seed, 10, 64)
	assert.Check(t, err == nil && n > 0, printed[2])

	fi, err := os.Stat(envFile)
	assert.NilError(t, err)
	assert.Equal(t, fi.Mode().Perm(), os.FileMode(0o600))
	envContent, err := os.ReadFile(envFile)
	assert.NilError(t, err)
	assert.Equal(t, string(envContent), strings.Join(printed[3:], "\n")+"\n")

	var childVars []string
	for k, v := range env {
		childVars = append(childVars, k+"="+v)
	}
	out := runChild(t, append(childVars, "KVTEST_SEEDED_NAME=seeded"), seeded)
	assert.Assert(t, is.Contains(out, "roundtrip ok"))
	assert.Assert(t, is.Contains(out, "seeded ok seeded"))

	resp, err := http.Get(admin + "/counters")
	assert.NilError(t, err)
	var counts map[string]int
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&counts))
	resp.Body.Close()
	assert.Equal(t, counts[kvtest.RouteToken], 1)
	assert.Equal(t, counts[kvtest.RouteGetSecret], 2)

	assert.NilError(t, cmd.Process.Signal(syscall.SIGTERM))
	for range lines { // drain until stdout closes
	}
	err = cmd.Wait()
	exited = true
	assert.NilError(t, err, "kv-emulator should exit 0 on SIGTERM; stderr: %s", stderr.String())
	assertNoLeak(t, seeded, strings.Join(printed, "\n"), stderr.String(), out, string(envContent))
}

func TestStandaloneProgramRefusesNonLoopback(t *testing.T) {
	bin := buildEmulator(t)
	for _, args := range [][]string{
		{"--listen", "0.0.0.0:0"},
		{"--listen", "127.0.0.1:0", "--admin", "[::]:0"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		assert.Assert(t, err != nil, "%v", args)
		assert.Assert(t, is.Contains(string(out), "only loopback addresses"), "%v: %s", args, out)
	}
}

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func shellUnquote(v string) string {
	if strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") && len(v) >= 2 {
		return strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`)
	}
	return v
}
