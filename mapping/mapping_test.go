package mapping

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func load(t *testing.T, yaml string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	assert.NilError(t, os.WriteFile(f, []byte(yaml), 0o600))
	opts, err := cli.NewProjectOptions([]string{f}, cli.WithName("p"), cli.WithWorkingDirectory(dir))
	assert.NilError(t, err)
	p, err := opts.LoadProject(context.Background())
	assert.NilError(t, err)
	return p
}

func TestSecrets(t *testing.T) {
	p := load(t, `
x-vault:
  url: https://myvault.vault.azure.net
services:
  web:
    image: nginx
    secrets: [db_password, api_key, tls.key]
  worker:
    image: busybox
    secrets: [db_password]
secrets:
  db_password:
    external: true
  api_key:
    external: true
    name: prod_api_key
    x-vault:
      name: prod-api-key
      version: 0123456789abcdef0123456789abcdef
  tls.key:
    file: ./secrets/tls.key
    x-vault: web-tls-key
  from_env:
    environment: HOME
`)
	url, err := VaultURL(p)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(url, "https://myvault.vault.azure.net"))

	got, err := Secrets(p)
	assert.NilError(t, err)
	assert.DeepEqual(t, got, []Secret{
		{Key: "api_key", Kind: External, Name: "prod_api_key", KVName: "prod-api-key", Version: "0123456789abcdef0123456789abcdef", Consumers: []string{"web"}},
		{Key: "db_password", Kind: External, Name: "db_password", KVName: "db-password", Consumers: []string{"web", "worker"}},
		{Key: "tls.key", Kind: File, Name: "tls.key", Path: filepath.Join(p.WorkingDir, "secrets", "tls.key"), KVName: "web-tls-key", Consumers: []string{"web"}},
	})
}

func TestSecretsErrors(t *testing.T) {
	p := load(t, `
services: {}
secrets:
  a_b:
    external: true
  a-b:
    external: true
`)
	_, err := Secrets(p)
	assert.Check(t, is.ErrorContains(err, "secrets a-b and a_b both map to Key Vault secret a-b"))

	p = load(t, `
services: {}
secrets:
  x:
    external: true
    x-vault: {name: "not valid!"}
`)
	_, err = Secrets(p)
	assert.Check(t, is.ErrorContains(err, `secret x maps to "not valid!", which is not a valid Key Vault secret name`))

	p = load(t, `
services: {}
secrets:
  x:
    external: true
    x-vault: {nmae: y}
`)
	_, err = Secrets(p)
	assert.Check(t, is.ErrorContains(err, "unknown field x-vault.nmae"))
}

func TestDeriveKVName(t *testing.T) {
	assert.Check(t, is.Equal(DeriveKVName("db_password"), "db-password"))
	assert.Check(t, is.Equal(DeriveKVName("tls.key"), "tls-key"))
	assert.Check(t, ValidKVName("Db-Password-2"))
	assert.Check(t, !ValidKVName("db_password"))
}
