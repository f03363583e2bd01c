package commands

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestCommandTree checks every command the way docker/cli's tree test does:
// a short description, an argument validator, and a usage line in the
// docker style.
func TestCommandTree(t *testing.T) {
	dockerCLI, _ := newTestCLI(t, &fakeClient{})
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		t.Run(cmd.CommandPath(), func(t *testing.T) {
			assert.Check(t, cmd.Short != "", "no Short description")
			assert.Check(t, !strings.HasSuffix(cmd.Short, "."), "Short ends with a period")
			assert.Check(t, cmd.Args != nil, "no argument validation")
			assert.Check(t, cmd.RunE != nil, "no RunE")
		})
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(NewRootCmd(dockerCLI))
}

func TestVersionCommand(t *testing.T) {
	api := &fakeClient{serverVersionFunc: func(context.Context, client.ServerVersionOptions) (client.ServerVersionResult, error) {
		return client.ServerVersionResult{Version: "99.0.1"}, nil
	}}
	dockerCLI, out := newTestCLI(t, api)
	cmd := newVersionCommand(dockerCLI)
	cmd.SetArgs([]string{"--format", "{{.Docker.Context}} {{.Docker.Version}}"})
	assert.NilError(t, cmd.Execute())
	assert.Check(t, is.Equal(out.String(), "default 99.0.1\n"))

	out.Reset()
	cmd.SetArgs([]string{"--format", "json"})
	assert.NilError(t, cmd.Execute())
	assert.Check(t, is.Contains(out.String(), `"version": "99.0.1"`))
}

func TestVersionEngineDown(t *testing.T) {
	api := &fakeClient{serverVersionFunc: func(context.Context, client.ServerVersionOptions) (client.ServerVersionResult, error) {
		return client.ServerVersionResult{}, errors.New("connection refused")
	}}
	dockerCLI, out := newTestCLI(t, api)
	cmd := newVersionCommand(dockerCLI)
	cmd.SetArgs([]string{})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	assert.Check(t, is.ErrorContains(err, "cannot reach the Docker engine: connection refused"))
	assert.Check(t, is.Contains(out.String(), "Engine:   unreachable"))
}

func TestRootRejectsUnknownSubcommand(t *testing.T) {
	dockerCLI, _ := newTestCLI(t, &fakeClient{})
	cmd := NewRootCmd(dockerCLI)
	cmd.SetArgs([]string{"bogus"})
	cmd.SilenceErrors = true
	// The plugin framework's pre-run hook needs the full plugin harness;
	// argument validation runs before it.
	cmd.PersistentPreRunE = nil
	assert.Check(t, is.ErrorContains(cmd.Execute(), "unknown command"))
}

func TestGlobalArgs(t *testing.T) {
	for _, tc := range []struct{ args, want []string }{
		{[]string{"vault", "build", "."}, nil},
		{[]string{"--context", "vault", "vault", "build"}, []string{"--context", "vault"}},
		{[]string{"-H", "tcp://127.0.0.1:2375", "--tls", "--config=/x", "vault", "deploy"}, []string{"-H", "tcp://127.0.0.1:2375", "--tls", "--config=/x"}},
		{[]string{"--debug", "vault"}, []string{"--debug"}},
	} {
		assert.Check(t, is.DeepEqual(globalArgsOf(tc.args), tc.want), "%q", tc.args)
	}
}
