package commands

import (
	"bytes"
	"context"
	"testing"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/moby/moby/client"
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
