package syncer

import (
	"context"
	"errors"
	"testing"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/secretfile"
	"github.com/docker-vault/docker-vault/internal/swarm"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// listStore answers List with listFunc; no other method is called.
type listStore struct {
	keyvault.Store
	listFunc func(ctx context.Context, fn func(keyvault.SecretProperties) error) error
}

func (s *listStore) List(ctx context.Context, fn func(keyvault.SecretProperties) error) error {
	return s.listFunc(ctx, fn)
}

func TestListOnceListsOnce(t *testing.T) {
	lists := 0
	store := &listStore{listFunc: func(_ context.Context, fn func(keyvault.SecretProperties) error) error {
		lists++
		for _, n := range []string{"a", "b"} {
			if err := fn(keyvault.SecretProperties{Name: n}); err != nil {
				return err
			}
		}
		return nil
	}}
	l := &listOnce{Store: store}
	for range 2 {
		var names []string
		assert.NilError(t, l.List(context.Background(), func(p keyvault.SecretProperties) error {
			names = append(names, p.Name)
			return nil
		}))
		assert.Check(t, is.Len(names, 2))
	}
	assert.Check(t, is.Equal(lists, 1))
	stop := errors.New("stop")
	assert.Check(t, is.ErrorIs(l.List(context.Background(), func(keyvault.SecretProperties) error { return stop }), stop))
}

func TestOneLineKeepsEachError(t *testing.T) {
	assert.Check(t, is.Nil(oneLine(nil, nil)))
	one := errors.New("one")
	assert.Check(t, is.Equal(oneLine(nil, one), one))
	pe := &secretfile.PartialError{Failed: []secretfile.Change{{Secret: "b", Reason: "gone"}}, Total: 2}
	err := oneLine(one, pe)
	assert.Check(t, is.Error(err, "one; 1 of 2 secrets failed, the others were synced: b: gone"))
	var got *secretfile.PartialError
	assert.Check(t, errors.As(err, &got))
	assert.Check(t, is.ErrorIs(err, one))
}

func TestResultChangesCountsSwarmAndFiles(t *testing.T) {
	r := &Result{
		Swarm: swarm.Plan{Actions: []swarm.Action{{Kind: swarm.ActionRotate}, {Kind: swarm.ActionUnchanged}, {Kind: swarm.ActionKeep}}},
		Files: []secretfile.Change{{Action: "create"}, {Action: "update"}, {Action: "unchanged"}, {Action: "error"}},
	}
	assert.Check(t, is.Equal(r.Changes(), 3))
}
