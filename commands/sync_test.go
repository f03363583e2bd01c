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
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/secretfile"
	"github.com/docker-vault/docker-vault/internal/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// infoClient is the fake Engine API with an Info answer: the test engine is
// a swarm manager, so the other cases are only reachable with a fake.
type infoClient struct {
	fakeClient
	infoFunc func(context.Context, client.InfoOptions) (client.SystemInfoResult, error)
}

func (f *infoClient) Info(ctx context.Context, o client.InfoOptions) (client.SystemInfoResult, error) {
	return f.infoFunc(ctx, o)
}

// useSyncEmulator points the environment at a fresh emulator the way a
// user's shell would.
func useSyncEmulator(t *testing.T, seed map[string]string) *kvtest.Server {
	t.Helper()
	s := kvtest.NewServer(t, kvtest.Options{Seed: seed})
	return useEmulator(t, s)
}

func TestSyncExternalSecretsNeedASwarmManager(t *testing.T) {
	s := useSyncEmulator(t, map[string]string{"db-password": "sync-unit-value-4242"})
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`
services:
  app:
    image: busybox
    secrets: [db_password]
secrets:
  db_password:
    external: true
`), 0o600))
	for _, tc := range []struct {
		name  string
		state system.Info
	}{
		{name: "not a swarm", state: system.Info{}},
		{name: "a swarm worker", state: swarmWorker()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &infoClient{infoFunc: func(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
				return client.SystemInfoResult{Info: tc.state}, nil
			}}
			for _, args := range [][]string{{"-f", filepath.Join(dir, "compose.yaml")}, {"-c", filepath.Join(dir, "compose.yaml"), "stack"}} {
				dockerCLI, out := newTestCLI(t, api)
				cmd := newSyncCommand(dockerCLI)
				if args[0] == "-c" {
					cmd = newDeployCommand(dockerCLI)
				}
				cmd.SetArgs(args)
				cmd.SilenceErrors, cmd.SilenceUsage = true, true
				err := cmd.Execute()
				assert.Check(t, is.Error(err, "external secrets need a swarm manager, and this engine is not one: run `docker swarm init`, or use `file:` secrets for plain Compose"))
				assert.Check(t, is.Equal(out.String(), ""))
			}
			assert.Check(t, is.Equal(s.Count(kvtest.RouteListSecrets), 0), "Key Vault was asked before the engine was checked")
		})
	}
}

func swarmWorker() (i system.Info) {
	i.Swarm.LocalNodeState = "active"
	i.Swarm.ControlAvailable = false
	return i
}

// A prune that Apply had to keep names an old version: deploying it would
// revert the rotation the same run made.
func TestRenderOverrideNamesTheCurrentVersion(t *testing.T) {
	secrets := []mapping.Secret{
		{Key: "db_password", Kind: mapping.External, Name: "db_password", KVName: "db-password"},
		{Key: "api_key", Kind: mapping.External, Name: "prod_api_key", KVName: "api-key"},
		{Key: "tls", Kind: mapping.File, Path: "/x/tls", KVName: "tls"},
	}
	plan := swarm.Plan{Actions: []swarm.Action{
		{Kind: swarm.ActionRotate, Secret: "db_password", Name: "db_password_cccccccc", Services: []string{"app_web"}},
		{Kind: swarm.ActionUnchanged, Secret: "prod_api_key", Name: "prod_api_key_aaaaaaaa"},
		{Kind: swarm.ActionKeep, Secret: "db_password", Name: "db_password_bbbbbbbb", Reason: "still used by task x"},
		{Kind: swarm.ActionPrune, Secret: "db_password", Name: "db_password_aaaaaaaa"},
	}}
	out, err := renderOverride(secrets, plan, "3.8")
	assert.NilError(t, err)
	assert.Equal(t, string(out), `version: "3.8"
secrets:
    api_key:
        external: true
        name: prod_api_key_aaaaaaaa
    db_password:
        external: true
        name: db_password_cccccccc
`)

	_, err = renderOverride(secrets, swarm.Plan{Actions: plan.Actions[2:]}, "")
	assert.Check(t, is.ErrorContains(err, "no swarm secret for db_password"))
}

func TestPrintSyncFailureHasNoSummary(t *testing.T) {
	failure := errors.New("failed to list secrets from https://v.vault.azure.net: access denied")
	var out bytes.Buffer
	assert.NilError(t, printSync(&out, "", &syncResult{}, failure))
	assert.Check(t, is.Equal(out.String(), ""), "an empty plan of a failed sync is not 'up to date'")

	res := &syncResult{Swarm: swarm.Plan{Actions: []swarm.Action{
		{Kind: swarm.ActionCreate, Secret: "a", Name: "a_aaaaaaaa"},
		{Kind: swarm.ActionError, Secret: "b", Reason: "Key Vault secret \"b\" does not exist"},
	}}}
	out.Reset()
	assert.NilError(t, printSync(&out, "", res, errors.New("nothing was changed: b: ...")))
	assert.Check(t, is.Contains(out.String(), "error"))
	assert.Check(t, !strings.Contains(out.String(), "changes applied"))

	out.Reset()
	assert.NilError(t, printSync(&out, "json", res, errors.New("nothing was changed: b: ...")))
	rows := jsonLines(t, out.String())
	assert.Assert(t, is.Len(rows, 2))
	assert.Check(t, is.Equal(rows[1]["Action"], "error"))
	assert.Check(t, is.Equal(rows[1]["Reason"], `Key Vault secret "b" does not exist`))
}

func TestPrintSyncFormats(t *testing.T) {
	version := "0123456789abcdef0123456789abcdef"
	res := &syncResult{Vault: "https://v.vault.azure.net", Swarm: swarm.Plan{Actions: []swarm.Action{
		{Kind: swarm.ActionRotate, Secret: "db_password", KVName: "db-password", Name: "db_password_01234567", Version: version,
			Services: []string{"app_web", "app_worker"}, Others: []string{"other_web"}},
		{Kind: swarm.ActionPrune, Secret: "db_password", Name: "db_password_aaaaaaaa", Reason: "no task uses it"},
	}}, Files: []secretfile.Change{
		{Secret: "api_key", Path: "/p/secrets/api_key", Action: "update", Version: version},
	}}
	print := func(format string) string {
		t.Helper()
		var out bytes.Buffer
		assert.NilError(t, printSync(&out, format, res, nil))
		return out.String()
	}
	table := "SECRET        ACTION    DOCKER                 VERSION    DETAIL\n" +
		"db_password   rotate    db_password_01234567   01234567   services: app_web, app_worker\n" +
		"db_password   prune     db_password_aaaaaaaa              no task uses it\n" +
		"api_key       update    /p/secrets/api_key     01234567   \n" +
		"3 changes applied\n"
	assert.Check(t, is.Equal(print(""), table))
	assert.Check(t, is.Equal(print("table"), table))

	// table TEMPLATE: a header, no summary; a table cuts versions, as
	// docker ps cuts ids, a template or json does not.
	assert.Check(t, is.Equal(print(`table {{.Kind}}\t{{.Secret}}\t{{.Version}}`),
		"KIND      SECRET        VERSION\nswarm     db_password   01234567\nswarm     db_password   \nfile      api_key       01234567\n"))
	assert.Check(t, is.Equal(print(`{{.Version}}`), version+"\n\n"+version+"\n"))
	assert.Check(t, is.Equal(print(`{{.Secret}}\t{{.Action}}`), "db_password\trotate\ndb_password\tprune\napi_key\tupdate\n"))
	assert.Check(t, is.Equal(print(`{{.Secret}}`), "db_password\ndb_password\napi_key\n"), "any template, not only json")

	rows := jsonLines(t, print("json"))
	assert.Assert(t, is.Len(rows, 3))
	assert.Check(t, is.DeepEqual(keys(rows[0]), []string{"Action", "Detail", "Docker", "Kind", "OtherServices", "Path", "Reason", "Secret", "Services", "SwarmSecret", "Vault", "VaultSecret", "Version"}))
	assert.Check(t, is.DeepEqual(rows[0], map[string]any{"Action": "rotate", "Detail": "services: app_web, app_worker", "Docker": "db_password_01234567",
		"Kind": "swarm", "OtherServices": []any{"other_web"}, "Path": "", "Reason": "", "Secret": "db_password", "Services": []any{"app_web", "app_worker"},
		"SwarmSecret": "db_password_01234567", "Vault": "https://v.vault.azure.net", "VaultSecret": "db-password", "Version": version}))
	assert.Check(t, is.Equal(rows[2]["Path"], "/p/secrets/api_key"))
	assertTemplateFields(t, rows, print)

	var out bytes.Buffer
	assert.Check(t, is.ErrorContains(printSync(&out, "{{.Secret", res, nil), "template parsing error"))
}

// Every duration and number flag is refused before any work: the command
// runs with no Docker CLI and no project, so any work would fail otherwise.
func TestSyncFlagBounds(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--watch", "-1s"}, "invalid --watch -1s: must be at least 10s (every round lists the whole vault)"},
		{[]string{"--watch", "1ns"}, "invalid --watch 1ns: must be at least 10s"},
		{[]string{"--watch", "9.999s"}, "invalid --watch 9.999s: must be at least 10s"},
		{[]string{"--watch", "10s", "--dry-run"}, "--watch and --dry-run cannot be combined"},
		{[]string{"--keep", "-1"}, "invalid --keep -1: must be 0 or more"},
		{[]string{"--parallel", "0"}, "invalid --parallel 0: must be 1 or more"},
		{[]string{"--timeout", "0s"}, "invalid --timeout: must be more than 0"},
		{[]string{"--stack", "a", "--all-stacks"}, "--stack and --all-stacks cannot be combined"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := newSyncCommand(nil)
			cmd.SetArgs(tc.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			assert.Check(t, is.ErrorContains(cmd.Execute(), tc.want))
		})
	}
	cmd := newDeployCommand(nil)
	cmd.SetArgs([]string{"--watch", "10s", "stack"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	assert.Check(t, is.ErrorContains(cmd.Execute(), "deploy does not take --watch"))
}
