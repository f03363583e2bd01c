package scan

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/docker-vault/docker-vault/internal/fetch"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest/kvstore"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func loadCompose(t *testing.T, yaml string) *cli.ProjectOptions {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	assert.NilError(t, os.WriteFile(f, []byte(yaml), 0o600))
	opts, err := cli.NewProjectOptions([]string{f}, cli.WithName("p"), cli.WithWorkingDirectory(dir))
	assert.NilError(t, err)
	return opts
}

func TestMappedSecrets(t *testing.T) {
	p, err := loadCompose(t, `
services:
  app:
    image: app
    secrets: [db_password, api, local_one]
secrets:
  db_password:
    external: true
  api:
    external: true
    x-vault: {name: API-Key, version: 0123abcd}
  same:
    external: true
    x-vault: {name: db-password}
  local_one:
    file: ./local.txt
`).LoadProject(context.Background())
	assert.NilError(t, err)
	reqs, err := MappedSecrets(p)
	assert.NilError(t, err)
	// db_password and same map to one Key Vault secret: read once. The
	// file secret without x-vault is local: not read.
	assert.DeepEqual(t, reqs, []fetch.Request{{Name: "API-Key", Version: "0123abcd"}, {Name: "db-password"}})
}

func TestReadValues(t *testing.T) {
	const dbValue = "Tr0ub4dor&3-correct horse"
	s, store := kvstore.New(t, kvtest.Options{Seed: map[string]string{
		"db-password": dbValue,
		"pin":         "123",
		"off":         "disabled-value-1",
		"other":       "other-value-xyz",
	}})
	s.SetEnabled("off", false)
	ctx := context.Background()

	all, err := AllSecrets(ctx, store)
	assert.NilError(t, err)
	// The disabled secret cannot be read: --all leaves it out.
	assert.DeepEqual(t, all, []fetch.Request{{Name: "db-password"}, {Name: "other"}, {Name: "pin"}})

	v, notes, err := ReadValues(ctx, store, []fetch.Request{{Name: "db-password"}, {Name: "gone"}, {Name: "off"}, {Name: "pin"}}, 2)
	assert.NilError(t, err)
	defer v.Close()
	assert.DeepEqual(t, notes, []string{
		"Key Vault secret gone is missing: its value is not searched for",
		"Key Vault secret off is disabled: its value is not searched for",
		"Key Vault secret pin is too short to be searched for (a value that short is found anywhere)",
	})
	assert.Equal(t, v.Len(), 2)

	// Every form the issue names is found, and named by secret and form.
	for enc, form := range map[string]string{
		"raw":         dbValue,
		"base64":      base64.StdEncoding.EncodeToString([]byte(dbValue)),
		"hex":         hex.EncodeToString([]byte(dbValue)),
		"URL-encoded": url.QueryEscape(dbValue),
	} {
		var hits []string
		v.Matcher().Each([]byte("x="+form+"\n"), func(k int) bool {
			secret, e := v.Hit(k)
			hits = append(hits, secret+" "+e)
			return true
		})
		assert.Check(t, is.Contains(hits, "db-password "+enc), "%s: %v", enc, hits)
	}
	for _, n := range notes {
		assert.Check(t, !strings.Contains(n, dbValue))
	}
}

func TestReadValuesNeedsGetPermission(t *testing.T) {
	s, store := kvstore.New(t, kvtest.Options{Seed: map[string]string{"db-password": "a-value-1234", "api-key": "b-value-5678"}})
	s.SetFaults(kvtest.Faults{Forbidden: []string{"api-key"}, ForbiddenCode: "AccessDenied"})
	_, _, err := ReadValues(context.Background(), store, []fetch.Request{{Name: "db-password"}, {Name: "api-key"}}, 1)
	assert.ErrorContains(t, err, "scan --vault reads the values it searches for, which needs the secrets get permission: failed to get secret api-key from "+store.VaultURL())
	assert.Check(t, !strings.Contains(err.Error(), "a-value-1234") && !strings.Contains(err.Error(), "b-value-5678"))
}
