package mapping

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
}

func TestSecretsFileMarking(t *testing.T) {
	p := load(t, `
services:
  web:
    image: nginx
secrets:
  unmarked:
    file: ./secrets/unmarked
  short:
    file: ./secrets/short
    x-vault: short-kv
  long:
    file: ./secrets/long
    x-vault: {name: long-kv, version: 0123456789abcdef0123456789abcdef}
  version_only:
    file: ./secrets/version_only
    x-vault: {version: abcdef}
  yes:
    file: ./secrets/yes
    x-vault: true
  no:
    file: ./secrets/no
    x-vault: false
  tls_cert:
    file: ./cert.pem
  hand_made:
    external: true
    name: hand_made_v3
    x-vault: false
  plain_external:
    external: true
`)
	got, err := Secrets(p)
	assert.NilError(t, err)
	dir := p.WorkingDir
	assert.DeepEqual(t, got, []Secret{
		{Key: "hand_made", Kind: External, Name: "hand_made_v3", Local: true},
		{Key: "long", Kind: File, Name: "long", Path: filepath.Join(dir, "secrets", "long"), KVName: "long-kv", Version: "0123456789abcdef0123456789abcdef"},
		{Key: "no", Kind: File, Name: "no", Path: filepath.Join(dir, "secrets", "no"), Local: true},
		{Key: "plain_external", Kind: External, Name: "plain_external", KVName: "plain-external"},
		{Key: "short", Kind: File, Name: "short", Path: filepath.Join(dir, "secrets", "short"), KVName: "short-kv"},
		{Key: "tls_cert", Kind: File, Name: "tls_cert", Path: filepath.Join(dir, "cert.pem"), Local: true},
		{Key: "unmarked", Kind: File, Name: "unmarked", Path: filepath.Join(dir, "secrets", "unmarked"), Local: true},
		{Key: "version_only", Kind: File, Name: "version_only", Path: filepath.Join(dir, "secrets", "version_only"), KVName: "version-only", Version: "abcdef"},
		{Key: "yes", Kind: File, Name: "yes", Path: filepath.Join(dir, "secrets", "yes"), KVName: "yes"},
	})
}

func TestSecretsTopLevelFiles(t *testing.T) {
	p := load(t, `
x-vault:
  url: https://myvault.vault.azure.net
  files: true
  include: [API_TOKEN]   # read here too: one model for every command
services: {}
secrets:
  db_password:
    file: ./secrets/db_password
  named:
    file: ./secrets/named
    x-vault: other-name
  kept_local:
    file: ./tls.crt
    x-vault: false
  from_env:
    environment: HOME
`)
	cfg, err := ReadConfig(p)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(cfg, Config{URL: "https://myvault.vault.azure.net", Files: true, Include: []string{"API_TOKEN"}}))
	url, err := VaultURL(p)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(url, "https://myvault.vault.azure.net"))

	got, err := Secrets(p)
	assert.NilError(t, err)
	dir := p.WorkingDir
	assert.DeepEqual(t, got, []Secret{
		{Key: "db_password", Kind: File, Name: "db_password", Path: filepath.Join(dir, "secrets", "db_password"), KVName: "db-password"},
		{Key: "kept_local", Kind: File, Name: "kept_local", Path: filepath.Join(dir, "tls.crt"), Local: true},
		{Key: "named", Kind: File, Name: "named", Path: filepath.Join(dir, "secrets", "named"), KVName: "other-name"},
	})

	// files: false is the default, said out loud.
	p = load(t, `
x-vault: {files: false}
services: {}
secrets:
  db_password:
    file: ./secrets/db_password
`)
	got, err = Secrets(p)
	assert.NilError(t, err)
	assert.Check(t, is.Len(got, 1))
	assert.Check(t, got[0].Local)
}

func TestSecretsLocalSkipNameRuleAndCollisions(t *testing.T) {
	// Backed, these would collide (a_b, a-b and a.b) and fail the name
	// rule (a key longer than 127); local, they are fine.
	long := strings.Repeat("k", 130)
	p := load(t, `
services: {}
secrets:
  a_b:
    external: true
  a-b:
    external: true
    x-vault: false
  a.b:
    file: ./a.b
  `+long+`_ext:
    external: true
    x-vault: false
  `+long+`_file:
    file: ./long
`)
	got, err := Secrets(p)
	assert.NilError(t, err)
	var local []string
	for _, s := range got {
		if s.Local {
			local = append(local, s.Key)
			assert.Check(t, is.Equal(s.KVName, ""), s.Key)
		}
	}
	assert.Check(t, is.DeepEqual(local, []string{"a-b", "a.b", long + "_ext", long + "_file"}))

	p = load(t, "services: {}\nsecrets:\n  "+long+":\n    file: ./long\n    x-vault: true\n")
	_, err = Secrets(p)
	assert.Check(t, is.ErrorContains(err, "which is not a valid Key Vault secret name"))

	// Marked, the same file secret collides.
	p = load(t, `
services: {}
secrets:
  a_b:
    external: true
  a.b:
    file: ./a.b
    x-vault: true
`)
	_, err = Secrets(p)
	assert.Check(t, is.ErrorContains(err, "secrets a.b and a_b both map to Key Vault secret a-b"))
}

func TestMarkingErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"x-vault: {files: yes please}\nservices: {}\n", "top-level x-vault.files must be true or false"},
		{"x-vault: [a]\nservices: {}\n", "top-level x-vault must be a mapping (url, files)"},
		{"services: {}\nsecrets:\n  x:\n    file: ./x\n    x-vault: 3\n", "secret x: x-vault must be a Key Vault secret name, a mapping with name and version, true or false"},
		{"services: {}\nsecrets:\n  x:\n    file: ./x\n    x-vault: \"\"\n", `secret x maps to "", which is not a valid Key Vault secret name`},
		{"services: {}\nsecrets:\n  x:\n    file: ./x\n    x-vault: {name: \"\"}\n", `secret x maps to "", which is not a valid Key Vault secret name`},
	} {
		p := load(t, tc.yaml)
		_, err := Secrets(p)
		assert.Check(t, is.ErrorContains(err, tc.want), tc.yaml)
	}
}

func TestMapAllAndKeyVaultName(t *testing.T) {
	p := load(t, `
services: {}
secrets:
  from_env:
    environment: HOME
  env_local:
    environment: HOME
    x-vault: false
  env_named:
    environment: HOME
    x-vault: some-name
`)
	got, err := MapAll(p)
	assert.NilError(t, err)
	assert.DeepEqual(t, got, []Secret{
		{Key: "env_local", Name: "env_local", Local: true},
		{Key: "env_named", Name: "env_named", KVName: "some-name"},
		{Key: "from_env", Name: "from_env", KVName: "from-env"},
	})
	secrets, err := Secrets(p)
	assert.NilError(t, err)
	assert.Check(t, is.Len(secrets, 0), "environment secrets are not Secrets")

	name, _, err := KeyVaultName("from_env", p.Secrets["from_env"])
	assert.NilError(t, err)
	assert.Check(t, is.Equal(name, "from-env"))
	name, _, err = KeyVaultName("env_named", p.Secrets["env_named"])
	assert.NilError(t, err)
	assert.Check(t, is.Equal(name, "some-name"))
	_, _, err = KeyVaultName("env_local", p.Secrets["env_local"])
	assert.Check(t, errors.Is(err, ErrLocal))
	assert.Check(t, is.ErrorContains(err, "secret env_local is marked x-vault: false, so it has no Key Vault secret"))
}
