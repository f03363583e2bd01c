package commands

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/cli/cli"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

// migrateProject has a literal, a ${VAR} from .env (escaped there, so the
// raw line is not the value), an env_file line, a value two services share,
// and a reported one (no file variant) whose line stays in the file.
const migrateProject = `services:
  db:
    image: postgres:16
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: "Cmd-Pg-Pw-\u0034\u0031"   # escaped in YAML
  web:
    image: wordpress:6
    environment:
      - WORDPRESS_DB_PASSWORD=Cmd-Pg-Pw-41
      - WORDPRESS_AUTH_KEY=${AUTH_KEY}
    env_file: web.env
  api:
    image: myorg/api:2
    environment:
      API_TOKEN: Cmd-Api-Token-43
`

var migrateValues = map[string]string{
	"postgres":  "Cmd-Pg-Pw-41",
	"auth key":  `Cmd-Auth"Key-42`,
	"api token": "Cmd-Api-Token-43",
	"salt":      "Cmd-Salt-44",
}

func writeMigrateProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"compose.yaml": migrateProject,
		".env":         "# comment\nAUTH_KEY=\"Cmd-Auth\\\"Key-42\"\nOTHER=1\n",
		"web.env":      "WORDPRESS_DB_USER=app\nWORDPRESS_NONCE_SALT=Cmd-Salt-44\n",
	} {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	return dir
}

// snapshot is every file under dir with its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	assert.NilError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = string(b)
		return err
	}))
	return out
}

// runMigrateCommand runs `docker vault migrate ARGS` in dir on a real
// DockerCli and returns what it printed and its error; neither may hold a
// value.
func runMigrateCommand(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	t.Chdir(dir)
	for _, k := range []string{"COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME", "COMPOSE_DISABLE_ENV_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	return runCommand(t, newMigrateCommand, migrateValues, args...)
}

func TestMigrateDryRun(t *testing.T) {
	dir := writeMigrateProject(t)
	before := snapshot(t, dir)
	out, err := runMigrateCommand(t, dir, "--dry-run")
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(snapshot(t, dir), before), "--dry-run wrote")

	assert.Check(t, is.Regexp(`(?m)^SERVICE +VARIABLE +SOURCE +ACTION +VIA +SECRET +REASON$`, out))
	assert.Check(t, is.Regexp(`(?m)^db +POSTGRES_PASSWORD -> POSTGRES_PASSWORD_FILE +literal +migrated +file-variable +postgres_password`, out))
	// The fake engine has no image and no registry: myorg/api cannot be
	// read, so it can be neither judged nor wrapped, and the reason says so.
	assert.Check(t, is.Regexp(`(?m)^api +API_TOKEN +literal +reported +name contains "token"; .*could not be read \(pulling myorg/api:2: .*pull access denied`, out))
	// The diffs: each changed line, the value lines blanked, the secret
	// files by size only.
	for _, want := range []string{
		"--- a/compose.yaml\n+++ b/compose.yaml\n",
		"\n-      POSTGRES_PASSWORD: ********\n+      POSTGRES_PASSWORD_FILE: \"/run/secrets/postgres_password\"   # escaped in YAML\n",
		"\n-      - WORDPRESS_DB_PASSWORD=********\n-      - WORDPRESS_AUTH_KEY=${AUTH_KEY}\n+      - WORDPRESS_DB_PASSWORD_FILE=/run/secrets/postgres_password\n+      - WORDPRESS_AUTH_KEY_FILE=/run/secrets/wordpress_auth_key\n",
		"\n       API_TOKEN: ********\n",
		"--- a/.env\n+++ b/.env\n",
		"\n-AUTH_KEY=********\n",
		"--- a/web.env\n+++ b/web.env\n",
		"\n-WORDPRESS_NONCE_SALT=********\n+WORDPRESS_NONCE_SALT_FILE=/run/secrets/wordpress_nonce_salt\n",
		"--- /dev/null\n+++ secrets/postgres_password\n(new secret file, mode 0600, 12 bytes; content not shown)\n",
		"--- /dev/null\n+++ b/.gitignore\n@@ -0,0 +1,2 @@\n+# secret values written by docker vault migrate\n+/secrets/\n",
		"would migrate 4 variables into 3 secrets, report 1; 7 files would change (nothing written)\n",
	} {
		assert.Check(t, is.Contains(out, want))
	}
}

func TestMigrateCheck(t *testing.T) {
	dir := writeMigrateProject(t)
	before := snapshot(t, dir)
	_, err := runMigrateCommand(t, dir, "--check")
	var se cli.StatusError
	assert.Assert(t, errors.As(err, &se), "%v", err)
	assert.Check(t, is.Equal(se.StatusCode, 3))
	assert.Check(t, is.DeepEqual(snapshot(t, dir), before), "--check wrote")

	out, err := runMigrateCommand(t, dir)
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "migrated 4 variables into 3 secrets, reported 1; wrote 7 files\n"))
	after := snapshot(t, dir)
	assert.Check(t, is.Equal(after[filepath.Join("secrets", "postgres_password")], migrateValues["postgres"]))
	assert.Check(t, is.Equal(after[filepath.Join("secrets", "wordpress_auth_key")], migrateValues["auth key"]))
	for rel, content := range after {
		if filepath.Dir(rel) == "secrets" || rel == "compose.yaml" {
			continue // compose.yaml keeps the reported API token
		}
		for name, v := range migrateValues {
			assert.Check(t, !strings.Contains(content, v), "%s still holds the %s value", rel, name)
		}
	}

	// Nothing left to change, but the API token is still reported in
	// place: a secret in the file fails the gate unless --allow-reported.
	out, err = runMigrateCommand(t, dir, "--check")
	assert.Assert(t, errors.As(err, &se), "%v", err)
	assert.Check(t, is.Equal(se.StatusCode, 3))
	assert.Check(t, is.Contains(se.Status, "1 secrets are reported in place"))
	assert.Check(t, is.Contains(out, "nothing to migrate"))
	out, err = runMigrateCommand(t, dir, "--check", "--allow-reported")
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "nothing to migrate"))
	_, err = runMigrateCommand(t, dir, "--allow-reported")
	assert.Check(t, is.ErrorContains(err, "--allow-reported goes with --check"))
	out, err = runMigrateCommand(t, dir)
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "nothing to migrate: "))
	assert.Check(t, is.DeepEqual(snapshot(t, dir), after))
}

func TestMigrateJSON(t *testing.T) {
	dir := writeMigrateProject(t)
	out, err := runMigrateCommand(t, dir, "--format", "json", "--dry-run")
	assert.NilError(t, err)
	rows := jsonLines(t, out)
	assert.Assert(t, is.Len(rows, 5), "the migrated and reported findings: %s", out)
	actions := map[string]int{}
	for _, f := range rows {
		assert.Check(t, is.DeepEqual(keys(f), []string{"Action", "FileVariable", "Reason", "Secret", "Service", "Source", "Variable", "VaultAction", "VaultSecret", "Via"}))
		actions[f["Action"].(string)]++
	}
	assert.Check(t, is.DeepEqual(actions, map[string]int{"migrated": 4, "reported": 1}))
	assert.Check(t, is.DeepEqual(rows[0], map[string]any{"Service": "db", "Variable": "POSTGRES_PASSWORD", "FileVariable": "POSTGRES_PASSWORD_FILE",
		"Source": "literal", "Action": "migrated", "Via": "file-variable", "Secret": "postgres_password", "Reason": "", "VaultAction": "", "VaultSecret": ""}))
	assertTemplateFields(t, rows, func(format string) string {
		out, err := runMigrateCommand(t, dir, "--format", format, "--dry-run")
		assert.NilError(t, err)
		return out
	})

	// Nothing to do: no row, no summary line.
	empty := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(empty, "compose.yaml"), []byte("services:\n  a:\n    image: busybox\n"), 0o644))
	out, err = runMigrateCommand(t, empty, "--format", "json")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, ""))
}

func TestMigrateFormats(t *testing.T) {
	dir := writeMigrateProject(t)
	before := snapshot(t, dir)
	out, err := runMigrateCommand(t, dir, "--format", `table {{.Service}}\t{{.Variable}}\t{{.FileVariable}}`, "--dry-run")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "SERVICE   VARIABLE                FILE VARIABLE\n"+
		"db        POSTGRES_PASSWORD       POSTGRES_PASSWORD_FILE\n"+
		"web       WORDPRESS_DB_PASSWORD   WORDPRESS_DB_PASSWORD_FILE\n"+
		"web       WORDPRESS_AUTH_KEY      WORDPRESS_AUTH_KEY_FILE\n"+
		"web       WORDPRESS_NONCE_SALT    WORDPRESS_NONCE_SALT_FILE\n"+
		"api       API_TOKEN               \n"), "a table TEMPLATE is the rows only: no diff, no summary")

	out, err = runMigrateCommand(t, dir, "--format", `{{.Service}}.{{.Variable}}\t{{.Action}}`, "--dry-run")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "db.POSTGRES_PASSWORD\tmigrated\nweb.WORDPRESS_DB_PASSWORD\tmigrated\n"+
		"web.WORDPRESS_AUTH_KEY\tmigrated\nweb.WORDPRESS_NONCE_SALT\tmigrated\napi.API_TOKEN\treported\n"))

	// "table" is the default: the findings, the diffs, the summary.
	out, err = runMigrateCommand(t, dir, "--format", "table", "--dry-run")
	assert.NilError(t, err)
	assert.Check(t, is.Regexp(`^SERVICE +VARIABLE +SOURCE +ACTION +VIA +SECRET +REASON\n`, out))
	assert.Check(t, is.Contains(out, "--- a/compose.yaml\n"))
	assert.Check(t, is.Contains(out, "would migrate 4 variables into 3 secrets, report 1; 7 files would change (nothing written)\n"))
	assert.Check(t, is.DeepEqual(snapshot(t, dir), before))

	// A template is refused before the project is read or written.
	_, err = runMigrateCommand(t, dir, "--format", "{{.Service")
	assert.Check(t, is.ErrorContains(err, "template parsing error"))
	assert.Check(t, is.DeepEqual(snapshot(t, dir), before))
}

func TestMigrateFlagErrors(t *testing.T) {
	dir := writeMigrateProject(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--to", "vault"}, `invalid --to "vault"`},
		{[]string{"--push"}, "--push goes with --to external or --to environment"},
		{[]string{"--to", "env"}, `invalid --to "env": use "file", "external" or "environment"`},
		{[]string{"--to", "external"}, "--to external needs --push"},
		{[]string{"--format", "{{.Nope"}, `template parsing error`},
		{[]string{"-f", "missing.yaml"}, "missing.yaml"},
	} {
		_, err := runMigrateCommand(t, dir, tc.args...)
		assert.Check(t, is.ErrorContains(err, tc.want), "%v", tc.args)
	}
	// A compose-go error comes back as compose-go says it.
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  db:\n    image: postgres\n    ports: 12\n"), 0o644))
	_, err := runMigrateCommand(t, dir)
	assert.Check(t, is.ErrorContains(err, "services.db.ports must be a array"))
}

// startMigrateEmulator starts a Key Vault emulator holding seed and points
// the environment at it as a user's shell would: the command takes its
// production path (DefaultAzureCredential, TLS verified).
func startMigrateEmulator(t *testing.T, seed map[string]string) *kvtest.Server {
	t.Helper()
	s := kvtest.NewServer(t, kvtest.Options{Seed: seed})
	return useEmulator(t, s)
}

func TestMigratePushToKeyVault(t *testing.T) {
	// The vault already holds the auth key with another value.
	s := startMigrateEmulator(t, map[string]string{"wordpress-auth-key": "Cmd-Older-Value-45"})
	dir := writeMigrateProject(t)
	before := snapshot(t, dir)

	_, err := runMigrateCommand(t, dir, "--to", "external", "--push")
	assert.Check(t, is.ErrorContains(err, "no file was changed"))
	assert.Check(t, is.ErrorContains(err, "Key Vault secret wordpress-auth-key already holds a different value: rerun with --overwrite"))
	assert.Check(t, is.DeepEqual(snapshot(t, dir), before))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0), "something was stored before the check")

	out, err := runMigrateCommand(t, dir, "--to", "external", "--push", "--overwrite")
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "migrated 4 variables into 3 secrets, reported 1; wrote 3 files, stored 3 values in Key Vault\n"))
	after := snapshot(t, dir)
	_, err = os.Stat(filepath.Join(dir, "secrets"))
	assert.Check(t, errors.Is(err, os.ErrNotExist), "--to external wrote secret files")
	assert.Check(t, is.Contains(after["compose.yaml"], "  postgres_password:\n    external: true\n    x-vault:\n      name: postgres-password\n"))

	store, err := keyvault.Open(context.Background(), keyvault.Config{EnvURL: s.VaultURL()})
	assert.NilError(t, err)
	for name, v := range map[string]string{
		"postgres-password":    migrateValues["postgres"],
		"wordpress-auth-key":   migrateValues["auth key"],
		"wordpress-nonce-salt": migrateValues["salt"],
	} {
		sec, err := store.Get(context.Background(), name, "")
		assert.NilError(t, err, name)
		assert.Check(t, string(sec.Value) == v, "%s does not hold the value", name)
	}

	// A second run changes nothing and stores nothing.
	sets := s.Count(kvtest.RouteSetSecret)
	assert.Check(t, is.Equal(sets, 3))
	out, err = runMigrateCommand(t, dir, "--to", "external", "--push")
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "nothing to migrate"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), sets))
	assert.Check(t, is.DeepEqual(snapshot(t, dir), after))
}

// TestMigratePushSameValue: a vault secret that already holds the value is
// left alone, without --overwrite.
func TestMigratePushSameValue(t *testing.T) {
	s := startMigrateEmulator(t, map[string]string{"postgres-password": migrateValues["postgres"]})
	dir := writeMigrateProject(t)
	out, err := runMigrateCommand(t, dir, "--to", "external", "--push")
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "stored 2 values in Key Vault"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 2))
}

// TestMigrateDryRunPushChecksVault: --dry-run --push says, per secret,
// what the push would find in Key Vault (a new name, the same value,
// another value), stores nothing, prints no value, and fails when the push
// would be refused.
func TestMigrateDryRunPushChecksVault(t *testing.T) {
	s := startMigrateEmulator(t, map[string]string{
		"postgres-password":  migrateValues["postgres"],
		"wordpress-auth-key": "another value entirely",
	})
	dir := writeMigrateProject(t)
	before := snapshot(t, dir)

	out, err := runMigrateCommand(t, dir, "--to", "external", "--push", "--dry-run")
	assert.Check(t, is.ErrorContains(err, "the push would fail: secret wordpress_auth_key: Key Vault secret wordpress-auth-key already holds a different value"))
	assert.Check(t, is.Contains(out, "Key Vault, as the push would find it:\n"))
	assert.Check(t, is.Regexp(`(?m)^postgres_password +postgres-password +unchanged`, out))
	assert.Check(t, is.Regexp(`(?m)^wordpress_auth_key +wordpress-auth-key +conflict`, out))
	assert.Check(t, is.Regexp(`(?m)^wordpress_nonce_salt +wordpress-nonce-salt +create`, out))
	assert.Check(t, !strings.Contains(out, "another value entirely"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0), "a dry run stored something")
	assert.Check(t, is.DeepEqual(snapshot(t, dir), before), "a dry run wrote")

	out, err = runMigrateCommand(t, dir, "--to", "external", "--push", "--dry-run", "--overwrite")
	assert.NilError(t, err)
	assert.Check(t, is.Regexp(`(?m)^wordpress_auth_key +wordpress-auth-key +update`, out))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0), "a dry run stored something")
}
