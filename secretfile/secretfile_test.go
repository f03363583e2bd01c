package secretfile

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/internal/kvfake"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestSyncWritesRotatesAndSkipsUnchanged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := kvfake.New()
	v1 := store.Put("db-password", "first-value-1234")
	store.Put("api-key", "api-value-5678")
	desired := []Desired{
		{Name: "db_password", KVName: "db-password", Path: filepath.Join(dir, "secrets", "db_password")},
		{Name: "api_key", KVName: "api-key", Path: filepath.Join(dir, "secrets", "api_key")},
	}
	var log bytes.Buffer

	changes, err := Sync(ctx, store, desired, Options{Log: &log})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(changes[0].Action, "create"))
	assert.Check(t, is.Equal(changes[0].Version, v1))
	assert.Check(t, is.Equal(store.Gets, 2))
	b, err := os.ReadFile(desired[0].Path)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), "first-value-1234"))
	fi, err := os.Stat(desired[0].Path)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o600)))
	di, err := os.Stat(filepath.Dir(desired[0].Path))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(di.Mode().Perm(), os.FileMode(0o700)))

	// Nothing changed: one list, no value read, nothing written.
	store.ResetCounts()
	changes, err = Sync(ctx, store, desired, Options{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(store.Lists, 1))
	assert.Check(t, is.Equal(store.Gets, 0))
	assert.Check(t, is.Equal(changes[0].Action, "unchanged"))

	// Rotate one: only it is read and rewritten, on a new inode.
	before, _ := os.Stat(desired[0].Path)
	v2 := store.Put("db-password", "second-value-9999")
	store.ResetCounts()
	changes, err = Sync(ctx, store, desired, Options{Log: &log})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(store.Gets, 1))
	assert.Check(t, is.Equal(changes[0].Action, "update"))
	assert.Check(t, is.Equal(changes[0].Version, v2))
	assert.Check(t, is.Equal(changes[1].Action, "unchanged"))
	b, _ = os.ReadFile(desired[0].Path)
	assert.Check(t, is.Equal(string(b), "second-value-9999"))
	after, _ := os.Stat(desired[0].Path)
	assert.Check(t, !os.SameFile(before, after), "an atomic replace gives a new inode")

	// No value in the log, the state file, or any other file left behind.
	entries, err := os.ReadDir(filepath.Dir(desired[0].Path))
	assert.NilError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.DeepEqual(t, names, []string{StateFile, "api_key", "db_password"})
	state, _ := os.ReadFile(filepath.Join(filepath.Dir(desired[0].Path), StateFile))
	for _, v := range []string{"first-value-1234", "second-value-9999", "api-value-5678"} {
		assert.Check(t, !strings.Contains(log.String(), v))
		assert.Check(t, !strings.Contains(string(state), v))
	}
}

func TestSyncDryRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	store := kvfake.New()
	store.Put("x", "value-x")
	changes, err := Sync(context.Background(), store, []Desired{{Name: "x", KVName: "x", Path: filepath.Join(dir, "x")}}, Options{DryRun: true})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(changes[0].Action, "create"))
	_, err = os.Stat(filepath.Join(dir, "x"))
	assert.Check(t, os.IsNotExist(err))
	_, err = os.Stat(filepath.Join(dir, StateFile))
	assert.Check(t, os.IsNotExist(err))
}

func TestSyncMissingOrDisabledChangesNothing(t *testing.T) {
	dir := t.TempDir()
	store := kvfake.New()
	store.Put("ok", "value-ok")
	store.Put("off", "value-off")
	store.Disable("off")
	desired := []Desired{
		{Name: "ok", KVName: "ok", Path: filepath.Join(dir, "ok")},
		{Name: "off", KVName: "off", Path: filepath.Join(dir, "off")},
		{Name: "gone", KVName: "gone", Path: filepath.Join(dir, "gone")},
	}
	_, err := Sync(context.Background(), store, desired, Options{})
	assert.Check(t, is.ErrorContains(err, `off: Key Vault secret "off" is disabled`))
	assert.Check(t, is.ErrorContains(err, `gone: Key Vault secret "gone" does not exist`))
	_, statErr := os.Stat(filepath.Join(dir, "ok"))
	assert.Check(t, os.IsNotExist(statErr), "nothing is written when any secret fails")
}

func TestWriteAtomicFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real")
	assert.NilError(t, os.WriteFile(target, []byte("old"), 0o600))
	link := filepath.Join(dir, "link")
	assert.NilError(t, os.Symlink(target, link))
	assert.NilError(t, WriteAtomic(link, []byte("new")))
	b, _ := os.ReadFile(target)
	assert.Check(t, is.Equal(string(b), "new"))
	fi, _ := os.Lstat(link)
	assert.Check(t, fi.Mode()&os.ModeSymlink != 0, "the link stays a link")
}
