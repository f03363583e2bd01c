package commands

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// runSeed are the values of the run, up and compose tests.
var runSeed = map[string]string{
	"npm-token":    "SENTINEL-npm-9f3a",
	"db-password":  "SENTINEL-db-77c1",
	"tls-key-prod": "SENTINEL-tls-0b2e",
}

const runProject = `
services:
  app:
    image: busybox
    user: "999:999"
    build:
      context: .
      secrets: [npm_token]
    secrets:
      - source: db_password
        target: db
        mode: 0440
      - tls.key
      - legacy
      - hand_made
secrets:
  db_password:
    external: true
    name: prod_db_password
  tls.key:
    file: ./tls.key
    x-vault: tls-key-prod
  legacy:
    file: ./legacy.txt
  hand_made:
    external: true
    x-vault: false
  npm_token:
    environment: NPM_TOKEN
  own_var:
    environment: OWN_VAR
    x-vault: false
`

// childRun is what a fake child was asked to run.
type childRun struct {
	cmd   runner.Cmd
	stdin string
}

// runEnvCommand runs newCmd's command with args on a real DockerCli, a
// child that records what it was given and returns childErr, and checks
// that no value reached the output, the error or the child's arguments.
func runEnvCommand(t *testing.T, newCmd func(*testing.T, func(context.Context, runner.Cmd) error) *cobra.Command, childErr error, args ...string) ([]childRun, string, error) {
	t.Helper()
	var calls []childRun
	run := func(_ context.Context, c runner.Cmd) error {
		r := childRun{cmd: c}
		if b, ok := c.Stdin.(*bytes.Reader); ok {
			data, _ := io.ReadAll(b)
			r.stdin = string(data)
		}
		calls = append(calls, r)
		return childErr
	}
	cmd := newCmd(t, run)
	out := cmd.OutOrStdout().(interface{ String() string })
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	for name, v := range runSeed {
		assert.Check(t, !strings.Contains(out.String(), v), "output leaks the value of %s", name)
		if err != nil {
			assert.Check(t, !strings.Contains(err.Error(), v), "error leaks the value of %s", name)
		}
		for _, c := range calls {
			for _, a := range append([]string{c.cmd.Path}, c.cmd.Args...) {
				assert.Check(t, !strings.Contains(a, v), "argv leaks the value of %s: %q", name, a)
			}
			assert.Check(t, !strings.Contains(c.stdin, v), "stdin leaks the value of %s", name)
		}
	}
	return calls, out.String(), err
}

// envCommand makes a command of the tree with the test's child.
func envCommand(make func(dockerCLI command.Cli, run func(context.Context, runner.Cmd) error) *cobra.Command) func(*testing.T, func(context.Context, runner.Cmd) error) *cobra.Command {
	return func(t *testing.T, run func(context.Context, runner.Cmd) error) *cobra.Command {
		dockerCLI, out := newTestCLI(t, &fakeClient{})
		cmd := make(dockerCLI, run)
		cmd.SetOut(out)
		cmd.SetErr(out)
		return cmd
	}
}

var (
	runCmd = envCommand(func(d command.Cli, r func(context.Context, runner.Cmd) error) *cobra.Command {
		return newRunCommandWith(d, r)
	})
	upCmd = envCommand(func(d command.Cli, r func(context.Context, runner.Cmd) error) *cobra.Command {
		return newUpCommandWith(d, r)
	})
	composeCmd = envCommand(func(d command.Cli, r func(context.Context, runner.Cmd) error) *cobra.Command {
		return newComposeCommandWith(d, r)
	})
)

// runProjectDir writes the project and starts the emulator with runSeed.
func runProjectDir(t *testing.T) string {
	t.Helper()
	s := kvtest.NewServer(t, kvtest.Options{Seed: runSeed})
	useEmulator(t, s)
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(runProject), 0o600))
	t.Chdir(dir)
	return dir
}

func TestRunFillsTheChildsEnvironment(t *testing.T) {
	runProjectDir(t)
	os.Unsetenv("NPM_TOKEN")
	calls, out, err := runEnvCommand(t, runCmd, nil, "--vault", "emulator", "--", "docker", "compose", "build", "--no-cache")
	assert.NilError(t, err, out)
	assert.Assert(t, is.Len(calls, 1))
	c := calls[0].cmd
	assert.Check(t, is.Equal(c.Path, "docker"))
	assert.Check(t, is.DeepEqual(c.Args, []string{"compose", "build", "--no-cache"}))
	v, ok := envValue(c.Env, "NPM_TOKEN")
	assert.Check(t, ok && v == runSeed["npm-token"], "NPM_TOKEN does not hold the Key Vault value")
	// Only environment: secrets: the others are the override's (up).
	for _, kv := range c.Env {
		assert.Check(t, !strings.HasPrefix(kv, "DOCKER_VAULT_SECRET_"), kv)
	}
	_, ok = envValue(c.Env, "OWN_VAR")
	assert.Check(t, !ok, "x-vault: false: the variable is the user's")
	assert.Check(t, is.Equal(out, ""))
}

func TestRunEnvironmentConflict(t *testing.T) {
	runProjectDir(t)
	t.Setenv("NPM_TOKEN", "from the shell")
	calls, out, err := runEnvCommand(t, runCmd, nil, "--vault", "emulator", "env")
	assert.NilError(t, err)
	v, _ := envValue(calls[0].cmd.Env, "NPM_TOKEN")
	assert.Check(t, v == runSeed["npm-token"], "Key Vault's value must win")
	assert.Check(t, is.Equal(out, "note: NPM_TOKEN is set in the environment: Key Vault's value is used for secret npm_token (--no-override keeps the environment's)\n"))
	n := 0
	for _, kv := range calls[0].cmd.Env {
		if strings.HasPrefix(kv, "NPM_TOKEN=") {
			n++
		}
	}
	assert.Check(t, is.Equal(n, 1))

	calls, out, err = runEnvCommand(t, runCmd, nil, "--vault", "emulator", "--no-override", "env")
	assert.NilError(t, err)
	v, _ = envValue(calls[0].cmd.Env, "NPM_TOKEN")
	assert.Check(t, is.Equal(v, "from the shell"))
	assert.Check(t, is.Equal(out, "note: NPM_TOKEN is set in the environment: its value is used for secret npm_token, not Key Vault's (--no-override)\n"))
}

func TestRunNoCommand(t *testing.T) {
	runProjectDir(t)
	calls, _, err := runEnvCommand(t, runCmd, nil, "--vault", "emulator")
	assert.Check(t, is.ErrorContains(err, "'run' requires at least 1 argument"))
	assert.Check(t, is.Len(calls, 0))
}

func TestRunMissingSecretStartsNothing(t *testing.T) {
	dir := runProjectDir(t)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`
services:
  app: {image: busybox, secrets: [npm_token, api_key]}
secrets:
  npm_token: {environment: NPM_TOKEN}
  api_key: {environment: API_KEY, x-vault: no-such-secret}
`), 0o600))
	calls, _, err := runEnvCommand(t, runCmd, nil, "--vault", "emulator", "true")
	assert.Check(t, is.ErrorContains(err, "true was not started: secret api_key: failed to get secret no-such-secret from https://emulator.vault.azure.net: "))
	assert.Check(t, is.ErrorContains(err, "(create it with `docker vault set no-such-secret`, or map the secret to another Key Vault secret with x-vault.name)"))
	assert.Check(t, is.Len(calls, 0))
}

func TestRunExitStatus(t *testing.T) {
	runProjectDir(t)
	_, _, err := runEnvCommand(t, runCmd, &runner.ExitError{Name: "sh", Code: 7}, "--vault", "emulator", "sh", "-c", "exit 7")
	var st cli.StatusError
	assert.Assert(t, errors.As(err, &st), "%v", err)
	assert.Check(t, is.Equal(st.StatusCode, 7))
	assert.Check(t, is.Equal(st.Status, "sh exited with status 7"))

	_, _, err = runEnvCommand(t, runCmd, &runner.ExitError{Name: "sh", Code: -1}, "--vault", "emulator", "sh")
	assert.Assert(t, errors.As(err, &st), "%v", err)
	assert.Check(t, is.Equal(st.StatusCode, 1))
	assert.Check(t, is.Equal(st.Status, "sh was killed by a signal"))
}

func TestRunFlagsAfterCommandAreItsOwn(t *testing.T) {
	runProjectDir(t)
	calls, _, err := runEnvCommand(t, runCmd, nil, "--vault", "emulator", "docker", "compose", "-f", "other.yaml", "--vault", "x", "up")
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(calls[0].cmd.Args, []string{"compose", "-f", "other.yaml", "--vault", "x", "up"}))
}

func TestRunValidatesFlags(t *testing.T) {
	runProjectDir(t)
	_, _, err := runEnvCommand(t, runCmd, nil, "--vault-parallel", "0", "true")
	assert.Check(t, is.Error(err, "invalid --vault-parallel 0: must be 1 or more"))
	_, _, err = runEnvCommand(t, runCmd, nil, "--timeout", "0s", "true")
	assert.Check(t, is.Error(err, "invalid --timeout: must be more than 0"))
}
