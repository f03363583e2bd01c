package commands

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest/kvstore"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const pushProject = `services:
  app:
    image: busybox
    secrets: [db_password, api_key, tls]
secrets:
  db_password:
    file: ./secrets/db_password
  api_key:
    file: ./secrets/api_key
    x-vault: prod-api-key
  tls:
    file: ./tls.pem
    x-vault: false
`

// pushFileValues are the values of pushProject's files.
var pushFileValues = map[string]string{
	"db_password": "Push-Db-Pw-4411\n",
	"api_key":     "Push-Api-Key-4412",
	"tls":         "Push-Tls-4413",
	"other":       "Push-Someone-Elses-4414",
}

func writePushProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"compose.yaml": pushProject, "secrets/db_password": pushFileValues["db_password"],
		"secrets/api_key": pushFileValues["api_key"], "tls.pem": pushFileValues["tls"],
	} {
		path := filepath.Join(dir, name)
		assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o700))
		assert.NilError(t, os.WriteFile(path, []byte(content), 0o600))
	}
	return dir
}

// kvValue reads a value from the emulator, for the test only.
func kvValue(t *testing.T, s *kvtest.Server, name string) string {
	t.Helper()
	sec, err := kvstore.Open(t, s).Get(context.Background(), name, "")
	assert.NilError(t, err)
	return string(sec.Value)
}

func TestPush(t *testing.T) {
	s := useSyncEmulator(t, map[string]string{"prod-api-key": pushFileValues["api_key"], "unrelated": "x"})
	dir := writePushProject(t)
	f := filepath.Join(dir, "compose.yaml")

	s.ResetCounts()
	out, err := runCommand(t, newPushCommand, pushFileValues, "-f", f, "--dry-run")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, `SECRET        VAULT SECRET   ACTION
api_key       prod-api-key   unchanged
db_password   db-password    create
dry run: 1 create, 1 unchanged; nothing stored
`))
	// One list, one read (of the one name that exists), no write.
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListSecrets), 1))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 1))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0))

	out, err = runCommand(t, newPushCommand, pushFileValues, "-f", f)
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "stored 1 values in Key Vault (1 create, 1 unchanged)\n"))
	assert.Check(t, is.Equal(kvValue(t, s, "db-password"), pushFileValues["db_password"]), "not stored byte for byte")
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 1))

	out, err = runCommand(t, newPushCommand, pushFileValues, "-f", f)
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "Key Vault holds every value already: nothing stored\n"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 1))

	// Someone else's value: a conflict, in a dry run too, and nothing stored.
	s.SetSecret("db-password", pushFileValues["other"])
	for _, args := range [][]string{{"--dry-run"}, {}} {
		out, err = runCommand(t, newPushCommand, pushFileValues, append([]string{"-f", f}, args...)...)
		assert.Check(t, is.ErrorContains(err, "secret db_password: Key Vault secret db-password already holds a different value: rerun with --overwrite"))
		assert.Check(t, is.Contains(out, "db_password   db-password    conflict (Key Vault holds another value)\n"))
	}
	assert.Check(t, is.Equal(kvValue(t, s, "db-password"), pushFileValues["other"]))

	out, err = runCommand(t, newPushCommand, pushFileValues, "-f", f, "--overwrite", "--format", "json", "db_password")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, `{"Action":"update","Reason":"Key Vault holds another value","Secret":"db_password","VaultSecret":"db-password"}`+"\n"))
	assert.Check(t, is.Equal(kvValue(t, s, "db-password"), pushFileValues["db_password"]))

	out, err = runCommand(t, newPushCommand, pushFileValues, "-f", f, "--dry-run", "--format", "{{.Secret}}={{.Action}}")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "api_key=unchanged\ndb_password=unchanged\n"))
	out, err = runCommand(t, newPushCommand, pushFileValues, "-f", f, "--dry-run", "--format", "table {{.VaultSecret}}\t{{.Action}}")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "VAULT SECRET   ACTION\nprod-api-key   unchanged\ndb-password    unchanged\n"), "a table TEMPLATE has a header")
	out, err = runCommand(t, newPushCommand, pushFileValues, "-f", f, "--dry-run", "--format", `{{.VaultSecret}}\t{{.Action}}`)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "prod-api-key\tunchanged\ndb-password\tunchanged\n"), "a \\t in a template is a tab")
	out, err = runCommand(t, newPushCommand, pushFileValues, "-f", f, "--dry-run", "--format", "table")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "SECRET        VAULT SECRET   ACTION\napi_key       prod-api-key   unchanged\ndb_password   db-password    unchanged\n"+
		"dry run: 2 unchanged; nothing stored\n"), "--format table is the default table")
	out, err = runCommand(t, newPushCommand, pushFileValues, "-f", f, "--dry-run", "--format", "json")
	assert.NilError(t, err)
	rows := jsonLines(t, out)
	assert.Assert(t, is.Len(rows, 2))
	assert.Check(t, is.DeepEqual(rows[0], map[string]any{"Secret": "api_key", "VaultSecret": "prod-api-key", "Action": "unchanged", "Reason": ""}))
	assertTemplateFields(t, rows, func(format string) string {
		out, err := runCommand(t, newPushCommand, pushFileValues, "-f", f, "--dry-run", "--format", format)
		assert.NilError(t, err)
		return out
	})
}

func TestPushRefuses(t *testing.T) {
	s := useSyncEmulator(t, nil)
	dir := writePushProject(t)
	f := filepath.Join(dir, "compose.yaml")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tls"}, "secret tls is marked x-vault: false (local)"},
		{[]string{"nope"}, "the project declares no secret nope (its file: secrets: api_key, db_password, tls)"},
		{[]string{"--timeout", "0s"}, "invalid --timeout"},
		{[]string{"--format", "{{.Secret"}, "template parsing error"},
	} {
		_, err := runCommand(t, newPushCommand, pushFileValues, append([]string{"-f", f}, tc.args...)...)
		assert.Check(t, is.ErrorContains(err, tc.want))
	}
	none := filepath.Join(t.TempDir(), "compose.yaml")
	assert.NilError(t, os.WriteFile(none, []byte("services:\n  app:\n    image: busybox\n"), 0o600))
	_, err := runCommand(t, newPushCommand, pushFileValues, "-f", none)
	assert.Check(t, is.Error(err, "the project declares no file: secret to push (secrets marked x-vault: false are left out)"))

	// A file that cannot be pushed stops everything before Key Vault.
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "secrets/api_key"), nil, 0o600))
	_, err = runCommand(t, newPushCommand, pushFileValues, "-f", f)
	assert.Check(t, is.ErrorContains(err, "secret api_key: "+filepath.Join(dir, "secrets/api_key")+" is empty"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListSecrets), 0))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0))
}

// runSetCmd runs set with stdin, checking that neither output nor error holds
// any of values.
func runSetCmd(t *testing.T, stdin io.ReadCloser, values map[string]string, args ...string) (string, error) {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var buf bytes.Buffer
	dockerCLI, err := command.NewDockerCli(command.WithAPIClient(&fakeClient{}), command.WithCombinedStreams(&buf), command.WithInputStream(stdin))
	assert.NilError(t, err)
	assert.NilError(t, dockerCLI.Initialize(flags.NewClientOptions()))
	return runBuilt(t, newSetCommand(dockerCLI), &buf, values, args...)
}

func runBuilt(t *testing.T, cmd *cobra.Command, buf *bytes.Buffer, values map[string]string, args ...string) (string, error) {
	t.Helper()
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	for name, v := range values {
		assert.Check(t, !strings.Contains(buf.String(), strings.TrimSpace(v)), "output leaks the %s value", name)
		if err != nil {
			assert.Check(t, !strings.Contains(err.Error(), strings.TrimSpace(v)), "error leaks the %s value", name)
		}
	}
	return buf.String(), err
}

func stdin(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

func TestSet(t *testing.T) {
	s := useSyncEmulator(t, map[string]string{"taken": "Set-Taken-5501"})
	values := map[string]string{"piped": "Set-Piped-5502", "file": "Set-File-5503", "taken": "Set-Taken-5501", "new": "Set-New-5504"}

	out, err := runSetCmd(t, stdin("Set-Piped-5502\n"), values, "piped")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(out, "SECRET    VAULT SECRET   ACTION\npiped     piped          create\nstored 1 values in Key Vault (1 create)\n"))
	assert.Check(t, is.Equal(kvValue(t, s, "piped"), "Set-Piped-5502\n"), "stdin is not stored byte for byte")

	path := filepath.Join(t.TempDir(), "value")
	assert.NilError(t, os.WriteFile(path, []byte("Set-File-5503"), 0o600))
	_, err = runSetCmd(t, stdin(""), values, "-f", path, "from-file")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(kvValue(t, s, "from-file"), "Set-File-5503"))

	_, err = runSetCmd(t, stdin("Set-New-5504"), values, "-f", "-", "dash")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(kvValue(t, s, "dash"), "Set-New-5504"), "-f - reads stdin")

	_, err = runSetCmd(t, stdin("Set-New-5504"), values, "--dry-run", "taken")
	assert.Check(t, is.Error(err, "Key Vault secret taken already holds a different value: rerun with --overwrite to store a new version"))
	_, err = runSetCmd(t, stdin("Set-New-5504"), values, "taken")
	assert.Check(t, is.Error(err, "Key Vault secret taken already holds a different value: rerun with --overwrite to store a new version"))
	assert.Check(t, is.Equal(kvValue(t, s, "taken"), "Set-Taken-5501"))
	out, err = runSetCmd(t, stdin("Set-New-5504"), values, "--overwrite", "taken")
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "taken     taken          update (Key Vault holds another value)\n"))
	assert.Check(t, is.Equal(kvValue(t, s, "taken"), "Set-New-5504"))
	s.ResetCounts()
	out, err = runSetCmd(t, stdin("Set-New-5504"), values, "taken")
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "nothing stored"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0))

	s.ResetCounts()
	for _, tc := range []struct {
		in   string
		args []string
		want string
	}{
		{"", []string{"empty"}, "the value read from stdin is empty: Key Vault needs a value"},
		{"x", []string{"bad_name"}, `invalid Key Vault secret name "bad_name"`},
		{"\xff\xfe", []string{"binary"}, "the value read from stdin is not UTF-8 text"},
		{strings.Repeat("v", 25*1024+1), []string{"big"}, "the value read from stdin holds more than 25600 bytes"},
		{"x", []string{"-f", filepath.Join(t.TempDir(), "missing"), "missing"}, "secret missing: open "},
		{"x", []string{"a", "b"}, "'set' requires 1 argument"},
		{"x", []string{"--format", "{{.Nope", "ok"}, "template parsing error"},
	} {
		_, err := runSetCmd(t, stdin(tc.in), values, tc.args...)
		assert.Check(t, is.ErrorContains(err, tc.want), tc.args)
	}
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListSecrets), 0), "Key Vault was asked about a refused value")

	t.Setenv("DOCKER_VAULT_URL", "")
	_, err = runSetCmd(t, stdin("x"), values, "no-vault")
	assert.Check(t, is.Error(err, "no vault given: use --vault NAME or set DOCKER_VAULT_URL"))
}

func TestSetRefusesATerminal(t *testing.T) {
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer tty.Close()
	_, err = runSetCmd(t, tty, nil, "typed")
	assert.Check(t, is.Error(err, errTerminal.Error()))
}

func TestPushDisabledSecret(t *testing.T) {
	s := useSyncEmulator(t, map[string]string{"db-password": pushFileValues["other"]})
	s.SetEnabled("db-password", false)
	dir := writePushProject(t)
	f := filepath.Join(dir, "compose.yaml")
	s.ResetCounts()
	out, err := runCommand(t, newPushCommand, pushFileValues, "-f", f, "db_password")
	assert.Check(t, is.Error(err, "nothing was stored: secret db_password: Key Vault secret db-password is disabled: its value cannot be compared: rerun with --overwrite to store a new version, or map the secret to another name with x-vault"))
	assert.Check(t, is.Contains(out, "conflict (disabled: its value cannot be compared)"))
	// A disabled secret's value is not even asked for.
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 0))

	_, err = runCommand(t, newPushCommand, pushFileValues, "-f", f, "--overwrite", "db_password")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(kvValue(t, s, "db-password"), pushFileValues["db_password"]))
}

func TestPushFailsHalfWay(t *testing.T) {
	s := useSyncEmulator(t, nil)
	dir := writePushProject(t)
	// db-password (the second to store) may not be written.
	s.SetFaults(kvtest.Faults{Forbidden: []string{"db-password"}})
	out, err := runCommand(t, newPushCommand, pushFileValues, "-f", filepath.Join(dir, "compose.yaml"))
	assert.Check(t, is.ErrorContains(err, "stored 1 of the values: secret db_password: failed to set secret db-password"))
	assert.Check(t, is.Equal(out, `SECRET        VAULT SECRET   ACTION
api_key       prod-api-key   create
db_password   db-password    create (not stored)
stored 1 of 2 values in Key Vault, then failed
`))
	s.SetFaults(kvtest.Faults{})
	assert.Check(t, is.Equal(kvValue(t, s, "prod-api-key"), pushFileValues["api_key"]))
}
