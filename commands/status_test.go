package commands

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/fetch"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest/kvstore"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/status"
	"github.com/docker-vault/docker-vault/internal/swarm"
	"github.com/docker/cli/cli"
	swarmtypes "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestPrintStatusFormats(t *testing.T) {
	version := "0123456789abcdef0123456789abcdef"
	exp := time.Date(2026, 12, 20, 8, 0, 0, 0, time.UTC)
	rows := []status.Row{
		{Secret: "db_password", Kind: mapping.External, Target: "db_password", KVName: "db-password", Vault: status.VaultEnabled,
			Holds: "aaaaaaaabbbbbbbbccccccccdddddddd", Current: "db_password_aaaaaaaa", State: status.Stale,
			Services: []string{"app_web"}, Others: []string{"other_web"}, Expires: exp, Expiry: status.Expiring,
			Notes: []string{"expires soon", "services on an older version: app_web"}},
		{Secret: "api_key", Kind: mapping.File, Target: "/p/secrets/api_key", KVName: "api-key", Vault: status.VaultEnabled,
			Version: version, Holds: version, State: status.InSync},
	}
	print := func(format string) string {
		t.Helper()
		var out bytes.Buffer
		assert.NilError(t, printStatus(&out, format, rows))
		return out.String()
	}
	table := "SECRET        VAULT SECRET   VAULT     VERSION    EXPIRES      DOCKER    DETAIL\n" +
		"db_password   db-password    enabled   -          2026-12-20   stale     expires soon; services on an older version: app_web\n" +
		"api_key       api-key        enabled   01234567   -            in-sync   \n"
	assert.Check(t, is.Equal(print(""), table))
	assert.Check(t, is.Equal(print("table"), table))
	assert.Check(t, is.Equal(print(`table {{.Kind}}\t{{.Secret}}\t{{.DockerVersion}}`),
		"KIND      SECRET        DOCKER VERSION\nswarm     db_password   aaaaaaaa\nfile      api_key       01234567\n"))
	assert.Check(t, is.Equal(print(`{{.Secret}} {{.Docker}} {{.Drift}}`), "db_password stale true\napi_key in-sync false\n"))
	assert.Check(t, is.Equal(print(`{{.Expires}}`), "2026-12-20T08:00:00Z\n\n"), "a template has full times")

	js := jsonLines(t, print("json"))
	assert.Assert(t, is.Len(js, 2))
	assert.Check(t, is.DeepEqual(keys(js[0]), []string{"Detail", "Docker", "DockerVersion", "Drift", "Expires", "Expiry", "Kind",
		"NotBefore", "Orphans", "OtherServices", "Secret", "Services", "SwarmSecret", "Target", "Updated", "Vault", "VaultSecret", "Version"}))
	assert.Check(t, is.DeepEqual(js[0], map[string]any{
		"Detail": "expires soon; services on an older version: app_web", "Docker": "stale", "DockerVersion": "aaaaaaaabbbbbbbbccccccccdddddddd",
		"Drift": true, "Expires": "2026-12-20T08:00:00Z", "Expiry": "expiring", "Kind": "swarm", "NotBefore": "", "Orphans": nil,
		"OtherServices": []any{"other_web"}, "Secret": "db_password", "Services": []any{"app_web"}, "SwarmSecret": "db_password_aaaaaaaa",
		"Target": "db_password", "Updated": "", "Vault": "enabled", "VaultSecret": "db-password", "Version": "",
	}))
	assert.Check(t, is.Equal(js[1]["Version"], version))
	assertTemplateFields(t, js, print)

	// A project in sync: the default table says so.
	var out bytes.Buffer
	assert.NilError(t, printStatus(&out, "", rows[1:]))
	assert.Check(t, is.Contains(out.String(), "\nall 1 secrets are in sync\n"))
}

func TestParseDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "0d": 0, "12h": 12 * time.Hour, "1h30m": 90 * time.Minute, "0": 0} {
		got, err := parseDays(in)
		assert.Check(t, err, in)
		assert.Check(t, is.Equal(got, want), in)
	}
	for _, in := range []string{"", "d", "x", "1.5d", "30 days", "-1d", "-2h"} {
		_, err := parseDays(in)
		assert.Check(t, err != nil, in)
	}
}

// Bad flags are refused before any work: the command runs with no project
// and no vault, so any work would fail otherwise.
func TestStatusFlagBounds(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--expiry-warning", "soon"}, `invalid --expiry-warning "soon": want a number of days (30d) or a duration (12h)`},
		{[]string{"--expiry-warning", "-3d"}, `invalid --expiry-warning "-3d": must not be negative`},
		{[]string{"--keep", "-1"}, "invalid --keep -1: must be 0 or more"},
		{[]string{"--timeout", "0s"}, "invalid --timeout: must be more than 0"},
		{[]string{"--format", "{{.Value}}"}, "can't evaluate field Value"},
		{[]string{"extra"}, "'status' accepts no arguments"},
	} {
		_, err := runCommand(t, newStatusCommand, nil, tc.args...)
		assert.Check(t, is.ErrorContains(err, tc.want), "%v", tc.args)
	}
}

// statusClient is the fake engine with a swarm holding the given secrets
// and no service.
type statusClient struct {
	fakeClient
	secrets []swarmtypes.Secret
	calls   int
}

func (f *statusClient) SecretList(context.Context, client.SecretListOptions) (client.SecretListResult, error) {
	f.calls++
	return client.SecretListResult{Items: f.secrets}, nil
}

// TestStatusExitCodes: 0 and a summary when the swarm holds the current
// version, 3 with the summary as the error when it does not, and a JSON
// row either way. No value is printed.
func TestStatusExitCodes(t *testing.T) {
	const value = "status-unit-value-8181"
	s := useSyncEmulator(t, map[string]string{"db-password": value})
	listed, err := fetch.List(context.Background(), kvstore.Open(t, s))
	assert.NilError(t, err)
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`
name: proj
services:
  app:
    image: busybox
    secrets: [db_password]
secrets:
  db_password:
    external: true
`), 0o600))
	version := "0123456789abcdef0123456789abcdef"
	var synced swarmtypes.Secret
	synced.ID, synced.Spec.Name = "sid", swarm.VersionedName("db_password", version)
	synced.Spec.Labels = map[string]string{
		swarm.LabelManaged: "true", swarm.LabelSecret: "db_password", swarm.LabelVersion: version,
		swarm.LabelSource: s.VaultURL(), swarm.LabelVaultSecret: "db-password",
		swarm.LabelUpdated: strconv.FormatInt(listed["db-password"].Updated.Unix(), 10),
	}
	run := func(eng *statusClient, args ...string) (string, error) {
		t.Helper()
		dockerCLI, out := newTestCLI(t, eng)
		cmd := newStatusCommand(dockerCLI)
		cmd.SetArgs(append([]string{"--project-directory", dir}, args...))
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		assert.Check(t, !bytes.Contains(out.Bytes(), []byte(value)), "output leaks the value")
		return out.String(), err
	}

	eng := &statusClient{secrets: []swarmtypes.Secret{synced}}
	out, err := run(eng)
	assert.NilError(t, err)
	assert.Check(t, is.Regexp(`(?m)^db_password +db-password +enabled +01234567 +- +in-sync +$`, out))
	assert.Check(t, is.Contains(out, "all 1 secrets are in sync"))
	assert.Check(t, is.Equal(eng.calls, 1))

	out, err = run(&statusClient{}, "--format", "json")
	var se cli.StatusError
	assert.Assert(t, errors.As(err, &se), "%v", err)
	assert.Check(t, is.Equal(se.StatusCode, 3))
	assert.Check(t, is.Equal(se.Status, "1 of 1 secrets drift from Key Vault"))
	js := jsonLines(t, out)
	assert.Assert(t, is.Len(js, 1))
	assert.Check(t, is.Equal(js[0]["Docker"], "missing"))
	assert.Check(t, is.Equal(js[0]["Drift"], true))
}

func TestCompleteExpiryWarning(t *testing.T) {
	comps, d := complete(t, "status", "--expiry-warning", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.DeepEqual(comps, []string{"7d", "14d", "30d", "90d"}))
	comps, _ = complete(t, "status", "--expiry-warning", "1")
	assert.Check(t, is.DeepEqual(comps, []string{"14d"}))
	comps, _ = complete(t, "status", "--format", "")
	assert.Check(t, is.DeepEqual(comps, []string{"table", "json"}))
}
