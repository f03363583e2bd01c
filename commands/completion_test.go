package commands

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// completeWith runs `__complete vault ARGS` on vault (the plugin's command
// tree) under a root set up as the docker CLI's plugin root is (files not
// offered unless a completion says so), and returns the completions and the
// directive.
func completeWith(t *testing.T, vault *cobra.Command, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	root := &cobra.Command{Use: "docker", SilenceErrors: true, SilenceUsage: true}
	root.CompletionOptions.SetDefaultShellCompDirective(cobra.ShellCompDirectiveNoFileComp)
	root.AddCommand(vault)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{cobra.ShellCompNoDescRequestCmd, "vault"}, args...))
	assert.NilError(t, root.Execute())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	assert.Assert(t, strings.HasPrefix(last, ":"), "no directive in %q", out.String())
	d, err := strconv.Atoi(last[1:])
	assert.NilError(t, err)
	if len(lines) == 1 {
		return nil, cobra.ShellCompDirective(d)
	}
	return lines[:len(lines)-1], cobra.ShellCompDirective(d)
}

// complete completes on the real command tree (NewRootCmd).
func complete(t *testing.T, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	dockerCLI, _ := newTestCLI(t, &fakeClient{})
	return completeWith(t, NewRootCmd(dockerCLI), args...)
}

func TestCompleteComposeFiles(t *testing.T) {
	for _, args := range [][]string{
		{"migrate", "-f", ""},
		{"migrate", "--file", ""},
		{"migrate", "--file="},
		{"migrate", ""},
		{"sync", "-f", ""},
		{"ls", "-f", ""},
		{"push", "--file", ""},
		{"deploy", "-c", ""},
		{"deploy", "--compose-file", ""},
	} {
		comps, d := complete(t, args...)
		assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveFilterFileExt), "%v", args)
		assert.Check(t, is.DeepEqual(comps, []string{"yaml", "yml"}), "%v", args)
	}
}

func TestCompleteAnyFiles(t *testing.T) {
	for _, args := range [][]string{
		{"migrate", "--env-file", ""},
		{"deploy", "--env-file", ""},
		{"sync", "--force-file", ""},
		{"set", "-f", ""}, // the value's file, any name
	} {
		comps, d := complete(t, args...)
		assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveDefault), "%v", args)
		assert.Check(t, is.Len(comps, 0), "%v", args)
	}
	comps, d := complete(t, "sync", "--project-directory", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveFilterDirs))
	assert.Check(t, is.Len(comps, 0))
}

func TestCompleteEnums(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"migrate", "--to", ""}, []string{"file", "external", "environment"}},
		{[]string{"migrate", "--to", "e"}, []string{"external", "environment"}},
		{[]string{"migrate", "--to=f"}, []string{"file"}},
		{[]string{"migrate", "--pull", ""}, []string{"missing", "never", "always"}},
		{[]string{"migrate", "--format", ""}, []string{"table", "json"}},
		{[]string{"ls", "--format", "j"}, []string{"json"}},
		{[]string{"version", "--format", ""}, []string{"table", "json"}},
		{[]string{"sync", "--credential", ""}, keyvault.CredentialNames()},
		{[]string{"sync", "--credential", "azure-"}, []string{"azure-cli", "azure-powershell"}},
		{[]string{"deploy", "--resolve-image", ""}, []string{"always", "changed", "never"}},
	} {
		comps, d := complete(t, tc.args...)
		assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp), "%v", tc.args)
		assert.Check(t, is.DeepEqual(comps, tc.want), "%v", tc.args)
	}
	assert.Check(t, is.Contains(keyvault.CredentialNames(), "azure-cli"))
}

func TestCompleteNoFilesByDefault(t *testing.T) {
	for _, args := range [][]string{
		{"sync", ""},
		{"ls", ""},
		{"version", ""},
		{"sync", "--vault", ""},
		{"sync", "--keep", ""},
		{"deploy", "stack", ""},
	} {
		comps, d := complete(t, args...)
		assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp), "%v", args)
		assert.Check(t, is.Len(comps, 0), "%v", args)
	}
}

func TestCompleteBuild(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
		d    cobra.ShellCompDirective
	}{
		{[]string{"build", ""}, nil, cobra.ShellCompDirectiveFilterDirs},
		{[]string{"build", "-t", "x:1", ""}, nil, cobra.ShellCompDirectiveFilterDirs},
		{[]string{"build", "--vault", "v", "--no-leak-check", ""}, nil, cobra.ShellCompDirectiveFilterDirs},
		{[]string{"build", "-t", ""}, nil, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"build", "--credential", "m"}, []string{"managed-identity"}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"build", "--credential=az"}, []string{"--credential=azure-cli", "--credential=azd", "--credential=azure-powershell"}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"build", "-f", ""}, nil, cobra.ShellCompDirectiveDefault},
		{[]string{"build", "--no-leak"}, []string{"--no-leak-check"}, cobra.ShellCompDirectiveNoFileComp},
	} {
		comps, d := complete(t, tc.args...)
		assert.Check(t, is.Equal(d, tc.d), "%v", tc.args)
		assert.Check(t, is.DeepEqual(comps, tc.want), "%v", tc.args)
	}
}

// completionProject writes a compose project into a fresh working folder.
func completionProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	t.Chdir(dir)
	for _, k := range []string{"COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	return dir
}

const completionCompose = `services:
  web:
    image: nginx
    environment:
      DB_PASSWORD: hunter2-completion-value
    secrets: [api_key]
  worker:
    image: busybox
  debug:
    image: busybox
    profiles: [debugging]
secrets:
  api_key:
    file: ./api_key.txt
  db_password:
    external: true
  cert:
    file: ./cert.pem
  local_only:
    file: ./local.txt
    x-vault: false
`

func TestCompleteProject(t *testing.T) {
	completionProject(t, map[string]string{
		"compose.yaml": completionCompose,
		"other.yaml":   "services:\n  solo:\n    image: busybox\nsecrets:\n  solo_secret:\n    file: ./s.txt\n",
	})
	assert.NilError(t, os.Mkdir("sub", 0o700))
	assert.NilError(t, os.WriteFile(filepath.Join("sub", "compose.yaml"), []byte("services:\n  nested:\n    image: busybox\n"), 0o600))
	// push takes file secrets that are not x-vault: false.
	comps, d := complete(t, "push", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.DeepEqual(comps, []string{"api_key", "cert"}))

	comps, _ = complete(t, "push", "api_key", "")
	assert.Check(t, is.DeepEqual(comps, []string{"cert"}), "a secret already given is not offered again")

	// The project flags already on the command line choose the project.
	comps, _ = complete(t, "push", "-f", "other.yaml", "")
	assert.Check(t, is.DeepEqual(comps, []string{"solo_secret"}))

	comps, _ = complete(t, "build", "--compose", "")
	assert.Check(t, is.DeepEqual(comps, []string{"debug", "web", "worker"}))
	comps, _ = complete(t, "build", "--compose", "web", "w")
	assert.Check(t, is.DeepEqual(comps, []string{"worker"}))
	comps, _ = complete(t, "build", "--compose", "-f", "other.yaml", "")
	assert.Check(t, is.DeepEqual(comps, []string{"solo"}))
	comps, _ = complete(t, "build", "--compose", "--file=other.yaml", "")
	assert.Check(t, is.DeepEqual(comps, []string{"solo"}))

	comps, _ = complete(t, "build", "--vault", "web", "--compose", "--vault-secret", "worker", "--no-leak-check", "-p", "x", "")
	assert.Check(t, is.DeepEqual(comps, []string{"debug", "web", "worker"}), "the values of docker vault's own flags are not services given")
	comps, _ = complete(t, "build", "--compose", "--project-directory", "sub", "")
	assert.Check(t, is.DeepEqual(comps, []string{"nested"}))
	comps, d = complete(t, "build", "--compose", "-f", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveFilterFileExt))
	assert.Check(t, is.DeepEqual(comps, []string{"yaml", "yml"}))
	comps, d = complete(t, "build", "--compose", "--project-directory", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveFilterDirs))
	assert.Check(t, is.Len(comps, 0))

	comps, _ = complete(t, "sync", "--profile", "")
	assert.Check(t, is.DeepEqual(comps, []string{"debugging"}))

	// Variable names, never values.
	comps, _ = complete(t, "migrate", "--include", "")
	assert.Check(t, is.DeepEqual(comps, []string{"DB_PASSWORD", "web.DB_PASSWORD"}))
	comps, _ = complete(t, "migrate", "--exclude", "web.")
	assert.Check(t, is.DeepEqual(comps, []string{"web.DB_PASSWORD"}))
	// migrate's arguments are compose files too.
	assert.NilError(t, os.WriteFile("vars.yaml", []byte("services:\n  api:\n    image: busybox\n    environment:\n      - TOKEN=completion-value-2\n"), 0o600))
	comps, _ = complete(t, "migrate", "vars.yaml", "--include", "")
	assert.Check(t, is.DeepEqual(comps, []string{"TOKEN", "api.TOKEN"}))
	comps, _ = complete(t, "migrate", "-f", "vars.yaml", "--exclude", "")
	assert.Check(t, is.DeepEqual(comps, []string{"TOKEN", "api.TOKEN"}))
}

func TestCompleteProjectErrorsAreSilent(t *testing.T) {
	completionProject(t, map[string]string{"compose.yaml": "services: [broken\n"})
	for _, args := range [][]string{
		{"push", ""},
		{"build", "--compose", ""},
		{"sync", "--profile", ""},
		{"migrate", "--include", ""},
		{"push", "-f", "missing.yaml", ""},
	} {
		comps, d := complete(t, args...)
		assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp), "%v", args)
		assert.Check(t, is.Len(comps, 0), "%v", args)
	}
}

// fakeServices is an engine with a fixed service list.
type fakeServices struct {
	items  []swarm.Service
	err    error
	filter client.Filters
}

func (f *fakeServices) ServiceList(_ context.Context, o client.ServiceListOptions) (client.ServiceListResult, error) {
	f.filter = o.Filters
	return client.ServiceListResult{Items: f.items}, f.err
}

func stackService(stack string) swarm.Service {
	return swarm.Service{Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{
		Labels: map[string]string{stackNamespaceLabel: stack},
	}}}
}

// testCompleter is a completer on fakes; register it on a fresh tree.
func testCompleter(t *testing.T, engine serviceLister, engineErr error) (*completer, *cobra.Command) {
	t.Helper()
	dockerCLI, _ := newTestCLI(t, &fakeClient{})
	c := &completer{
		engine:    func(*cobra.Command) (serviceLister, error) { return engine, engineErr },
		openVault: keyvault.Open,
		loadProject: func(context.Context, compose.LoadOptions) (*types.Project, error) {
			return nil, errors.New("no project")
		},
		vaultTimeout: time.Second,
	}
	// NewRootCmd registered the production completer; a fresh tree from
	// the same constructors takes this one.
	root := NewRootCmd(dockerCLI)
	resetCompletions(root)
	c.register(root)
	return c, root
}

// resetCompletions clears argument completions, so register sets them
// again (flag completions are replaced through a fresh command tree in
// tests that need it; stack names only use --stack and deploy's argument).
func resetCompletions(cmd *cobra.Command) {
	cmd.ValidArgsFunction = nil
	for _, sub := range cmd.Commands() {
		resetCompletions(sub)
	}
}

func TestCompleteStackNames(t *testing.T) {
	engine := &fakeServices{items: []swarm.Service{
		stackService("shop"), stackService("blog"), stackService("shop"), stackService("billing"),
	}}
	_, root := testCompleter(t, engine, nil)
	comps, d := completeWith(t, root, "deploy", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.DeepEqual(comps, []string{"billing", "blog", "shop"}))
	assert.Check(t, engine.filter["label"][stackNamespaceLabel], "only services of a stack are listed: %v", engine.filter)

	comps, _ = completeWith(t, root, "deploy", "b")
	assert.Check(t, is.DeepEqual(comps, []string{"billing", "blog"}))
	comps, _ = completeWith(t, root, "deploy", "shop", "")
	assert.Check(t, is.Len(comps, 0), "deploy takes one stack")

	// --stack on sync (the flag completion registered on this tree is
	// the production one: call this completer's function directly).
	c, _ := testCompleter(t, engine, nil)
	comps, d = c.stackNames(root, nil, "s")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.DeepEqual(comps, []string{"shop"}))
}

func TestCompleteStackNamesErrorsAreSilent(t *testing.T) {
	_, root := testCompleter(t, nil, errors.New("no engine"))
	comps, d := completeWith(t, root, "deploy", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.Len(comps, 0))

	_, root = testCompleter(t, &fakeServices{err: errors.New("This node is not a swarm manager")}, nil)
	comps, d = completeWith(t, root, "deploy", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.Len(comps, 0))
}

// TestCompleteVaultSecrets lists the emulator's names through the
// production path (keyvault.Open, managed identity, TLS) when --vault is
// given, and nothing without it.
func TestCompleteVaultSecrets(t *testing.T) {
	seed := map[string]string{"db-password": "completion-secret-value-1", "api-key": "completion-secret-value-2"}
	s := useEmulator(t, kvtest.NewServer(t, kvtest.Options{Seed: seed}))

	comps, d := complete(t, "set", "--vault", s.VaultURL(), "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.DeepEqual(comps, []string{"api-key", "db-password"}))
	comps, _ = complete(t, "set", "--vault", s.VaultURL(), "db")
	assert.Check(t, is.DeepEqual(comps, []string{"db-password"}))

	// DOCKER_VAULT_URL alone is not enough: no network call unless asked.
	t.Setenv("DOCKER_VAULT_URL", s.VaultURL())
	comps, d = complete(t, "set", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.Len(comps, 0))

	comps, _ = complete(t, "set", "--vault", s.VaultURL(), "db-password", "")
	assert.Check(t, is.Len(comps, 0), "set takes one name")
}

// TestCompleteVaultSecretsWithinOneSecond: a slow vault offers nothing, and
// completion returns within the bound.
func TestCompleteVaultSecretsWithinOneSecond(t *testing.T) {
	s := useEmulator(t, kvtest.NewServer(t, kvtest.Options{Seed: map[string]string{"slow": "completion-secret-value-3"}, Latency: 5 * time.Second}))
	start := time.Now()
	comps, d := complete(t, "set", "--vault", s.VaultURL(), "")
	took := time.Since(start)
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.Len(comps, 0))
	assert.Check(t, took < 2*time.Second, "completion took %s", took)
}

// A store that ignores its context still cannot hold completion past the
// bound.
type stuckStore struct {
	keyvault.Store
	release chan struct{}
}

func (s stuckStore) List(context.Context, func(keyvault.SecretProperties) error) error {
	<-s.release
	return nil
}

func TestCompleteVaultSecretsStuckStore(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	c, root := testCompleter(t, nil, nil)
	c.vaultTimeout = 100 * time.Millisecond
	c.openVault = func(context.Context, keyvault.Config) (keyvault.Store, error) {
		return stuckStore{release: release}, nil
	}
	set, _, err := root.Find([]string{"set"})
	assert.NilError(t, err)
	assert.NilError(t, set.ParseFlags([]string{"--vault", "myvault"}))
	start := time.Now()
	comps, d := c.vaultSecrets(set, nil, "")
	assert.Check(t, time.Since(start) < time.Second)
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.Len(comps, 0))
}

// pingEngine is an engine API whose ping answers (or not) and that lists
// services of stacks.
type pingEngine struct {
	client.APIClient
	pingErr error
}

func (e *pingEngine) Ping(context.Context, client.PingOptions) (client.PingResult, error) {
	if e.pingErr != nil {
		return client.PingResult{}, e.pingErr
	}
	return client.PingResult{APIVersion: "1.41", OSType: "linux"}, nil
}

func (*pingEngine) ServiceList(context.Context, client.ServiceListOptions) (client.ServiceListResult, error) {
	return client.ServiceListResult{Items: []swarm.Service{stackService("shop")}}, nil
}

// TestCompleteStackNamesProductionEngine: the production completer asks the
// docker CLI's engine, only once it answered a ping (Client() would exit
// the process on an endpoint error).
func TestCompleteStackNamesProductionEngine(t *testing.T) {
	dockerCLI, out := newTestCLI(t, &pingEngine{})
	comps, d := completeWith(t, NewRootCmd(dockerCLI), "sync", "--stack", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.DeepEqual(comps, []string{"shop"}))
	assert.Check(t, is.Equal(out.String(), ""))

	dockerCLI, out = newTestCLI(t, &pingEngine{pingErr: errors.New("connection refused")})
	comps, d = completeWith(t, NewRootCmd(dockerCLI), "deploy", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.Len(comps, 0))
	assert.Check(t, is.Equal(out.String(), ""))
}
