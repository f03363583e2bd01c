package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

// lsSeed are the emulator's secrets in the ls tests; no test output may
// contain one of the values.
var lsSeed = map[string]string{
	"db-password":  "ls-value-db-9f1c",
	"prod-api-key": "ls-value-api-77aa",
	"unrelated":    "ls-value-unrelated-03",
	"old-token":    "ls-value-old-5e5e",
}

// startLsEmulator starts an emulator holding lsSeed (old-token disabled)
// and points the environment at it the way a user's shell would, with
// nothing in-process: the command takes its production path
// (DefaultAzureCredential through the managed identity endpoint, TLS
// verified against SSL_CERT_FILE, challenge check on).
func startLsEmulator(t *testing.T) *kvtest.Server {
	t.Helper()
	s := kvtest.NewServer(t, kvtest.Options{Seed: lsSeed})
	s.SetEnabled("old-token", false)
	return useEmulator(t, s)
}

// runLsCommand runs `docker vault ls ARGS` on a real DockerCli and returns
// what it printed and its error.
func runLsCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runCommand(t, newLsCommand, lsSeed, args...)
}

func TestLsTable(t *testing.T) {
	startLsEmulator(t)
	out, err := runLsCommand(t)
	assert.NilError(t, err)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	assert.Assert(t, is.Len(lines, 5), out)
	assert.Check(t, is.Regexp(`^NAME +STATUS +UPDATED +CONTENT TYPE$`, lines[0]))
	assert.Check(t, is.Regexp(`^db-password +enabled +\S.* ago +- *$`, lines[1]))
	assert.Check(t, is.Regexp(`^old-token +disabled +`, lines[2]))
	assert.Check(t, is.Regexp(`^prod-api-key +enabled +`, lines[3]))
	assert.Check(t, is.Regexp(`^unrelated +enabled +`, lines[4]))

	out, err = runLsCommand(t, "--format", "table")
	assert.NilError(t, err)
	assert.Check(t, is.Len(strings.Split(strings.TrimSpace(out), "\n"), 5))
}

func TestLsJSONTemplateQuiet(t *testing.T) {
	startLsEmulator(t)
	out, err := runLsCommand(t, "--format", "json")
	assert.NilError(t, err)
	rows := jsonLines(t, out)
	assert.Assert(t, is.Len(rows, 4))
	assert.Check(t, is.DeepEqual(keys(rows[0]), []string{"ComposeSecrets", "ContentType", "CreatedAt", "Enabled", "ExpiresAt", "Managed", "Name", "Status", "Tags", "Updated", "UpdatedAt", "Version"}))
	assert.Check(t, is.Equal(rows[0]["Name"], "db-password"))
	assert.Check(t, is.Equal(rows[0]["Enabled"], true))
	updated, err := time.Parse(time.RFC3339, rows[0]["UpdatedAt"].(string))
	assert.NilError(t, err)
	assert.Check(t, time.Since(updated) < time.Hour)
	assert.Check(t, is.Contains(rows[0]["Updated"], " ago"))
	assert.Check(t, is.Equal(rows[1]["Name"], "old-token"))
	assert.Check(t, is.Equal(rows[1]["Enabled"], false))
	assert.Check(t, is.Equal(rows[1]["Status"], "disabled"))
	assert.Check(t, is.Equal(rows[1]["Version"], "-"), "no version without --versions")
	assertTemplateFields(t, rows, func(format string) string {
		out, err := runLsCommand(t, "--format", format)
		assert.NilError(t, err)
		return out
	}, "Updated")

	out, err = runLsCommand(t, "--format", "{{.Name}}={{.Enabled}}")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "db-password=true\nold-token=false\nprod-api-key=true\nunrelated=true\n"))

	// A \t in a template is a tab, with no header and no alignment.
	out, err = runLsCommand(t, "--format", `{{.Name}}\t{{.Status}}`)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "db-password\tenabled\nold-token\tdisabled\nprod-api-key\tenabled\nunrelated\tenabled\n"))

	// table TEMPLATE: a header, aligned columns.
	out, err = runLsCommand(t, "--format", `table {{.Name}}\t{{.Enabled}}\t{{.ContentType}}`)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "NAME           ENABLED   CONTENT TYPE\n"+
		"db-password    true      -\nold-token      false     -\nprod-api-key   true      -\nunrelated      true      -\n"))

	out, err = runLsCommand(t, "-q")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "db-password\nold-token\nprod-api-key\nunrelated\n"))
	out, err = runLsCommand(t, "-q", "--format", "table")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "db-password\nold-token\nprod-api-key\nunrelated\n"))
	// As docker's ls commands: a template wins over -q.
	out, err = runLsCommand(t, "-q", "--format", "{{.Status}}")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "enabled\ndisabled\nenabled\nenabled\n"))
}

func TestLsFormatErrors(t *testing.T) {
	s := startLsEmulator(t)
	_, err := runLsCommand(t, "--format", "{{.Name")
	assert.Check(t, is.ErrorContains(err, "template parsing error"))
	assert.Check(t, is.DeepEqual(s.Counts(), map[string]int{}), "no request before the format parses")

	_, err = runLsCommand(t, "--format", "{{.NoSuchField}}")
	assert.Check(t, is.ErrorContains(err, "NoSuchField"))
	assert.Check(t, is.DeepEqual(s.Counts(), map[string]int{}), "no request before the format's fields are checked")
}

func TestLsComposeProject(t *testing.T) {
	s := startLsEmulator(t)
	// The vault comes from the compose file's x-vault url.
	t.Setenv("DOCKER_VAULT_URL", "")
	dir := t.TempDir()
	compose := filepath.Join(dir, "compose.yaml")
	assert.NilError(t, os.WriteFile(compose, []byte(`
x-vault:
  url: `+s.VaultURL()+`
services:
  app:
    image: busybox
    secrets: [db_password, api_key, smtp.password, tls_cert, unrelated, old_token]
secrets:
  db_password:
    file: ./db_password.txt
    x-vault: true
  api_key:
    external: true
    x-vault:
      name: prod-api-key
  smtp.password:
    file: ./smtp.txt
    x-vault: smtp-password
  tls_cert:
    file: ./server.crt
  unrelated:
    file: ./unrelated.txt
  old_token:
    external: true
    x-vault: false
`), 0o600))

	out, err := runLsCommand(t, "-f", compose)
	assert.NilError(t, err)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	assert.Assert(t, is.Len(lines, 7), out)
	assert.Check(t, is.Regexp(`^NAME +STATUS +UPDATED +CONTENT TYPE +COMPOSE SECRET$`, lines[0]))
	assert.Check(t, is.Regexp(`^db-password +enabled +.* +db_password$`, lines[1]))
	assert.Check(t, is.Regexp(`^prod-api-key +enabled +.* +api_key$`, lines[2]))
	assert.Check(t, is.Regexp(`^smtp-password +missing +- +- +smtp.password$`, lines[3]))
	// Not Key Vault-backed: listed as local, never as missing, and never
	// as the vault secret of the same name (unrelated, old-token).
	assert.Check(t, is.Regexp(`^- +local +- +- +old_token$`, lines[4]))
	assert.Check(t, is.Regexp(`^- +local +- +- +tls_cert$`, lines[5]))
	assert.Check(t, is.Regexp(`^- +local +- +- +unrelated$`, lines[6]))

	out, err = runLsCommand(t, "-f", compose, "--format", "json")
	assert.NilError(t, err)
	rows := jsonLines(t, out)
	assert.Assert(t, is.Len(rows, 6))
	assert.Check(t, is.DeepEqual(rows[2], map[string]any{"Name": "smtp-password", "Status": "missing", "Enabled": false, "Version": "-",
		"Updated": "-", "UpdatedAt": "", "CreatedAt": "", "ExpiresAt": "", "ContentType": "-", "Managed": false, "Tags": "", "ComposeSecrets": "smtp.password"}))
	assert.Check(t, is.Equal(rows[4]["Name"], "-"))
	assert.Check(t, is.Equal(rows[4]["Status"], "local"))
	assert.Check(t, is.Equal(rows[4]["ComposeSecrets"], "tls_cert"))

	out, err = runLsCommand(t, "-f", compose, "--format", "table {{.Name}}\t{{.ComposeSecrets}}")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "NAME            COMPOSE SECRET\ndb-password     db_password\nprod-api-key    api_key\n"+
		"smtp-password   smtp.password\n-               old_token\n-               tls_cert\n-               unrelated\n"))

	out, err = runLsCommand(t, "-f", compose, "-q")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "db-password\nprod-api-key\n"))

	// --versions asks only about the secrets the vault has.
	s.ResetCounts()
	out, err = runLsCommand(t, "-f", compose, "--versions")
	assert.NilError(t, err)
	assert.Check(t, is.Regexp(`(?m)^- +local +- +- +- +tls_cert$`, out))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListVersions), 2), "db-password and prod-api-key only")

	// --vault wins over x-vault.
	_, err = runLsCommand(t, "-f", compose, "--vault", "http://elsewhere")
	assert.Check(t, is.ErrorContains(err, "invalid vault in --vault"))
}

// TestLsComposeProjectFilesTrue: the top-level x-vault files: true backs
// every file secret without its own x-vault.
func TestLsComposeProjectFilesTrue(t *testing.T) {
	s := startLsEmulator(t)
	t.Setenv("DOCKER_VAULT_URL", "")
	dir := t.TempDir()
	compose := filepath.Join(dir, "compose.yaml")
	assert.NilError(t, os.WriteFile(compose, []byte(`
x-vault:
  url: `+s.VaultURL()+`
  files: true
services:
  app:
    image: busybox
    secrets: [db_password, tls_cert]
secrets:
  db_password:
    file: ./db_password.txt
  tls_cert:
    file: ./server.crt
    x-vault: false
`), 0o600))
	out, err := runLsCommand(t, "-f", compose, "--format", "{{.Name}} {{.Status}} {{.ComposeSecrets}}")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "db-password enabled db_password\n- local tls_cert\n"))
}

func TestLsVersions(t *testing.T) {
	s := startLsEmulator(t)
	first := s.SetSecret("rotated", "ls-rotated-value-1")
	// Creation times have a one-second resolution.
	time.Sleep(1100 * time.Millisecond)
	latest := s.SetSecret("rotated", "ls-rotated-value-2")
	s.ResetCounts()

	out, err := runLsCommand(t, "--versions")
	assert.NilError(t, err)
	assert.Check(t, is.Regexp(`(?m)^NAME +STATUS +VERSION +UPDATED +CONTENT TYPE$`, out))
	assert.Check(t, is.Regexp(`(?m)^rotated +enabled +`+latest+` `, out))
	assert.Check(t, !strings.Contains(out, first))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListVersions), 5), "one version list per secret")
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 0), "no value is read")
	assert.Check(t, !strings.Contains(out, "ls-rotated-value"))
}

func TestCurrentVersion(t *testing.T) {
	at := func(sec int64) time.Time { return time.Unix(1700000000+sec, 0) }
	assert.Check(t, is.Equal(currentVersion(nil), ""))
	assert.Check(t, is.Equal(currentVersion([]keyvault.SecretProperties{
		{Version: "a", Created: at(1)}, {Version: "c", Created: at(3)}, {Version: "b", Created: at(2)},
	}), "c"))
	// Two versions in the newest second: unknowable from metadata.
	assert.Check(t, is.Equal(currentVersion([]keyvault.SecretProperties{
		{Version: "a", Created: at(3)}, {Version: "c", Created: at(1)}, {Version: "b", Created: at(3)},
	}), ""))
	// A tie below the newest does not matter.
	assert.Check(t, is.Equal(currentVersion([]keyvault.SecretProperties{
		{Version: "a", Created: at(1)}, {Version: "b", Created: at(1)}, {Version: "c", Created: at(2)},
	}), "c"))
}

func TestLsErrors(t *testing.T) {
	s := startLsEmulator(t)

	_, err := runLsCommand(t, "--vault", "http://x")
	assert.Check(t, is.Error(err, `invalid vault in --vault: vault URL "http://x" must use https: use https://x`))

	_, err = runLsCommand(t, "--credential", "bogus")
	assert.Check(t, is.ErrorContains(err, `unknown credential "bogus": use one of default, env,`))
	assert.Check(t, is.DeepEqual(s.Counts(), map[string]int{}), "no request before the options are valid")

	s.SetFaults(kvtest.Faults{Forbidden: []string{"*"}})
	_, err = runLsCommand(t)
	assert.Check(t, is.ErrorContains(err, "failed to list secrets from https://emulator.vault.azure.net: access denied (ForbiddenByPolicy): the identity lacks the secrets list permission"))

	s.SetFaults(kvtest.Faults{Latency: 5 * time.Second})
	start := time.Now()
	_, err = runLsCommand(t, "--timeout", "300ms")
	assert.Check(t, is.Error(err, "failed to list secrets from https://emulator.vault.azure.net: timed out after 300ms (--timeout)"))
	assert.Check(t, time.Since(start) < 3*time.Second, "took %s", time.Since(start))

	_, err = runLsCommand(t, "--timeout", "0s")
	assert.Check(t, is.Error(err, "invalid --timeout: must be more than 0"))
}
