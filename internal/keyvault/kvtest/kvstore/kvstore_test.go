package kvstore

import (
	"context"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestStoreOnTheEmulator(t *testing.T) {
	ctx := context.Background()
	s, store := New(t, kvtest.Options{VaultName: "unit"})
	assert.Check(t, is.Equal(store.VaultURL(), "https://unit.vault.azure.net"))
	v1 := s.SetSecret("db-password", "kvstore-value-1")
	v2 := s.SetSecret("db-password", "kvstore-value-2")

	sec, err := store.Get(ctx, "db-password", v1)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(sec.Value), "kvstore-value-1"))
	sec, err = store.Get(ctx, "db-password", "")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(sec.Version, v2))
	assert.Check(t, sec.Updated.Equal(time.Unix(1700000001, 0)), "Ticking: one second per version, got %v", sec.Updated)

	var names []string
	assert.NilError(t, store.List(ctx, func(p keyvault.SecretProperties) error {
		names = append(names, p.Name)
		return nil
	}))
	assert.Check(t, is.DeepEqual(names, []string{"db-password"}))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 2))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListSecrets), 1))
}
