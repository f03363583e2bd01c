package secretfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/action"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest/kvstore"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// project is a temporary project directory and, beside it, a folder that
// is not part of it.
func project(t *testing.T) (dir, outside string) {
	t.Helper()
	base := t.TempDir()
	dir, outside = filepath.Join(base, "project"), filepath.Join(base, "outside")
	assert.NilError(t, os.Mkdir(dir, 0o700))
	assert.NilError(t, os.Mkdir(outside, 0o700))
	return dir, outside
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	assert.NilError(t, err)
	return string(b)
}

// newVault starts a Key Vault emulator for the test and returns it with a
// Store on it. The vault is named fake, as the messages below expect; its
// versions are written long ago, one second apart (kvstore.Ticking).
func newVault(t *testing.T) (*kvtest.Server, keyvault.Store) {
	t.Helper()
	return kvstore.New(t, kvtest.Options{VaultName: "fake"})
}

func TestSyncWritesRotatesAndSkipsUnchanged(t *testing.T) {
	ctx := context.Background()
	dir, _ := project(t)
	vault, store := newVault(t)
	v1 := vault.SetSecret("db-password", "first-value-1234")
	vault.SetSecret("api-key", "api-value-5678")
	desired := []Desired{
		{Name: "db_password", KVName: "db-password", Path: filepath.Join(dir, "secrets", "db_password")},
		{Name: "api_key", KVName: "api-key", Path: filepath.Join(dir, "secrets", "api_key")},
	}
	var log bytes.Buffer
	opts := Options{Log: &log, ProjectDir: dir}

	changes, err := Sync(ctx, store, desired, opts)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(changes[0].Action, action.Create))
	assert.Check(t, is.Equal(changes[0].Version, v1))
	assert.Check(t, is.Equal(vault.Count(kvtest.RouteGetSecret), 2))
	assert.Check(t, is.Equal(readFile(t, desired[0].Path), "first-value-1234"))
	fi, err := os.Stat(desired[0].Path)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o600)))
	di, err := os.Stat(filepath.Dir(desired[0].Path))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(di.Mode().Perm(), os.FileMode(0o700)))

	// Nothing changed: one list, no value read, nothing written.
	vault.ResetCounts()
	changes, err = Sync(ctx, store, desired, opts)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(vault.Count(kvtest.RouteListSecrets), 1))
	assert.Check(t, is.Equal(vault.Count(kvtest.RouteGetSecret), 0))
	assert.Check(t, is.Equal(changes[0].Action, action.Unchanged))

	// Rotate one: the file sync created and recorded is read and
	// rewritten, on a new inode.
	before, _ := os.Stat(desired[0].Path)
	v2 := vault.SetSecret("db-password", "second-value-9999")
	vault.ResetCounts()
	changes, err = Sync(ctx, store, desired, opts)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(vault.Count(kvtest.RouteGetSecret), 1))
	assert.Check(t, is.Equal(changes[0].Action, action.Update))
	assert.Check(t, is.Equal(changes[0].Version, v2))
	assert.Check(t, is.Equal(changes[1].Action, action.Unchanged))
	assert.Check(t, is.Equal(readFile(t, desired[0].Path), "second-value-9999"))
	after, _ := os.Stat(desired[0].Path)
	assert.Check(t, !os.SameFile(before, after), "an atomic replace gives a new inode")

	// The state file is beside the secrets, inside the project; no other
	// file is left behind, and none holds a value.
	entries, err := os.ReadDir(filepath.Dir(desired[0].Path))
	assert.NilError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.DeepEqual(t, names, []string{StateFile, "api_key", "db_password"})
	state := readFile(t, filepath.Join(filepath.Dir(desired[0].Path), StateFile))
	for _, v := range []string{"first-value-1234", "second-value-9999", "api-value-5678"} {
		assert.Check(t, !strings.Contains(log.String(), v))
		assert.Check(t, !strings.Contains(state, v))
	}
}

func TestSyncDryRunWritesNothing(t *testing.T) {
	dir, _ := project(t)
	vault, store := newVault(t)
	vault.SetSecret("x", "value-x")
	changes, err := Sync(context.Background(), store, []Desired{{Name: "x", KVName: "x", Path: filepath.Join(dir, "x")}}, Options{DryRun: true, ProjectDir: dir})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(changes[0].Action, action.Create))
	_, err = os.Stat(filepath.Join(dir, "x"))
	assert.Check(t, os.IsNotExist(err))
	_, err = os.Stat(filepath.Join(dir, StateFile))
	assert.Check(t, os.IsNotExist(err))
}

func TestSyncNeedsProjectDir(t *testing.T) {
	vault, store := newVault(t)
	vault.SetSecret("x", "value-x")
	dir := t.TempDir()
	desired := []Desired{{Name: "x", KVName: "x", Path: filepath.Join(dir, "x")}}
	_, err := Sync(context.Background(), store, desired, Options{})
	assert.Check(t, is.Error(err, "internal error: no project directory"))
	_, err = Sync(context.Background(), store, desired, Options{ProjectDir: "relative"})
	assert.Check(t, is.Error(err, "internal error: project directory relative is not absolute"))
	assert.Check(t, is.Equal(vault.Count(kvtest.RouteListSecrets), 0))
	_, err = os.Stat(desired[0].Path)
	assert.Check(t, os.IsNotExist(err))
}

// TestSyncPartialProgress: one disabled secret among three does not hold
// back the other two, and the error names it.
func TestSyncPartialProgress(t *testing.T) {
	dir, _ := project(t)
	vault, store := newVault(t)
	vault.SetSecret("a", "value-a-1")
	vault.SetSecret("b", "value-b-1")
	vault.SetSecret("c", "value-c-1")
	desired := []Desired{
		{Name: "a", KVName: "a", Path: filepath.Join(dir, "secrets", "a")},
		{Name: "b", KVName: "b", Path: filepath.Join(dir, "secrets", "b")},
		{Name: "c", KVName: "c", Path: filepath.Join(dir, "secrets", "c")},
	}
	opts := Options{ProjectDir: dir}
	_, err := Sync(context.Background(), store, desired, opts)
	assert.NilError(t, err)

	vault.SetSecret("a", "value-a-2")
	vault.SetSecret("b", "value-b-2")
	vault.SetSecret("c", "value-c-2")
	vault.SetEnabled("b", false)
	changes, err := Sync(context.Background(), store, desired, opts)
	var pe *PartialError
	assert.Assert(t, errors.As(err, &pe), "%v", err)
	assert.Check(t, is.Error(err, `1 of 3 secrets failed, the others were synced: b: Key Vault secret "b" is disabled: enable it, or map the secret to another with x-vault.name`))
	assert.Check(t, is.Len(pe.Failed, 1))
	assert.Check(t, is.Equal(pe.Failed[0].Secret, "b"))
	assert.Check(t, is.DeepEqual([]action.Kind{changes[0].Action, changes[1].Action, changes[2].Action}, []action.Kind{action.Update, action.Error, action.Update}))
	assert.Check(t, is.Equal(readFile(t, desired[0].Path), "value-a-2"))
	assert.Check(t, is.Equal(readFile(t, desired[1].Path), "value-b-1"), "the disabled one keeps its old value")
	assert.Check(t, is.Equal(readFile(t, desired[2].Path), "value-c-2"))

	// Two failures are both named, in order; a missing one is one of them.
	desired = append(desired, Desired{Name: "gone", KVName: "gone", Path: filepath.Join(dir, "secrets", "gone")})
	_, err = Sync(context.Background(), store, desired, opts)
	assert.Check(t, is.ErrorContains(err, `2 of 4 secrets failed, the others were synced: b: Key Vault secret "b" is disabled`))
	assert.Check(t, is.ErrorContains(err, `; gone: Key Vault secret "gone" does not exist in https://fake.vault.azure.net: create it`))
	_, statErr := os.Stat(filepath.Join(dir, "secrets", "gone"))
	assert.Check(t, os.IsNotExist(statErr))
}

// failingStore fails List, or Get of one secret, with err.
type failingStore struct {
	keyvault.Store
	listErr error
	getName string
	getErr  error
}

func (s *failingStore) List(ctx context.Context, fn func(keyvault.SecretProperties) error) error {
	if s.listErr != nil {
		return s.listErr
	}
	return s.Store.List(ctx, fn)
}

func (s *failingStore) Get(ctx context.Context, name, version string) (keyvault.Secret, error) {
	if name == s.getName {
		return keyvault.Secret{}, s.getErr
	}
	return s.Store.Get(ctx, name, version)
}

func TestSyncKeyVaultFailureChangesNothing(t *testing.T) {
	outage := &keyvault.Error{Op: keyvault.OpList, Vault: "https://fake.vault.azure.net", Detail: "key vault unavailable"}
	for _, tc := range []struct {
		name  string
		store func(keyvault.Store) keyvault.Store
		want  string
	}{
		{"list fails", func(s keyvault.Store) keyvault.Store {
			return &failingStore{Store: s, listErr: outage}
		}, "failed to list secrets from https://fake.vault.azure.net: key vault unavailable"},
		{"get fails", func(s keyvault.Store) keyvault.Store {
			return &failingStore{Store: s, getName: "b", getErr: keyvault.ErrUnauthenticated}
		}, "secret b: not signed in to Azure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := project(t)
			vault, kv := newVault(t)
			vault.SetSecret("a", "value-a")
			vault.SetSecret("b", "value-b")
			desired := []Desired{
				{Name: "a", KVName: "a", Path: filepath.Join(dir, "a")},
				{Name: "b", KVName: "b", Path: filepath.Join(dir, "b")},
			}
			_, err := Sync(context.Background(), tc.store(kv), desired, Options{ProjectDir: dir, Parallel: 1})
			assert.Check(t, is.Error(err, tc.want))
			var pe *PartialError
			assert.Check(t, !errors.As(err, &pe), "an outage is not a partial sync")
			entries, _ := os.ReadDir(dir)
			assert.Check(t, is.Len(entries, 0), "nothing is written")
		})
	}
}

func TestSyncGetNotFoundIsOneSecretsFailure(t *testing.T) {
	dir, _ := project(t)
	vault, kv := newVault(t)
	vault.SetSecret("a", "value-a")
	vault.SetSecret("b", "value-b")
	// b is listed, then deleted before its value is read.
	store := &failingStore{Store: kv, getName: "b", getErr: keyvault.ErrNotFound}
	desired := []Desired{
		{Name: "a", KVName: "a", Path: filepath.Join(dir, "a")},
		{Name: "b", KVName: "b", Path: filepath.Join(dir, "b")},
	}
	changes, err := Sync(context.Background(), store, desired, Options{ProjectDir: dir})
	assert.Check(t, is.ErrorContains(err, `1 of 2 secrets failed, the others were synced: b: Key Vault secret "b" does not exist in https://fake.vault.azure.net (deleted during the sync?)`))
	assert.Check(t, is.Equal(changes[0].Action, action.Create))
	assert.Check(t, is.Equal(readFile(t, desired[0].Path), "value-a"))
}

func TestSyncRefusesFilesOutsideTheProject(t *testing.T) {
	dir, outside := project(t)
	vault, store := newVault(t)
	vault.SetSecret("ok", "value-ok")
	vault.SetSecret("victim", "value-victim")
	victim := filepath.Join(outside, "victim")
	assert.NilError(t, os.WriteFile(victim, []byte("precious"), 0o600))
	assert.NilError(t, os.MkdirAll(filepath.Join(dir, "secrets"), 0o700))
	// A link to an existing file outside, a dangling one leading outside,
	// and a folder link leading outside.
	assert.NilError(t, os.Symlink(victim, filepath.Join(dir, "secrets", "link")))
	assert.NilError(t, os.Symlink(filepath.Join(outside, "new"), filepath.Join(dir, "secrets", "dangling")))
	assert.NilError(t, os.Symlink(outside, filepath.Join(dir, "elsewhere")))

	desired := []Desired{
		{Name: "ok", KVName: "ok", Path: filepath.Join(dir, "secrets", "ok")},
		{Name: "dotdot", KVName: "victim", Path: filepath.Join(dir, "..", "outside", "victim")},
		{Name: "absolute", KVName: "victim", Path: filepath.Join(outside, "created")},
		{Name: "link", KVName: "victim", Path: filepath.Join(dir, "secrets", "link")},
		{Name: "dangling", KVName: "victim", Path: filepath.Join(dir, "secrets", "dangling")},
		{Name: "folder", KVName: "victim", Path: filepath.Join(dir, "elsewhere", "x")},
	}
	// Even forced: --force-file does not reach out of the project.
	force := []string{desired[1].Path, desired[3].Path}
	changes, err := Sync(context.Background(), store, desired, Options{ProjectDir: dir, ForceFiles: force})
	var pe *PartialError
	assert.Assert(t, errors.As(err, &pe), "%v", err)
	assert.Check(t, is.Len(pe.Failed, 5))
	assert.Check(t, is.ErrorContains(err, "5 of 6 secrets failed, the others were synced: dotdot: "))
	assert.Check(t, is.Equal(changes[0].Action, action.Create))
	assert.Check(t, is.Equal(changes[1].Reason, filepath.Join(dir, "..", "outside", "victim")+" is outside the project directory "+dir+
		": docker vault writes files only inside the project; move the file inside it, or mark the secret local with x-vault: false"))
	assert.Check(t, is.Equal(changes[3].Reason, filepath.Join(dir, "secrets", "link")+" leads to "+victim+", outside the project directory "+dir+
		": docker vault writes files only inside the project; point the file: path (or the symlink) inside it, or mark the secret local with x-vault: false"))
	assert.Check(t, is.ErrorContains(err, "dangling: "+filepath.Join(dir, "secrets", "dangling")+" leads to "+filepath.Join(outside, "new")+", outside"))
	assert.Check(t, is.ErrorContains(err, "folder: "+filepath.Join(dir, "elsewhere", "x")+" leads to "+filepath.Join(outside, "x")+", outside"))
	assert.Check(t, is.ErrorContains(err, "absolute: "+filepath.Join(outside, "created")+" is outside"))

	// Nothing outside changed, and no state file was written there.
	assert.Check(t, is.Equal(readFile(t, victim), "precious"))
	entries, err := os.ReadDir(outside)
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 1))
	_, err = os.Stat(filepath.Join(dir, "secrets", StateFile))
	assert.Check(t, err, "the accepted secret's state is recorded inside")
}

func TestSyncFollowsSymlinksInsideTheProject(t *testing.T) {
	dir, _ := project(t)
	vault, store := newVault(t)
	vault.SetSecret("x", "value-x-1")
	assert.NilError(t, os.MkdirAll(filepath.Join(dir, "real"), 0o700))
	assert.NilError(t, os.Symlink("real", filepath.Join(dir, "secrets")))
	assert.NilError(t, os.Symlink("target", filepath.Join(dir, "real", "link")))
	desired := []Desired{{Name: "x", KVName: "x", Path: filepath.Join(dir, "secrets", "link")}}
	opts := Options{ProjectDir: dir}

	changes, err := Sync(context.Background(), store, desired, opts)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(changes[0].Action, action.Create))
	assert.Check(t, is.Equal(readFile(t, filepath.Join(dir, "real", "target")), "value-x-1"))
	fi, err := os.Lstat(filepath.Join(dir, "real", "link"))
	assert.NilError(t, err)
	assert.Check(t, fi.Mode()&os.ModeSymlink != 0, "the link stays a link")
	// Recorded under the real folder and name.
	state := readFile(t, filepath.Join(dir, "real", StateFile))
	assert.Check(t, strings.Contains(state, `"target"`), state)

	vault.SetSecret("x", "value-x-2")
	changes, err = Sync(context.Background(), store, desired, opts)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(changes[0].Action, action.Update))
	assert.Check(t, is.Equal(readFile(t, filepath.Join(dir, "real", "target")), "value-x-2"))
}

func TestSyncForeignFile(t *testing.T) {
	dir, _ := project(t)
	vault, store := newVault(t)
	vault.SetSecret("cert", "value-cert-1")
	vault.SetSecret("new", "value-new")
	path := filepath.Join(dir, "secrets", "cert")
	assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	assert.NilError(t, os.WriteFile(path, []byte("hand-made"), 0o600))
	desired := []Desired{
		{Name: "cert", KVName: "cert", Path: path},
		{Name: "new", KVName: "new", Path: filepath.Join(dir, "secrets", "new")},
	}

	changes, err := Sync(context.Background(), store, desired, Options{ProjectDir: dir})
	assert.Check(t, is.Error(err, "1 of 2 secrets failed, the others were synced: cert: "+path+" exists and was not written by docker vault; remove it, or pass --force-file "+path))
	assert.Check(t, is.Equal(changes[1].Action, action.Create), "the other secret is written")
	assert.Check(t, is.Equal(readFile(t, path), "hand-made"))

	// A --force-file that names no file of the project is a typo, and
	// stops everything.
	_, err = Sync(context.Background(), store, desired, Options{ProjectDir: dir, ForceFiles: []string{filepath.Join(dir, "secrets", "cret")}})
	assert.Check(t, is.ErrorContains(err, "--force-file "+filepath.Join(dir, "secrets", "cret")+" is not the file of a Key Vault-backed file secret of the project"))

	changes, err = Sync(context.Background(), store, desired, Options{ProjectDir: dir, ForceFiles: []string{path}})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(changes[0].Action, action.Update))
	assert.Check(t, is.Equal(readFile(t, path), "value-cert-1"))

	// Now it is recorded: a rotation needs no flag.
	vault.SetSecret("cert", "value-cert-2")
	changes, err = Sync(context.Background(), store, desired, Options{ProjectDir: dir})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(changes[0].Action, action.Update))
	assert.Check(t, is.Equal(readFile(t, path), "value-cert-2"))

	// Not a regular file: refused even when forced.
	assert.NilError(t, os.Mkdir(filepath.Join(dir, "adir"), 0o700))
	_, err = Sync(context.Background(), store, []Desired{{Name: "d", KVName: "new", Path: filepath.Join(dir, "adir")}}, Options{ProjectDir: dir, ForceFiles: []string{filepath.Join(dir, "adir")}})
	assert.Check(t, is.ErrorContains(err, filepath.Join(dir, "adir")+" exists and is not a regular file"))
}

func TestSyncSharedFileAndStateFileName(t *testing.T) {
	dir, _ := project(t)
	vault, store := newVault(t)
	vault.SetSecret("a", "value-a")
	vault.SetSecret("b", "value-b")
	shared := filepath.Join(dir, "shared")
	_, err := Sync(context.Background(), store, []Desired{
		{Name: "a", KVName: "a", Path: shared},
		{Name: "b", KVName: "b", Path: shared},
		{Name: "s", KVName: "a", Path: filepath.Join(dir, StateFile)},
	}, Options{ProjectDir: dir})
	assert.Check(t, is.ErrorContains(err, "nothing was synced: a: secrets a, b all use the file "+shared+": give each secret its own file; b: secrets a, b all use"))
	assert.Check(t, is.ErrorContains(err, "s: "+filepath.Join(dir, StateFile)+" is docker vault's state file"))
	entries, _ := os.ReadDir(dir)
	assert.Check(t, is.Len(entries, 0))
}

// TestSyncInterruptedCreate: a file recorded with no version (a sync that
// stopped between claiming and writing it) is the sync's own, and written
// again.
func TestSyncInterruptedCreate(t *testing.T) {
	dir, _ := project(t)
	vault, store := newVault(t)
	v := vault.SetSecret("x", "value-x")
	path := filepath.Join(dir, "x")
	assert.NilError(t, os.WriteFile(path, []byte("half"), 0o600))
	assert.NilError(t, writeState(dir, dir, map[string]entry{"x": {Secret: "x"}}))
	changes, err := Sync(context.Background(), store, []Desired{{Name: "x", KVName: "x", Path: path}}, Options{ProjectDir: dir})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(changes[0].Action, action.Update))
	assert.Check(t, is.Equal(readFile(t, path), "value-x"))
	var doc struct{ Files map[string]entry }
	assert.NilError(t, json.Unmarshal([]byte(readFile(t, filepath.Join(dir, StateFile))), &doc))
	assert.Check(t, is.Equal(doc.Files["x"].Version, v))
}

func TestSyncRefusesStateFileSymlink(t *testing.T) {
	dir, outside := project(t)
	vault, store := newVault(t)
	vault.SetSecret("x", "value-x")
	assert.NilError(t, os.Symlink(filepath.Join(outside, "state"), filepath.Join(dir, StateFile)))
	_, err := Sync(context.Background(), store, []Desired{{Name: "x", KVName: "x", Path: filepath.Join(dir, "x")}}, Options{ProjectDir: dir})
	assert.Check(t, is.ErrorContains(err, "state file "+filepath.Join(dir, StateFile)+" is not a regular file: remove it"))
	_, err = os.Stat(filepath.Join(dir, "x"))
	assert.Check(t, os.IsNotExist(err))
}

// TestSyncNoValueInAnyOutput runs every path above that reads a value and
// searches what Sync returned, logged and left on disk for the values.
func TestSyncNoValueInAnyOutput(t *testing.T) {
	values := []string{"leak-check-alpha-1", "leak-check-beta-2", "leak-check-gamma-3", "leak-check-delta-4"}
	dir, outside := project(t)
	vault, store := newVault(t)
	vault.SetSecret("alpha", values[0])
	vault.SetSecret("beta", values[1])
	vault.SetSecret("gamma", values[2])
	foreign := filepath.Join(dir, "gamma")
	assert.NilError(t, os.WriteFile(foreign, []byte("hand-made"), 0o600))
	desired := []Desired{
		{Name: "alpha", KVName: "alpha", Path: filepath.Join(dir, "secrets", "alpha")},
		{Name: "beta", KVName: "beta", Path: filepath.Join(dir, "secrets", "beta")},
		{Name: "gamma", KVName: "gamma", Path: foreign},
		{Name: "out", KVName: "alpha", Path: filepath.Join(outside, "alpha")},
		{Name: "missing", KVName: "nope", Path: filepath.Join(dir, "nope")},
	}
	var outputs []string
	var log bytes.Buffer
	run := func(s keyvault.Store, opts Options) {
		opts.Log, opts.ProjectDir = &log, dir
		changes, err := Sync(context.Background(), s, desired, opts)
		if err != nil {
			outputs = append(outputs, err.Error())
		}
		b, jerr := json.Marshal(changes)
		assert.NilError(t, jerr)
		outputs = append(outputs, string(b))
	}
	run(store, Options{DryRun: true})
	run(store, Options{})
	vault.SetSecret("alpha", values[3])
	vault.SetEnabled("beta", false)
	run(store, Options{ForceFiles: []string{foreign}})
	run(&failingStore{Store: store, getName: "alpha", getErr: keyvault.ErrThrottled}, Options{})
	run(&failingStore{Store: store, listErr: keyvault.ErrUnavailable}, Options{})
	outputs = append(outputs, log.String())
	for _, d := range []string{filepath.Join(dir, "secrets"), dir} {
		b, err := os.ReadFile(filepath.Join(d, StateFile))
		assert.NilError(t, err)
		outputs = append(outputs, string(b))
	}
	assert.Check(t, is.Equal(readFile(t, desired[0].Path), values[3]), "the test did write values")
	for _, out := range outputs {
		for _, v := range values {
			assert.Check(t, !strings.Contains(out, v), "value %s in %q", v, out)
		}
	}
}

func TestSyncDryRunPartial(t *testing.T) {
	dir, _ := project(t)
	vault, store := newVault(t)
	vault.SetSecret("a", "value-a")
	changes, err := Sync(context.Background(), store, []Desired{
		{Name: "a", KVName: "a", Path: filepath.Join(dir, "a")},
		{Name: "b", KVName: "b", Path: filepath.Join(dir, "b")},
	}, Options{ProjectDir: dir, DryRun: true})
	assert.Check(t, is.ErrorContains(err, `1 of 2 secrets would fail, the others would be synced: b: Key Vault secret "b" does not exist`))
	assert.Check(t, is.Equal(changes[0].Action, action.Create))
	entries, _ := os.ReadDir(dir)
	assert.Check(t, is.Len(entries, 0))
}

// TestSyncSameSecondRotation: a version read within its "updated" second
// is read again by the next sync, which so finds a second version written
// in the same second; a settled version costs no read.
func TestSyncSameSecondRotation(t *testing.T) {
	dir, _ := project(t)
	at := time.Unix(1800000000, 30e6) // 0.03 s into a second
	vault, store := kvstore.New(t, kvtest.Options{VaultName: "fake", Clock: func() time.Time { return at }})
	vault.SetSecret("x", "value-x-a")
	desired := []Desired{{Name: "x", KVName: "x", Path: filepath.Join(dir, "x")}}
	clock := at.Add(200 * time.Millisecond)
	opts := Options{ProjectDir: dir, Now: func() time.Time { return clock }}

	_, err := Sync(context.Background(), store, desired, opts)
	assert.NilError(t, err)
	assert.Check(t, strings.Contains(readFile(t, filepath.Join(dir, StateFile)), `"unsettled": true`))

	// B lands in the same second: the list shows the same updated time.
	vb := vault.SetSecret("x", "value-x-b")
	clock = at.Add(3 * time.Second)
	vault.ResetCounts()
	changes, err := Sync(context.Background(), store, desired, opts)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(vault.Count(kvtest.RouteGetSecret), 1))
	assert.Check(t, is.Equal(changes[0].Action, action.Update))
	assert.Check(t, is.Equal(changes[0].Version, vb))
	assert.Check(t, is.Equal(readFile(t, desired[0].Path), "value-x-b"))
	assert.Check(t, !strings.Contains(readFile(t, filepath.Join(dir, StateFile)), "unsettled"))

	// Settled: nothing is read.
	vault.ResetCounts()
	changes, err = Sync(context.Background(), store, desired, opts)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(vault.Count(kvtest.RouteGetSecret), 0))
	assert.Check(t, is.Equal(changes[0].Action, action.Unchanged))
}
