package commands

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/docker/cli/cli"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const runOverride = `secrets:
  db_password:
    external: !reset null
    environment: DOCKER_VAULT_SECRET_DB_PASSWORD
  tls.key:
    file: !reset null
    environment: DOCKER_VAULT_SECRET_TLS_KEY
`

func TestUpRunsComposeWithTheOverride(t *testing.T) {
	dir := runProjectDir(t)
	pluginArgs(t, "--context", "default")
	calls, out, err := runEnvCommand(t, upCmd, nil, "-d", "--vault", "emulator", "--wait", "-p", "proj", "--timeout=1m", "--ansi", "never", "app")
	assert.NilError(t, err, out)
	assert.Assert(t, is.Len(calls, 1))
	c := calls[0]
	assert.Check(t, is.Equal(c.cmd.Name, "docker compose up"))
	assert.Check(t, is.DeepEqual(c.cmd.Args, []string{"--context", "default", "compose", "-f", filepath.Join(dir, "compose.yaml"), "-f", "-",
		"--project-name", "proj", "--ansi", "never", "up", "-d", "--wait", "app"}))
	assert.Check(t, is.Equal(c.stdin, runOverride))
	for v, kv := range map[string]string{"DOCKER_VAULT_SECRET_DB_PASSWORD": "db-password", "DOCKER_VAULT_SECRET_TLS_KEY": "tls-key-prod", "NPM_TOKEN": "npm-token"} {
		got, _ := envValue(c.cmd.Env, v)
		assert.Check(t, got == runSeed[kv], "%s does not hold the value of %s", v, kv)
	}
	assert.Check(t, is.Equal(out, ""))
}

func TestComposeCommand(t *testing.T) {
	dir := runProjectDir(t)
	pluginArgs(t)
	// Options before the command are docker vault's or docker compose's;
	// after it, the command's own (run's -p publishes a port).
	calls, out, err := runEnvCommand(t, composeCmd, nil, "--vault", "emulator", "--progress", "plain", "--profile", "debug",
		"run", "--rm", "-p", "8080:80", "--vault", "not-ours", "app", "sh")
	assert.NilError(t, err, out)
	assert.Assert(t, is.Len(calls, 1))
	assert.Check(t, is.DeepEqual(calls[0].cmd.Args, []string{"compose", "-f", filepath.Join(dir, "compose.yaml"), "-f", "-",
		"--profile", "debug", "--progress", "plain", "run", "--rm", "-p", "8080:80", "--vault", "not-ours", "app", "sh"}))
	assert.Check(t, is.Equal(calls[0].stdin, runOverride))

	calls, _, err = runEnvCommand(t, composeCmd, nil, "ps")
	assert.Check(t, is.Error(err, "docker vault compose runs build, create, run, start, up, the commands that read secrets: run `docker compose ps` without docker vault"))
	assert.Check(t, is.Len(calls, 0))

	_, _, err = runEnvCommand(t, composeCmd, nil, "--vault", "emulator")
	var st cli.StatusError
	assert.Assert(t, errors.As(err, &st), "%v", err)
	assert.Check(t, is.Equal(st.StatusCode, 125))
	assert.Check(t, is.Contains(st.Status, "docker vault compose needs a command: build, create, run, start, up"))
}

func TestUpDryRunReadsNothing(t *testing.T) {
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(runProject), 0o600))
	t.Chdir(dir)
	pluginArgs(t)
	// No vault at all: a dry run reads no value.
	t.Setenv("DOCKER_VAULT_URL", "")
	calls, out, err := runEnvCommand(t, upCmd, nil, "--dry-run", "-d")
	assert.NilError(t, err)
	assert.Check(t, is.Len(calls, 0))
	assert.Check(t, is.Equal(out, "would run docker compose -f "+filepath.Join(dir, "compose.yaml")+" -f - up -d\n"+
		"with DOCKER_VAULT_SECRET_DB_PASSWORD, DOCKER_VAULT_SECRET_TLS_KEY, NPM_TOKEN set from Key Vault\n"+
		"and this override on standard input:\n"+runOverride))
}

func TestUpMissingSecretStartsNothing(t *testing.T) {
	dir := runProjectDir(t)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`
services:
  app: {image: busybox, secrets: [db_password, api_key]}
secrets:
  db_password: {external: true}
  api_key: {external: true, x-vault: no-such-secret}
`), 0o600))
	calls, _, err := runEnvCommand(t, upCmd, nil, "--vault", "emulator", "-d")
	assert.Check(t, is.ErrorContains(err, "docker compose up was not started: secret api_key: failed to get secret no-such-secret from https://emulator.vault.azure.net: "))
	assert.Check(t, is.Len(calls, 0))
}

// Secrets the project reads from variables already need no override, and
// compose keeps the terminal as its standard input.
func TestUpWithoutOverride(t *testing.T) {
	dir := runProjectDir(t)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`
services:
  app: {image: busybox, secrets: [npm_token]}
secrets:
  npm_token: {environment: NPM_TOKEN}
`), 0o600))
	pluginArgs(t)
	calls, _, err := runEnvCommand(t, upCmd, nil, "--vault", "emulator")
	assert.NilError(t, err)
	assert.Assert(t, is.Len(calls, 1))
	assert.Check(t, is.DeepEqual(calls[0].cmd.Args, []string{"compose", "-f", filepath.Join(dir, "compose.yaml"), "up"}))
	_, isOverride := calls[0].cmd.Stdin.(interface{ Len() int })
	assert.Check(t, !isOverride)
	v, _ := envValue(calls[0].cmd.Env, "NPM_TOKEN")
	assert.Check(t, v == runSeed["npm-token"])
}

// When compose fails and a service sets uid or gid on a filled secret,
// the note says what the engine does with them.
func TestUpUIDGIDNote(t *testing.T) {
	dir := runProjectDir(t)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`
services:
  app:
    image: busybox
    user: "999:999"
    secrets: [{source: db_password, uid: "999", gid: "999"}]
secrets:
  db_password: {external: true}
`), 0o600))
	pluginArgs(t)
	_, out, err := runEnvCommand(t, upCmd, &runner.ExitError{Name: "docker compose up", Code: 1}, "--vault", "emulator", "-d")
	var st cli.StatusError
	assert.Assert(t, errors.As(err, &st), "%v", err)
	assert.Check(t, is.Equal(st.StatusCode, 1))
	assert.Check(t, is.Contains(out, "note: app (db_password) set uid or gid on a secret filled from Key Vault: "))
	assert.Check(t, is.Contains(out, `"getent unable to find entry"`))

	_, out, _ = runEnvCommand(t, upCmd, nil, "--vault", "emulator", "-d")
	assert.Check(t, is.Equal(out, ""), "no note when compose succeeds")
}

func TestSplitComposeArgs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		toCommand bool
		rest      []string
		global    []string
		files     []string
		project   string
		err       string
	}{
		{name: "up mixes", args: []string{"-f", "a.yaml", "-d", "--file=b.yaml", "--progress=plain", "-pname", "--scale", "app=2", "app"},
			rest: []string{"-d", "--scale", "app=2", "app"}, global: []string{"--progress=plain"}, files: []string{"a.yaml", "b.yaml"}, project: "name"},
		{name: "up after --", args: []string{"-d", "--", "-f"}, rest: []string{"-d", "--", "-f"}},
		{name: "compose stops at the command", args: []string{"--compatibility", "-f", "a.yaml", "up", "-f", "x"}, toCommand: true,
			rest: []string{"up", "-f", "x"}, global: []string{"--compatibility"}, files: []string{"a.yaml"}},
		{name: "compose passes unknown globals", args: []string{"--new-flag", "build"}, toCommand: true,
			rest: []string{"build"}, global: []string{"--new-flag"}},
		{name: "missing value", args: []string{"-d", "--vault"}, err: "flag needs an argument: --vault"},
		{name: "missing global value", args: []string{"--ansi"}, err: "flag needs an argument: --ansi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o composeOptions
			rest, help, err := splitComposeArgs(composeFlags(&o), tc.args, &o, tc.toCommand)
			if tc.err != "" {
				assert.Check(t, is.Error(err, tc.err))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, !help)
			assert.Check(t, is.DeepEqual(rest, tc.rest))
			assert.Check(t, is.DeepEqual(o.global, tc.global))
			assert.Check(t, is.DeepEqual(o.project.files, tc.files))
			assert.Check(t, is.Equal(o.project.name, tc.project))
		})
	}
	var o composeOptions
	_, help, err := splitComposeArgs(composeFlags(&o), []string{"-d", "--help"}, &o, false)
	assert.NilError(t, err)
	assert.Check(t, help)
}

func TestCompleteUpAndCompose(t *testing.T) {
	completionProject(t, map[string]string{"compose.yaml": completionCompose})
	for _, tc := range []struct {
		args []string
		want []string
		d    cobra.ShellCompDirective
	}{
		{[]string{"compose", ""}, composeCommands, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"compose", "--vault", "v", "--ansi", "never", ""}, composeCommands, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"compose", "up", ""}, nil, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"compose", "--credential", "m"}, []string{"managed-identity"}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"up", "--credential=az"}, []string{"--credential=azure-cli", "--credential=azd", "--credential=azure-powershell"}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"up", "-d", "--profile", ""}, []string{"debugging"}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"up", "--vault", ""}, nil, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"up", ""}, nil, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"run", "--profile", ""}, []string{"debugging"}, cobra.ShellCompDirectiveNoFileComp},
	} {
		comps, d := complete(t, tc.args...)
		assert.Check(t, is.Equal(d, tc.d), "%v", tc.args)
		assert.Check(t, is.DeepEqual(comps, tc.want), "%v", tc.args)
	}
	comps, d := complete(t, "up", "-f", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveFilterFileExt), "%v", comps)
}

func TestUpRefusesComposeFileOnStdin(t *testing.T) {
	runProjectDir(t)
	calls, _, err := runEnvCommand(t, upCmd, nil, "-f", "-", "--vault", "emulator")
	assert.Check(t, is.Error(err, "docker compose reads docker vault's override on standard input: give the compose file as a file, not -f -"))
	assert.Check(t, is.Len(calls, 0))
}

func TestRunWithoutProject(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("COMPOSE_FILE", "")
	calls, _, err := runEnvCommand(t, runCmd, nil, "true")
	assert.Check(t, is.ErrorContains(err, "no configuration file provided: use -f FILE, or run in a folder with compose.yaml"))
	assert.Check(t, is.Len(calls, 0))
}
