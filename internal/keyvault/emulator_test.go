package keyvault

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

// clearAzureEnv unsets, for the test, everything that would change which
// credential DefaultAzureCredential picks or where requests go.
func clearAzureEnv(t testing.TB) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AZURE_"), strings.HasPrefix(k, "IDENTITY_"), strings.HasPrefix(k, "MSI_"),
			k == "IMDS_ENDPOINT", k == "SSL_CERT_FILE", k == "DOCKER_VAULT_URL",
			strings.EqualFold(k, "HTTPS_PROXY"), strings.EqualFold(k, "HTTP_PROXY"), strings.EqualFold(k, "NO_PROXY"), strings.EqualFold(k, "ALL_PROXY"):
			t.Setenv(k, "") // registers the restore
			os.Unsetenv(k)
		}
	}
}

// useEmulator points the process environment at s exactly as a user's shell
// would point the plugin at a vault: SSL_CERT_FILE, HTTPS_PROXY and the App
// Service managed identity variables. Nothing else is configured, so the
// code under test takes its production path (DefaultAzureCredential, the
// system proxy and CA handling, challenge resource verification on).
func useEmulator(t testing.TB, s *kvtest.Server) {
	t.Helper()
	clearAzureEnv(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	assert.NilError(t, s.WriteCA(ca))
	for _, kv := range s.Env(ca) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// openEmulator opens the emulator's vault through Open, as a command does.
func openEmulator(t testing.TB, s *kvtest.Server, retry RetryOptions) Store {
	t.Helper()
	useEmulator(t, s)
	st, err := Open(context.Background(), Config{EnvURL: os.Getenv("DOCKER_VAULT_URL"), Retry: retry})
	assert.NilError(t, err)
	return st
}

// fastRetry keeps tests that provoke retries quick; a Retry-After the
// emulator sends still wins over Delay.
var fastRetry = RetryOptions{Delay: 5 * time.Millisecond, MaxDelay: 5 * time.Second}

// assertNoValue fails if any output contains one of the values.
func assertNoValue(t *testing.T, values []string, outputs ...string) {
	t.Helper()
	for _, v := range values {
		for i, out := range outputs {
			assert.Check(t, !strings.Contains(out, v), "output %d contains a secret value", i)
		}
	}
}
