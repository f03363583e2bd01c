package commands

import (
	"context"
	"errors"
	"runtime"
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
	assert.Check(t, is.Equal(out.String(), `{"Version":"v0.0.0-dev","Commit":"unknown","GoVersion":"`+runtime.Version()+`","OS":"`+runtime.GOOS+`","Arch":"`+runtime.GOARCH+`",`+
		`"Docker":{"Context":"default","Endpoint":"unix:///var/run/docker.sock","Version":"99.0.1","APIVersion":"1.41"}}`+"\n"), "one line, keys as the template's fields")

	// "table" is the default layout: never the word itself.
	out.Reset()
	cmd.SetArgs([]string{"--format", "table"})
	assert.NilError(t, cmd.Execute())
	assert.Check(t, is.Contains(out.String(), "docker vault:\n Version:    v0.0.0-dev\n"))
	assert.Check(t, is.Contains(out.String(), " Engine version: 99.0.1\n"))
	assert.Check(t, !strings.Contains(out.String(), "table"), out.String())

	out.Reset()
	cmd.SetArgs([]string{"--format", `table {{.Version}}\t{{.Docker.Version}}\t{{.OS}}`})
	assert.NilError(t, cmd.Execute())
	assert.Check(t, is.Equal(out.String(), "VERSION      ENGINE VERSION   OS\nv0.0.0-dev   99.0.1           "+runtime.GOOS+"\n"))

	out.Reset()
	cmd.SetArgs([]string{"--format", `{{.Version}}\t{{.Docker.Context}}`})
	assert.NilError(t, cmd.Execute())
	assert.Check(t, is.Equal(out.String(), "v0.0.0-dev\tdefault\n"))

	out.Reset()
	cmd.SetArgs([]string{"--format", `{{.Version`})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	assert.Check(t, is.ErrorContains(cmd.Execute(), "template parsing error"))
	assert.Check(t, is.Equal(out.String(), ""))
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
