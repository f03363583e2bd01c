package syncer

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/action"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest/kvstore"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/secretfile"
	"github.com/docker-vault/docker-vault/internal/swarm"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestWatchLine(t *testing.T) {
	unchanged := &Result{Checked: 40, Swarm: swarm.Plan{Actions: []swarm.Action{{Kind: swarm.ActionUnchanged}}}}
	changed := &Result{Checked: 3, Swarm: swarm.Plan{Actions: []swarm.Action{{Kind: swarm.ActionRotate}, {Kind: swarm.ActionUnchanged}}},
		Files: []secretfile.Change{{Action: action.Update}}}
	swarmFailed := &swarm.PartialError{Failed: []swarm.Action{{Secret: "a"}, {Secret: "b"}}, Total: 3}
	filesFailed := &secretfile.PartialError{Failed: []secretfile.Change{{Secret: "c"}}, Total: 1}
	for _, tc := range []struct {
		name string
		res  *Result
		err  error
		next time.Duration
		want string
	}{
		{"nothing changed", unchanged, nil, 5 * time.Minute, "checked 40 secrets, nothing changed, next in 5m"},
		{"one secret", &Result{Checked: 1}, nil, 10 * time.Second, "checked 1 secret, nothing changed, next in 10s"},
		{"changes", changed, nil, time.Hour, "checked 3 secrets, 2 changed, next in 1h"},
		{"jittered wait", unchanged, nil, 4*time.Minute + 47*time.Second + 300*time.Millisecond, "checked 40 secrets, nothing changed, next in 4m47s"},
		{"hours and minutes", unchanged, nil, 90 * time.Minute, "checked 40 secrets, nothing changed, next in 1h30m"},
		{"some failed", changed, swarmFailed, time.Minute, "checked 3 secrets, 2 changed, 2 failed, next in 1m"},
		{"both halves failed", changed, oneLine(swarmFailed, filesFailed), time.Minute, "checked 3 secrets, 2 changed, 3 failed, next in 1m"},
		{"failed outright", changed, errors.New("failed to list secrets: 403"), time.Minute, "sync failed, next in 1m"},
		{"no result", nil, errors.New("sign-in failed"), 30 * time.Second, "sync failed, next in 30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Check(t, is.Equal(WatchLine(tc.res, tc.err, tc.next), tc.want))
		})
	}
}

func TestRunCountsTheSecretsItChecks(t *testing.T) {
	// A dry run of two Key Vault-backed file secrets and a local one:
	// two are checked.
	vault, store := kvstore.New(t, kvtest.Options{})
	vault.SetSecret("db-password", "dvtest-value-one")
	vault.SetSecret("api-key", "dvtest-value-two")
	dir := t.TempDir()
	secrets := []mapping.Secret{
		{Key: "db", Kind: mapping.File, Path: filepath.Join(dir, "db.txt"), KVName: "db-password"},
		{Key: "api", Kind: mapping.File, Path: filepath.Join(dir, "api.txt"), KVName: "api-key"},
		{Key: "local", Kind: mapping.File, Path: filepath.Join(dir, "local.txt"), Local: true},
	}
	res, err := Run(context.Background(), noContainers{}, store, secrets, Options{DryRun: true, Parallel: 2, ProjectDir: dir})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Checked, 2))
	assert.Check(t, is.Equal(WatchLine(res, err, time.Minute), "checked 2 secrets, 2 changed, next in 1m"))
}

// noContainers is an engine with no Compose container.
type noContainers struct{ Engine }

func (noContainers) ContainerList(context.Context, client.ContainerListOptions) (client.ContainerListResult, error) {
	return client.ContainerListResult{}, nil
}
