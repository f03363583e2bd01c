package status

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/fetch"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest/kvstore"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/swarm"
	swarmtypes "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// fakeEngine answers the list calls status makes from fixed state and
// counts every call; any other call fails the test through the nil
// embedded interface.
type fakeEngine struct {
	swarm.Engine
	secrets  []swarmtypes.Secret
	services []swarmtypes.Service
	calls    map[string]*atomic.Int64
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{calls: map[string]*atomic.Int64{"secrets": {}, "services": {}, "tasks": {}}}
}

func (f *fakeEngine) SecretList(context.Context, client.SecretListOptions) (client.SecretListResult, error) {
	f.calls["secrets"].Add(1)
	return client.SecretListResult{Items: f.secrets}, nil
}

func (f *fakeEngine) ServiceList(context.Context, client.ServiceListOptions) (client.ServiceListResult, error) {
	f.calls["services"].Add(1)
	return client.ServiceListResult{Items: f.services}, nil
}

func (f *fakeEngine) TaskList(context.Context, client.TaskListOptions) (client.TaskListResult, error) {
	f.calls["tasks"].Add(1)
	return client.TaskListResult{}, nil
}

func (f *fakeEngine) count() string {
	return fmt.Sprintf("secrets=%d services=%d tasks=%d", f.calls["secrets"].Load(), f.calls["services"].Load(), f.calls["tasks"].Load())
}

// synced is the swarm secret a sync makes of a Key Vault secret's current
// version, as far as its labels go.
func synced(key string, p keyvault.SecretProperties, version string, source string, age time.Duration) swarmtypes.Secret {
	var s swarmtypes.Secret
	s.ID = "id-" + key + "-" + version[:8]
	s.CreatedAt = time.Now().Add(-age)
	s.Spec.Name = swarm.VersionedName(key, version)
	s.Spec.Labels = map[string]string{
		swarm.LabelManaged: "true", swarm.LabelSecret: key, swarm.LabelVersion: version,
		swarm.LabelSource: source, swarm.LabelVaultSecret: p.Name, swarm.LabelUpdated: strconv.FormatInt(p.Updated.Unix(), 10),
	}
	return s
}

// TestCheckReadsNoValue: a project of 30 external secrets in sync costs the
// Key Vault list pages and one swarm secret list; a rotation in Key Vault
// shows as stale with no value read, listing services as a sync would.
func TestCheckReadsNoValue(t *testing.T) {
	const n = 30
	s, store := kvstore.New(t, kvtest.Options{})
	names := s.Populate("st", n)
	listed, err := fetch.List(context.Background(), store)
	assert.NilError(t, err)
	eng := newFakeEngine()
	var secrets []mapping.Secret
	for i, name := range names {
		key := fmt.Sprintf("s%02d", i)
		secrets = append(secrets, external(key, name))
		eng.secrets = append(eng.secrets, synced(key, listed[strings.ToLower(name)], fmt.Sprintf("%032x", i+1), store.VaultURL(), time.Hour))
	}
	s.ResetCounts()

	rows, err := Check(context.Background(), eng, store, secrets, Options{Keep: 1, ExpiryWarning: time.Hour})
	assert.NilError(t, err)
	assert.Check(t, is.Len(rows, n))
	assert.Check(t, is.Equal(Summarize(rows).String(), "all 30 secrets are in sync"))
	pages := (n + kvtest.MaxPageSize - 1) / kvtest.MaxPageSize
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListSecrets), pages))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 0))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListVersions), 0))
	assert.Check(t, is.Equal(eng.count(), "secrets=1 services=0 tasks=0"))

	s.SetSecret(names[3], "st-rotated-value")
	s.ResetCounts()
	rows, err = Check(context.Background(), eng, store, secrets, Options{Keep: 1})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(rows[3].State, Stale))
	assert.Check(t, is.Equal(Summarize(rows).String(), "1 of 30 secrets drift from Key Vault"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 0))
	// A sync would read that value and list services to move: so does
	// status (services only).
	assert.Check(t, is.Equal(eng.count(), "secrets=2 services=1 tasks=0"))
}

// TestCheckOrphanAsksWhoUsesIt: a version sync would prune is checked
// against services and tasks (one list of each), as sync checks it.
func TestCheckOrphanAsksWhoUsesIt(t *testing.T) {
	s, store := kvstore.New(t, kvtest.Options{})
	s.SetSecret("db", "x")
	listed, err := fetch.List(context.Background(), store)
	assert.NilError(t, err)
	p := listed["db"]
	eng := newFakeEngine()
	old := p
	old.Updated = p.Updated.Add(-time.Hour)
	eng.secrets = []swarmtypes.Secret{
		synced("db", p, strings.Repeat("3", 32), store.VaultURL(), time.Minute),
		synced("db", old, strings.Repeat("2", 32), store.VaultURL(), 2*time.Minute),
		synced("db", old, strings.Repeat("1", 32), store.VaultURL(), 3*time.Minute),
	}
	rows, err := Check(context.Background(), eng, store, []mapping.Secret{external("db", "db")}, Options{Keep: 1})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(rows[0].State, Orphaned))
	assert.Check(t, is.DeepEqual(rows[0].Orphans, []string{"db_11111111"}))
	assert.Check(t, is.Equal(eng.count(), "secrets=1 services=2 tasks=1"))
}

// TestCheckUnreachableVaultReadsNothingElse: when the Key Vault list fails,
// status fails before it asks the engine anything.
func TestCheckUnreachableVaultReadsNothingElse(t *testing.T) {
	s, store := kvstore.New(t, kvtest.Options{Seed: map[string]string{"db": "x"}})
	s.SetFaults(kvtest.Faults{Forbidden: []string{"*"}})
	eng := newFakeEngine()
	_, err := Check(context.Background(), eng, store, []mapping.Secret{external("db", "db")}, Options{})
	assert.Check(t, is.ErrorContains(err, "failed to list secrets from https://emulator.vault.azure.net"))
	assert.Check(t, is.Equal(eng.count(), "secrets=0 services=0 tasks=0"))
}
