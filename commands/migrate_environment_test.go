package commands

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

// TestMigrateToEnvironment: --to environment --push stores the values and
// declares environment: secrets, naming their variables; nothing goes to
// disk but the rewritten project files; a second run changes nothing.
func TestMigrateToEnvironment(t *testing.T) {
	s := startMigrateEmulator(t, nil)
	dir := writeMigrateProject(t)

	// Without --push, Key Vault must hold the values already: it does not.
	before := snapshot(t, dir)
	_, err := runMigrateCommand(t, dir, "--to", "environment")
	assert.Check(t, is.ErrorContains(err, "without --push, --to environment needs Key Vault to hold every value already"))
	assert.Check(t, is.DeepEqual(snapshot(t, dir), before))

	out, err := runMigrateCommand(t, dir, "--to", "environment", "--push")
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "secrets `docker vault run` fills from Key Vault through variables: postgres_password from $POSTGRES_PASSWORD, wordpress_auth_key from $WORDPRESS_AUTH_KEY, wordpress_nonce_salt from $WORDPRESS_NONCE_SALT\n"))
	assert.Check(t, is.Contains(out, "wrote 3 files, stored 3 values in Key Vault\n"))
	after := snapshot(t, dir)
	_, err = os.Stat(filepath.Join(dir, "secrets"))
	assert.Check(t, errors.Is(err, os.ErrNotExist), "--to environment wrote secret files")
	assert.Check(t, is.Contains(after["compose.yaml"], "  postgres_password:\n    environment: POSTGRES_PASSWORD\n"))

	store, err := keyvault.Open(context.Background(), keyvault.Config{EnvURL: s.VaultURL()})
	assert.NilError(t, err)
	sec, err := store.Get(context.Background(), "postgres-password", "")
	assert.NilError(t, err)
	assert.Check(t, string(sec.Value) == migrateValues["postgres"], "Key Vault does not hold the value")

	sets := s.Count(kvtest.RouteSetSecret)
	out, err = runMigrateCommand(t, dir, "--to", "environment", "--push")
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "nothing to migrate"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), sets))
	assert.Check(t, is.DeepEqual(snapshot(t, dir), after))
}

func TestMigrateToEnvironmentDryRun(t *testing.T) {
	dir := writeMigrateProject(t)
	before := snapshot(t, dir)
	out, err := runMigrateCommand(t, dir, "--to", "environment", "--dry-run")
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(snapshot(t, dir), before))
	assert.Check(t, is.Contains(out, "+  postgres_password:\n+    environment: POSTGRES_PASSWORD\n"))
	assert.Check(t, is.Contains(out, "postgres_password from $POSTGRES_PASSWORD"))
}
