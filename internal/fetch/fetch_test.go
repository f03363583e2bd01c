package fetch

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// fakeStore answers Get with getFunc and List with listFunc; no other
// method is called.
type fakeStore struct {
	keyvault.Store
	getFunc  func(ctx context.Context, name, version string) (keyvault.Secret, error)
	listFunc func(ctx context.Context, fn func(keyvault.SecretProperties) error) error
}

func (f *fakeStore) List(ctx context.Context, fn func(keyvault.SecretProperties) error) error {
	return f.listFunc(ctx, fn)
}

func (f *fakeStore) VaultURL() string { return "https://fetch-test.vault.azure.net" }

func (f *fakeStore) Get(ctx context.Context, name, version string) (keyvault.Secret, error) {
	return f.getFunc(ctx, name, version)
}

func TestValuesBoundsAndKeepsOrder(t *testing.T) {
	var running, most atomic.Int32
	store := &fakeStore{getFunc: func(_ context.Context, name, version string) (keyvault.Secret, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		return keyvault.Secret{Value: []byte("value-of-" + name), SecretProperties: keyvault.SecretProperties{Version: version}}, nil
	}}
	var reqs []Request
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		reqs = append(reqs, Request{Name: n, Version: "v-" + n})
	}
	var progress []int
	res, err := Values(context.Background(), store, reqs, Options{Parallel: 2, Progress: func(done, total int) {
		assert.Check(t, is.Equal(total, 6))
		progress = append(progress, done)
	}})
	assert.NilError(t, err)
	assert.Check(t, most.Load() <= 2, "at most 2 reads at once, saw %d", most.Load())
	assert.Check(t, is.DeepEqual(progress, []int{1, 2, 3, 4, 5, 6}))
	for i, r := range res {
		assert.Check(t, is.Equal(string(r.Value), "value-of-"+reqs[i].Name))
		assert.Check(t, is.Equal(r.Version, reqs[i].Version))
	}
}

func TestValuesStopOrCollect(t *testing.T) {
	outage := errors.New("outage")
	store := &fakeStore{getFunc: func(ctx context.Context, name, _ string) (keyvault.Secret, error) {
		switch name {
		case "gone":
			return keyvault.Secret{}, keyvault.ErrNotFound
		case "down":
			return keyvault.Secret{}, outage
		}
		return keyvault.Secret{Value: []byte("fetch-test-value")}, nil
	}}
	keepNotFound := func(_ int, err error) error {
		if errors.Is(err, keyvault.ErrNotFound) {
			return nil
		}
		return err
	}
	res, err := Values(context.Background(), store, []Request{{Name: "a"}, {Name: "gone"}}, Options{Stop: keepNotFound})
	assert.NilError(t, err)
	assert.Check(t, is.ErrorIs(res[1].Err, keyvault.ErrNotFound))
	assert.Check(t, is.Equal(string(res[0].Value), "fetch-test-value"))

	res, err = Values(context.Background(), store, []Request{{Name: "a"}, {Name: "down"}, {Name: "gone"}}, Options{Stop: keepNotFound, Parallel: 1})
	assert.Check(t, is.ErrorIs(err, outage))
	assert.Check(t, is.Nil(res))

	_, err = Values(context.Background(), store, []Request{{Name: "gone"}}, Options{})
	assert.Check(t, is.ErrorIs(err, keyvault.ErrNotFound), "without Stop every failure stops")
}

func TestSettled(t *testing.T) {
	updated := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	r := Result{Start: updated.Add(100 * time.Millisecond)}
	r.Updated = updated
	assert.Check(t, !r.Settled(), "read within the updated second")
	r.Start = updated.Truncate(time.Second).Add(time.Second)
	assert.Check(t, r.Settled())
}

func TestMissing(t *testing.T) {
	assert.Check(t, Missing(keyvault.ErrNotFound))
	assert.Check(t, Missing(keyvault.ErrDisabled))
	assert.Check(t, !Missing(keyvault.ErrUnauthenticated))
	assert.Check(t, !Missing(errors.New("outage")))
}

func TestList(t *testing.T) {
	var listErr error
	store := &fakeStore{listFunc: func(_ context.Context, fn func(keyvault.SecretProperties) error) error {
		if listErr != nil {
			return listErr
		}
		return fn(keyvault.SecretProperties{Name: "Db-Password", Enabled: true})
	}}
	listed, err := List(context.Background(), store)
	assert.NilError(t, err)
	assert.Check(t, listed["db-password"].Enabled, "keyed by lower-case name")

	listErr = errors.New("connection refused")
	_, err = List(context.Background(), store)
	assert.Check(t, is.Error(err, "failed to list secrets of https://fetch-test.vault.azure.net: connection refused"))

	kvErr := &keyvault.Error{Op: keyvault.OpList, Vault: "https://fetch-test.vault.azure.net", Detail: "unavailable"}
	listErr = kvErr
	_, err = List(context.Background(), store)
	assert.Check(t, is.Equal(err, error(kvErr)), "a *keyvault.Error already names the vault")
}
