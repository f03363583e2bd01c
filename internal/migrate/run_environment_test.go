package migrate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest/kvstore"
)

func environmentOptions(dir string, store keyvault.Store, log *bytes.Buffer, push bool) RunOptions {
	o := runOptions(dir)
	o.Plan.To, o.Push, o.Log = ToEnvironment, push, log
	o.OpenVault = func(context.Context, string) (keyvault.Store, error) { return store, nil }
	return o
}

// TestRunToEnvironment: the moved secret and the file secrets (but the
// local one) become environment-sourced; the values go to Key Vault and
// nowhere on disk; the result loads with every secret filled from its
// variable; a second run changes nothing.
func TestRunToEnvironment(t *testing.T) {
	s, store := kvstore.New(t, kvtest.Options{Seed: map[string]string{"prod-smtp": "Run-Convert-Smtp-93"}})
	dir := writeProject(t, stepTwo)
	ctx := context.Background()
	var log bytes.Buffer
	res, err := Run(ctx, environmentOptions(dir, store, &log, true))
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res.Pushed, []string{"mysql-root-password", "postgres-password"}))
	assert.Check(t, is.DeepEqual(res.Plan.Variables, map[string]string{
		"mysql_root_password": "MYSQL_ROOT_PASSWORD", "postgres_password": "POSTGRES_PASSWORD", "smtp": "SMTP",
	}))
	for name, want := range map[string]string{"postgres-password": "Run-Convert-Pg-92\n", "mysql-root-password": "Run-Convert-Root-91"} {
		got, err := store.Get(ctx, name, "")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(string(got.Value), want), name)
	}
	after := readTree(t, dir)
	composeFile := string(after["compose.yaml"])
	assert.Check(t, is.Contains(composeFile, `  postgres_password:
    environment: POSTGRES_PASSWORD
  tls:
    file: ./tls.pem
    x-vault: false
  smtp:
    environment: SMTP
    x-vault: prod-smtp
  mysql_root_password:
    environment: MYSQL_ROOT_PASSWORD
`))
	// Nothing new on disk: no secret file for the moved value.
	_, err = os.Stat(filepath.Join(dir, "secrets", "mysql_root_password"))
	assert.Check(t, os.IsNotExist(err))
	assert.Check(t, is.Equal(len(after), len(stepTwo)))
	logText := log.String()
	assert.Check(t, is.Contains(logText, "run the project with `docker vault run -- docker compose up`"))
	assert.Check(t, is.Contains(logText, "converted to environment ones are left as they were and still hold the values; delete them once `docker vault run -- docker compose up` works: "+filepath.Join("secrets", "postgres_password")))
	for _, v := range stepTwoValues {
		assert.Check(t, !strings.Contains(composeFile, v))
		assert.Check(t, !strings.Contains(logText, v))
	}

	p, err := compose.Load(ctx, runOptions(dir).Load)
	assert.NilError(t, err)
	envs := map[string]string{}
	for k, sc := range p.Compose.Secrets {
		envs[k] = sc.Environment
	}
	assert.Check(t, is.DeepEqual(envs, map[string]string{
		"mysql_root_password": "MYSQL_ROOT_PASSWORD", "postgres_password": "POSTGRES_PASSWORD", "smtp": "SMTP", "tls": "",
	}))

	log.Reset()
	s.ResetCounts()
	res, err = Run(ctx, environmentOptions(dir, store, &log, true))
	assert.NilError(t, err)
	assert.Check(t, !res.Plan.Changed())
	assert.Check(t, is.DeepEqual(readTree(t, dir), after))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0))
}

// TestRunToEnvironmentWithoutPush: without --push Key Vault must hold
// every value already; when it does not, nothing is written and the error
// names the secrets, never a value.
func TestRunToEnvironmentWithoutPush(t *testing.T) {
	s, store := kvstore.New(t, kvtest.Options{Seed: map[string]string{
		"prod-smtp": "Run-Convert-Smtp-93", "postgres-password": "Run-Convert-Pg-92\n", "mysql-root-password": "Run-Env-Other-96",
	}})
	dir := writeProject(t, stepTwo)
	before := readTree(t, dir)
	ctx := context.Background()
	var log bytes.Buffer
	_, err := Run(ctx, environmentOptions(dir, store, &log, false))
	assert.Check(t, is.Error(err, "nothing was changed: without --push, --to environment needs Key Vault to hold every value already, and it does not for secrets mysql_root_password (Key Vault secret mysql-root-password holds another value): add --push to store them"))
	assert.Check(t, is.DeepEqual(readTree(t, dir), before))
	assert.Check(t, !strings.Contains(err.Error(), "Run-Env-Other-96") && !strings.Contains(err.Error(), "Run-Convert-Root-91"))

	// Once Key Vault holds it, the rewrite goes through, pushing nothing.
	_, err = store.Set(ctx, "mysql-root-password", []byte("Run-Convert-Root-91"), keyvault.SetOptions{})
	assert.NilError(t, err)
	s.ResetCounts()
	res, err := Run(ctx, environmentOptions(dir, store, &log, false))
	assert.NilError(t, err)
	assert.Check(t, res.Plan.Changed())
	assert.Check(t, is.Len(res.Pushed, 0))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 0))
	assert.Check(t, is.Contains(log.String(), "note: Key Vault holds the values of all 3 secrets already; nothing was pushed"))
	assert.Check(t, is.Contains(string(readTree(t, dir)["compose.yaml"]), "    environment: MYSQL_ROOT_PASSWORD\n"))
}

// TestRunToEnvironmentReadOnly: compose cannot copy a secret into a
// read_only service, so its variables are reported and its file secrets
// stay files, with a warning.
func TestRunToEnvironmentReadOnly(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": `services:
  db:
    image: postgres:16
    read_only: true
    environment:
      POSTGRES_PASSWORD: Run-Ro-Pw-1
    secrets: [tls]
  web:
    image: postgres:16
    secrets: [api]
secrets:
  tls:
    file: ./tls.pem
  api:
    file: ./api.txt
`,
		"tls.pem": "Run-Ro-Tls-2",
		"api.txt": "Run-Ro-Api-3",
	})
	o := runOptions(dir)
	o.Plan.To, o.DryRun = ToEnvironment, true
	res, err := Run(context.Background(), o)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Plan.Items[0].Action, Reported))
	assert.Check(t, is.Contains(res.Plan.Items[0].Reason, "service db is read_only, and compose cannot copy an environment secret into a read-only container"))
	assert.Check(t, is.Len(res.Converted, 1))
	assert.Check(t, is.Equal(res.Converted[0].Secret, "api"))
	assert.Check(t, is.DeepEqual(res.Plan.Warnings, []string{"file secret tls stays a file secret: service db is read_only, and compose cannot copy an environment secret into a read-only container"}))
	assert.Check(t, is.DeepEqual(res.Plan.Variables, map[string]string{"api": "API"}))
}
