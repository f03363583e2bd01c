package commands

import (
	"errors"

	"bytes"
	"context"
	cerrdefs "github.com/containerd/errdefs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
)

// fakeClient is the Engine API with one function field per method a test
// needs; every other method panics through the nil embedded interface.
type fakeClient struct {
	client.APIClient
	serverVersionFunc func(context.Context, client.ServerVersionOptions) (client.ServerVersionResult, error)
}

func (f *fakeClient) ServerVersion(ctx context.Context, o client.ServerVersionOptions) (client.ServerVersionResult, error) {
	return f.serverVersionFunc(ctx, o)
}

func (*fakeClient) ClientVersion() string { return "1.41" }

// ImageInspect: the fake engine holds no image, so migrate falls back to
// its built-in table (and says why in reasons).
func (*fakeClient) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	return client.ImageInspectResult{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

// ImagePull fails as on a machine without a registry.
func (*fakeClient) ImagePull(_ context.Context, ref string, _ client.ImagePullOptions) (client.ImagePullResponse, error) {
	return nil, errors.New("Error response from daemon: pull access denied for " + ref)
}

// newTestCLI is a real DockerCli on a fake Engine API, with output captured.
func newTestCLI(t *testing.T, api client.APIClient) (*command.DockerCli, *bytes.Buffer) {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var buf bytes.Buffer
	dockerCLI, err := command.NewDockerCli(command.WithAPIClient(api), command.WithCombinedStreams(&buf))
	assert.NilError(t, err)
	assert.NilError(t, dockerCLI.Initialize(flags.NewClientOptions()))
	return dockerCLI, &buf
}

func (*fakeClient) Ping(context.Context, client.PingOptions) (client.PingResult, error) {
	return client.PingResult{APIVersion: "1.41"}, nil
}

// useEmulator points the process environment at the emulator exactly as a
// user's shell would point the plugin at a vault (SSL_CERT_FILE,
// HTTPS_PROXY, the managed identity variables, DOCKER_VAULT_URL), after
// clearing what would change which credential DefaultAzureCredential picks
// or where requests go. The command under test takes its production path.
func useEmulator(t *testing.T, s *kvtest.Server) *kvtest.Server {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AZURE_") || strings.HasPrefix(k, "MSI_") || strings.HasPrefix(k, "IDENTITY_") ||
			k == "DOCKER_VAULT_URL" || strings.HasSuffix(strings.ToUpper(k), "_PROXY") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	assert.NilError(t, s.WriteCA(ca))
	for _, kv := range s.Env(ca) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return s
}

// runCommand runs a command built on a real DockerCli (on a fake Engine
// API) with args and returns what it printed and its error, after checking
// that neither holds any of values.
func runCommand(t *testing.T, newCmd func(command.Cli) *cobra.Command, values map[string]string, args ...string) (string, error) {
	t.Helper()
	dockerCLI, out := newTestCLI(t, &fakeClient{})
	cmd := newCmd(dockerCLI)
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	printed := out.String()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	for name, v := range values {
		assert.Check(t, !strings.Contains(printed, v), "output leaks the %s value", name)
		assert.Check(t, !strings.Contains(msg, v), "error leaks the %s value", name)
	}
	return printed, err
}
