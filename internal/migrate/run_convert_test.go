package migrate

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest/kvstore"
	"github.com/docker-vault/docker-vault/internal/mapping"
)

func TestCheckPushes(t *testing.T) {
	s, store := kvstore.New(t, kvtest.Options{Seed: map[string]string{
		"same": "Check-Same-1", "other": "Check-Other-Old-2", "off": "Check-Off-3", "unrelated": "Check-Unrelated-4",
	}})
	s.SetEnabled("off", false)
	pushes := []Push{
		{Secret: "s_new", KVName: "new", Value: []byte("Check-New-5")},
		{Secret: "s_same", KVName: "SAME", Value: []byte("Check-Same-1")}, // names are case-insensitive
		{Secret: "s_other", KVName: "other", Value: []byte("Check-Other-New-6")},
		{Secret: "s_off", KVName: "off", Value: []byte("Check-Off-3")},
	}
	ctx := context.Background()
	s.ResetCounts()
	checks, err := CheckPushes(ctx, store, pushes, PushOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(checks, []PushCheck{
		{Secret: "s_new", KVName: "new", Action: PushCreate},
		{Secret: "s_same", KVName: "SAME", Action: PushUnchanged},
		{Secret: "s_other", KVName: "other", Action: PushConflict, Reason: "Key Vault holds another value"},
		{Secret: "s_off", KVName: "off", Action: PushConflict, Reason: "disabled: its value cannot be compared"},
	}))
	// One list, and a read of only the enabled names that exist: never of
	// "new" (absent), "off" (disabled) or "unrelated" (not pushed).
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 2))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListSecrets), 1))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0))

	checks, err = CheckPushes(ctx, store, pushes, PushOptions{Overwrite: true})
	assert.NilError(t, err)
	var actions []PushAction
	for _, c := range checks {
		actions = append(actions, c.Action)
	}
	assert.Check(t, is.DeepEqual(actions, []PushAction{PushCreate, PushUnchanged, PushUpdate, PushUpdate}))

	err = Conflicts(checks[:2])
	assert.Check(t, err == nil)
	checks, _ = CheckPushes(ctx, store, pushes, PushOptions{})
	err = Conflicts(checks)
	var ce *ConflictError
	assert.Assert(t, errors.As(err, &ce))
	assert.Check(t, is.Error(err, "secret s_other: Key Vault secret other already holds a different value (and 1 more): rerun with --overwrite to store a new version, or map the secret to another name with x-vault"))
}

func TestPushAll(t *testing.T) {
	s, store := kvstore.New(t, kvtest.Options{Seed: map[string]string{"same": "PushAll-Same-1", "other": "PushAll-Old-2"}})
	ctx := context.Background()
	pushes := []Push{
		{Secret: "a", KVName: "new", Value: []byte("PushAll-New-3")},
		{Secret: "b", KVName: "same", Value: []byte("PushAll-Same-1")},
		{Secret: "c", KVName: "other", Value: []byte("PushAll-New-4")},
	}
	set, err := PushAll(ctx, store, pushes, PushOptions{})
	assert.Check(t, is.ErrorContains(err, "secret c: Key Vault secret other already holds a different value"))
	assert.Check(t, is.Len(set, 0))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0), "a value was stored before every conflict was known")

	set, err = PushAll(ctx, store, pushes, PushOptions{Overwrite: true})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(set, []string{"new", "other"}))
	for name, want := range map[string]string{"new": "PushAll-New-3", "same": "PushAll-Same-1", "other": "PushAll-New-4"} {
		got, err := store.Get(ctx, name, "")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(string(got.Value), want), name)
		if name != "same" {
			assert.Check(t, is.Equal(got.Tags["docker-vault-secret"], map[string]string{"new": "a", "other": "c"}[name]))
		}
	}
	// A second push stores nothing.
	set, err = PushAll(ctx, store, pushes, PushOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(set, 0))
}

// stepTwo is a project migrated to files earlier (step 1), with one
// variable still to migrate, a file secret marked local, and one backed by
// Key Vault already.
var stepTwo = map[string]string{
	"compose.yaml": `x-vault:
  url: https://run-convert.vault.azure.net
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password
      POSTGRES_USER: app
    secrets: [postgres_password, tls, smtp]
  mysql:
    image: mysql:8
    environment:
      MYSQL_ROOT_PASSWORD: Run-Convert-Root-91
secrets:
  postgres_password:
    file: ./secrets/postgres_password
  tls:
    file: ./tls.pem
    x-vault: false
  smtp:
    file: ./secrets/smtp
    x-vault: prod-smtp
`,
	"secrets/postgres_password": "Run-Convert-Pg-92\n",
	"secrets/smtp":              "Run-Convert-Smtp-93",
	"tls.pem":                   "Run-Convert-Tls-94",
}

var stepTwoValues = []string{"Run-Convert-Root-91", "Run-Convert-Pg-92", "Run-Convert-Smtp-93", "Run-Convert-Tls-94"}

func convertOptions(dir string, store keyvault.Store, log *bytes.Buffer) RunOptions {
	o := runOptions(dir)
	o.Plan.To, o.Push, o.Log = ToExternal, true, log
	o.OpenVault = func(context.Context, string) (keyvault.Store, error) { return store, nil }
	return o
}

func TestRunConvertsFileSecrets(t *testing.T) {
	s, store := kvstore.New(t, kvtest.Options{Seed: map[string]string{"prod-smtp": "Run-Convert-Smtp-93"}})
	dir := writeProject(t, stepTwo)
	before := readTree(t, dir)
	ctx := context.Background()

	// A dry run checks Key Vault and writes nothing, anywhere.
	var log bytes.Buffer
	o := convertOptions(dir, store, &log)
	o.DryRun = true
	res, err := Run(ctx, o)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(readTree(t, dir), before))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0))
	var checks []string
	for _, c := range res.VaultCheck {
		checks = append(checks, c.Secret+" "+c.KVName+" "+string(c.Action))
	}
	assert.Check(t, is.DeepEqual(checks, []string{
		"mysql_root_password mysql-root-password create",
		"postgres_password postgres-password create",
		"smtp prod-smtp unchanged",
	}))
	var converted []string
	for _, c := range res.Converted {
		converted = append(converted, c.Secret)
	}
	assert.Check(t, is.DeepEqual(converted, []string{"postgres_password", "smtp"}))
	assert.Check(t, is.Contains(log.String(), "plain `docker compose up` cannot use them: deploy the project with `docker vault deploy STACK`"))

	log.Reset()
	res, err = Run(ctx, convertOptions(dir, store, &log))
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res.Pushed, []string{"mysql-root-password", "postgres-password"}))
	for name, want := range map[string]string{"postgres-password": "Run-Convert-Pg-92\n", "mysql-root-password": "Run-Convert-Root-91", "prod-smtp": "Run-Convert-Smtp-93"} {
		got, err := store.Get(ctx, name, "")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(string(got.Value), want), "%s is not stored byte for byte", name)
	}
	after := readTree(t, dir)
	composeFile := string(after["compose.yaml"])
	assert.Check(t, is.Contains(composeFile, `  postgres_password:
    external: true
    x-vault: {name: postgres-password}
  tls:
    file: ./tls.pem
    x-vault: false
  smtp:
    external: true
    x-vault: prod-smtp
`))
	// The secret files are left, and the note says they can go.
	assert.Check(t, is.Equal(string(after[filepath.Join("secrets", "postgres_password")]), "Run-Convert-Pg-92\n"))
	assert.Check(t, is.Contains(log.String(), "delete them once `docker vault deploy` works: "+filepath.Join("secrets", "postgres_password")+", "+filepath.Join("secrets", "smtp")))
	for _, v := range stepTwoValues {
		assert.Check(t, !strings.Contains(composeFile, v))
		assert.Check(t, !strings.Contains(log.String(), v))
	}

	// The result loads, and maps every converted secret to Key Vault.
	p, err := compose.Load(ctx, runOptions(dir).Load)
	assert.NilError(t, err)
	secrets, err := mapping.Secrets(p.Compose)
	assert.NilError(t, err)
	kinds := map[string]string{}
	for _, s := range secrets {
		kinds[s.Key] = string(s.Kind) + " " + s.KVName
	}
	assert.Check(t, is.DeepEqual(kinds, map[string]string{
		"mysql_root_password": "external mysql-root-password", "postgres_password": "external postgres-password",
		"smtp": "external prod-smtp", "tls": "file ",
	}))

	// A second run changes nothing.
	log.Reset()
	s.ResetCounts()
	res, err = Run(ctx, convertOptions(dir, store, &log))
	assert.NilError(t, err)
	assert.Check(t, !res.Plan.Changed())
	assert.Check(t, is.Len(res.Converted, 0))
	assert.Check(t, is.DeepEqual(readTree(t, dir), after))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0))
	assert.Check(t, is.Equal(log.String(), ""))
}

func TestRunConvertConflictWritesNothing(t *testing.T) {
	s, store := kvstore.New(t, kvtest.Options{Seed: map[string]string{"postgres-password": "Run-Convert-Someone-Elses-95"}})
	dir := writeProject(t, stepTwo)
	before := readTree(t, dir)
	var log bytes.Buffer
	_, err := Run(context.Background(), convertOptions(dir, store, &log))
	assert.Check(t, is.ErrorContains(err, "no file was changed: secret postgres_password: Key Vault secret postgres-password already holds a different value"))
	assert.Check(t, is.DeepEqual(readTree(t, dir), before))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0))

	// Dry run: the conflict is in VaultCheck, and no error.
	o := convertOptions(dir, store, &log)
	o.DryRun = true
	res, err := Run(context.Background(), o)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.VaultCheck[1].Action, PushConflict))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0))
}

func TestRunToFileLeavesFileSecrets(t *testing.T) {
	dir := writeProject(t, stepTwo)
	res, err := Run(context.Background(), runOptions(dir))
	assert.NilError(t, err)
	assert.Check(t, is.Len(res.Converted, 0))
	assert.Check(t, is.Contains(string(readTree(t, dir)["compose.yaml"]), "  postgres_password:\n    file: ./secrets/postgres_password\n"))
}

// TestRunDryRunNeedsNoSecretFiles: the secret files are git-ignored, so a
// CI checkout has none; a dry run (or --check) without --push still shows
// the conversion.
func TestRunDryRunNeedsNoSecretFiles(t *testing.T) {
	files := map[string]string{"compose.yaml": stepTwo["compose.yaml"], "tls.pem": "x"}
	dir := writeProject(t, files)
	o := runOptions(dir)
	o.Plan.To, o.DryRun = ToExternal, true
	res, err := Run(context.Background(), o)
	assert.NilError(t, err)
	assert.Check(t, is.Len(res.Converted, 2))
	assert.Check(t, res.Plan.Changed())
	assert.Check(t, res.VaultCheck == nil)

	o.Push = true
	o.OpenVault = func(context.Context, string) (keyvault.Store, error) { return nil, errors.New("not reached") }
	_, err = Run(context.Background(), o)
	assert.Check(t, is.ErrorContains(err, "secret postgres_password: open "))
}

// TestRunConvertCollision: a converted file secret and a newly migrated
// one that map to one Key Vault secret are an error, before Key Vault is
// asked: one value would overwrite the other.
func TestRunConvertCollision(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": `services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: Run-Collide-Pw-1
    secrets: [postgres.password]
secrets:
  postgres.password:
    file: ./old
`,
		"old": "Run-Collide-Old-2",
	})
	before := readTree(t, dir)
	var log bytes.Buffer
	opened := false
	o := convertOptions(dir, nil, &log)
	o.OpenVault = func(context.Context, string) (keyvault.Store, error) {
		opened = true
		return nil, errors.New("not reached")
	}
	_, err := Run(context.Background(), o)
	assert.Check(t, is.ErrorContains(err, "both map to Key Vault secret postgres-password"))
	assert.Check(t, !opened)
	assert.Check(t, is.DeepEqual(readTree(t, dir), before))
}
