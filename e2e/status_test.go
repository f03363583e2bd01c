package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// statusRow is the part of a `status --format json` row the tests read.
type statusRow struct {
	Secret      string
	VaultSecret string
	Vault       string
	Version     string
	Expires     string
	Expiry      string
	Docker      string
	SwarmSecret string
	Services    []string
	Orphans     []string
	Drift       bool
	Detail      string
}

func statusRows(t *testing.T, res *icmd.Result) map[string]statusRow {
	t.Helper()
	rows := map[string]statusRow{}
	for line := range strings.Lines(res.Stdout()) {
		var r statusRow
		assert.NilError(t, json.Unmarshal([]byte(line), &r), "not one JSON object per line: %q", line)
		rows[r.Secret] = r
	}
	return rows
}

// setExpires sets the exp of a secret's current version in the emulator, as
// `az keyvault secret set-attributes --expires` would.
func setExpires(t *testing.T, s *kvtest.Server, name string, exp time.Time) {
	t.Helper()
	body := fmt.Sprintf(`{"attributes":{"exp":%d}}`, exp.Unix())
	req, err := http.NewRequest(http.MethodPatch, s.VaultURL()+"/secrets/"+name+"/?api-version=7.6", strings.NewReader(body))
	assert.NilError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient().Do(req)
	assert.NilError(t, err)
	resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusOK)
}

// TestStatus follows a deployed stack through status: missing before the
// deploy, in sync after it, stale after a rotation in Key Vault (with no
// value read), in sync after sync, an orphaned version after syncs that kept
// more versions than status is told to expect, an exp within the warning
// window, and an unreachable vault. Every run exits 0 in sync, 3 on drift or
// an expiry warning, 1 on error, and no output holds a value.
func TestStatus(t *testing.T) {
	p := syncPrefix(t)
	stack := p
	cleanupSwarm(t, p, stack)
	values := map[string]string{"db1": newSecretValue("st-db1"), "db2": newSecretValue("st-db2"), "db3": newSecretValue("st-db3"),
		"api": newSecretValue("st-api")}
	s := kvtest.NewServer(t, kvtest.Options{Seed: map[string]string{"db-password": values["db1"], "api-key": values["api"]}})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	assert.NilError(t, s.WriteCA(ca))
	kvEnv := s.Env(ca)
	// The API key expires in 10 days: a warning with the default 30d
	// window, none with 7d.
	setExpires(t, s, "api-key", time.Now().Add(10*24*time.Hour))
	nextSecond()

	dir := t.TempDir()
	writeProjectFile(t, dir, "compose.yaml", `services:
  web:
    image: `+env.baseImage+`
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]
    stop_grace_period: 2s
    secrets: [db_password, api_key]
secrets:
  db_password:
    external: true
    name: `+p+`_db_password
    x-vault:
      name: db-password
  api_key:
    external: true
    name: `+p+`_api_key
    x-vault: api-key
`)
	service := stack + "_web"
	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, kvEnv, dir, args...)
		outputs = append(outputs, res)
		return res
	}
	status := func(args ...string) *icmd.Result {
		t.Helper()
		return run(append([]string{"vault", "status", "--stack", stack}, args...)...)
	}
	// Rows are keyed by compose secret; the swarm names carry the prefix.
	db, api, dbSwarm := "db_password", "api_key", p+"_db_password"
	// A new version in a later second than anything before, settled by
	// the time anything reads it (see rotateLater).
	rotate := func(name, value string) {
		nextSecond()
		s.SetSecret(name, value)
		nextSecond()
	}

	// Before the deploy Docker holds nothing.
	res := status("--format", "json")
	res.Assert(t, icmd.Expected{ExitCode: 3, Err: "2 of 2 secrets drift from Key Vault, 1 expiry warning"})
	rows := statusRows(t, res)
	assert.Check(t, is.Equal(rows[db].Docker, "missing"))
	assert.Check(t, is.Equal(rows[api].Docker, "missing"))

	res = run("vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stack)
	res.Assert(t, icmd.Success)

	// In sync after the deploy: one Key Vault list, no value read.
	s.ResetCounts()
	res = status("--expiry-warning", "7d")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Regexp(`(?m)^`+db+` +db-password +enabled +[0-9a-f]{8} +- +in-sync +$`, res.Stdout()))
	assert.Check(t, is.Regexp(`(?m)^`+api+` +api-key +enabled +[0-9a-f]{8} +\d{4}-\d\d-\d\d +in-sync +$`, res.Stdout()))
	assert.Check(t, is.Contains(res.Stdout(), "all 2 secrets are in sync"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListSecrets), 1))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 0))

	// The default 30-day window warns of the API key's exp.
	res = status()
	res.Assert(t, icmd.Expected{ExitCode: 3, Err: "1 expiry warning"})
	assert.Check(t, is.Regexp(`(?m)^`+api+` +api-key +enabled .* in-sync +expires \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in (9|10) days\)$`, res.Stdout()))

	// A rotation in Key Vault: stale, found without reading a value.
	rotate("db-password", values["db2"])
	s.ResetCounts()
	res = status("--expiry-warning", "7d", "--format", "json")
	res.Assert(t, icmd.Expected{ExitCode: 3, Err: "1 of 2 secrets drift from Key Vault"})
	rows = statusRows(t, res)
	assert.Check(t, is.Equal(rows[db].Docker, "stale"))
	assert.Check(t, rows[db].Drift)
	assert.Check(t, is.Contains(rows[db].Detail, "Key Vault secret changed"))
	assert.Check(t, is.Equal(rows[api].Docker, "in-sync"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 0))

	// In sync after sync.
	res = run("vault", "sync", "--stack", stack, "--wait")
	res.Assert(t, icmd.Success)
	res = status("--expiry-warning", "7d")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "all 2 secrets are in sync"))

	// Another rotation, synced keeping two old versions: status, told that
	// sync keeps one, names the oldest as orphaned; told two, it is in sync.
	rotate("db-password", values["db3"])
	res = run("vault", "sync", "--stack", stack, "--wait", "--keep", "2")
	res.Assert(t, icmd.Success)
	versions := swarmSecrets(t, dbSwarm+"_")
	assert.Assert(t, is.Len(versions, 3))
	res = status("--expiry-warning", "7d", "--format", "json")
	res.Assert(t, icmd.Expected{ExitCode: 3, Err: "1 of 2 secrets drift from Key Vault"})
	rows = statusRows(t, res)
	assert.Check(t, is.Equal(rows[db].Docker, "orphaned"))
	assert.Check(t, is.Len(rows[db].Orphans, 1))
	assert.Check(t, is.Contains(versions, rows[db].Orphans[0]))
	assert.Check(t, rows[db].SwarmSecret != rows[db].Orphans[0])
	res = status("--expiry-warning", "7d", "--keep", "2")
	res.Assert(t, icmd.Success)
	// The sync with --keep 1 removes it, and status agrees.
	res = run("vault", "sync", "--stack", stack)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Len(swarmSecrets(t, dbSwarm+"_"), 2))
	res = status("--expiry-warning", "7d", "--format", "{{.Secret}} {{.Docker}} {{.Services}}")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), api+" in-sync []\n"+db+" in-sync []\n"))

	// A service moved back to the older version is stale, by name.
	cur, old := rows[db].SwarmSecret, ""
	for _, n := range swarmSecrets(t, dbSwarm+"_") {
		if n != cur {
			old = n
		}
	}
	assert.Assert(t, old != "")
	res = docker(t, nil, "service", "update", "--detach", "--secret-rm", cur, "--secret-add", "source="+old+",target=db_password", service)
	res.Assert(t, icmd.Success)
	res = status("--expiry-warning", "7d", "--format", "json")
	res.Assert(t, icmd.Expected{ExitCode: 3, Err: "1 of 2 secrets drift from Key Vault"})
	got := statusRows(t, res)[db]
	assert.Check(t, is.Equal(got.Docker, "stale"))
	assert.Check(t, is.DeepEqual(got.Services, []string{service}))
	assert.Check(t, is.Equal(got.SwarmSecret, cur))

	// An unreachable vault: exit 1, nothing printed but the error.
	res = status("--vault", "https://unreachable.vault.azure.net", "--timeout", "5s")
	assert.Check(t, is.Equal(res.ExitCode, 1), res.Combined())
	assert.Check(t, is.Equal(res.Stdout(), ""))
	assert.Check(t, is.Contains(res.Stderr(), "unreachable.vault.azure.net"))

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
	assertNoValueInText(t, "docker inspect", inspectAll(t, p), values)
}

// TestStatusFiles: the file secrets of a plain Compose project, compared by
// the version sync recorded: in sync after sync, stale after a rotation,
// missing once the file is gone. No engine object is involved.
func TestStatusFiles(t *testing.T) {
	values := map[string]string{"v1": newSecretValue("stf1"), "v2": newSecretValue("stf2")}
	s := kvtest.NewServer(t, kvtest.Options{Seed: map[string]string{"app-token": values["v1"]}})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	assert.NilError(t, s.WriteCA(ca))
	kvEnv := s.Env(ca)
	nextSecond()
	dir := t.TempDir()
	writeProjectFile(t, dir, "compose.yaml", `services:
  app:
    image: `+env.baseImage+`
    secrets: [token]
secrets:
  token:
    file: ./secrets/token
    x-vault: app-token
`)
	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, kvEnv, dir, args...)
		outputs = append(outputs, res)
		return res
	}
	file := filepath.Join(dir, "secrets", "token")
	res := run("vault", "status", "--format", "{{.Secret}} {{.Docker}} {{.Target}}")
	res.Assert(t, icmd.Expected{ExitCode: 3, Out: "token missing " + file + "\n", Err: "1 of 1 secrets drift from Key Vault"})

	run("vault", "sync").Assert(t, icmd.Success)
	res = run("vault", "status")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Regexp(`(?m)^token +app-token +enabled +[0-9a-f]{8} +- +in-sync +$`, res.Stdout()))

	nextSecond()
	s.SetSecret("app-token", values["v2"])
	nextSecond()
	res = run("vault", "status", "--format", "{{.Docker}}: {{.Detail}}")
	res.Assert(t, icmd.Expected{ExitCode: 3})
	assert.Check(t, is.Regexp(`^stale: Key Vault secret changed .*, after version [0-9a-f]{8} was written\n$`, res.Stdout()))

	run("vault", "sync").Assert(t, icmd.Success)
	run("vault", "status").Assert(t, icmd.Success)
	assert.NilError(t, os.Remove(file))
	res = run("vault", "status", "--format", "{{.Docker}}")
	res.Assert(t, icmd.Expected{ExitCode: 3, Out: "missing\n"})

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
}
