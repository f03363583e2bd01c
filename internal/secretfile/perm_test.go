package secretfile

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/internal/action"
)

func perm(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	assert.NilError(t, err)
	return fi.Mode().Perm()
}

// TestSyncKeepsReadableMode: a file created readable for a non-root
// service (Desired.Perm) is rewritten readable, on a new inode, in its
// 0700 folder; a 0600 file stays 0600, and a hand-made file taken over
// keeps its read bits but loses group/other write and execute.
func TestSyncKeepsReadableMode(t *testing.T) {
	ctx := context.Background()
	dir, _ := project(t)
	vault, store := newVault(t)
	vault.SetSecret("app-token", "app-token-value-1")
	vault.SetSecret("db-password", "db-password-value-1")
	vault.SetSecret("cert-key", "cert-key-value-1")
	secrets := filepath.Join(dir, "secrets")
	desired := []Desired{
		{Name: "app_token", KVName: "app-token", Path: filepath.Join(secrets, "app_token"), Perm: ReadablePerm},
		{Name: "db_password", KVName: "db-password", Path: filepath.Join(secrets, "db_password")},
		{Name: "cert_key", KVName: "cert-key", Path: filepath.Join(secrets, "cert_key")},
	}
	hand := desired[2].Path
	assert.NilError(t, os.MkdirAll(secrets, 0o700))
	assert.NilError(t, os.WriteFile(hand, []byte("hand-made"), 0o600))
	assert.NilError(t, os.Chmod(hand, 0o667))
	opts := Options{ProjectDir: dir, ForceFiles: []string{hand}}

	changes, err := Sync(ctx, store, desired, opts)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(changes[0].Action, action.Create))
	assert.Check(t, is.Equal(perm(t, desired[0].Path), ReadablePerm))
	assert.Check(t, is.Equal(perm(t, desired[1].Path), OwnerPerm))
	assert.Check(t, is.Equal(perm(t, hand), fs.FileMode(0o644)))
	assert.Check(t, is.Equal(perm(t, secrets), FolderPerm))

	before, err := os.Stat(desired[0].Path)
	assert.NilError(t, err)
	vault.SetSecret("app-token", "app-token-value-2")
	vault.SetSecret("db-password", "db-password-value-2")
	// A later sync that does not know who reads the file (no Perm) keeps
	// the file's own mode.
	desired[0].Perm = 0
	changes, err = Sync(ctx, store, desired, Options{ProjectDir: dir})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(changes[0].Action, action.Update))
	assert.Check(t, is.Equal(changes[1].Action, action.Update))
	assert.Check(t, is.Equal(readFile(t, desired[0].Path), "app-token-value-2"))
	after, err := os.Stat(desired[0].Path)
	assert.NilError(t, err)
	assert.Check(t, !os.SameFile(before, after))
	assert.Check(t, is.Equal(perm(t, desired[0].Path), ReadablePerm))
	assert.Check(t, is.Equal(perm(t, desired[1].Path), OwnerPerm))
	assert.Check(t, is.Equal(perm(t, hand), fs.FileMode(0o644)))
}

// TestSyncCreatesReadableInNewFolder: a missing folder is made 0700 before
// a file readable by all is put in it.
func TestSyncCreatesReadableInNewFolder(t *testing.T) {
	dir, _ := project(t)
	assert.NilError(t, os.Chmod(dir, 0o755))
	vault, store := newVault(t)
	vault.SetSecret("app-token", "app-token-value-1")
	path := filepath.Join(dir, "run", "secrets", "app_token")
	_, err := Sync(context.Background(), store, []Desired{{Name: "app_token", KVName: "app-token", Path: path, Perm: ReadablePerm}}, Options{ProjectDir: dir})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(perm(t, path), ReadablePerm))
	assert.Check(t, is.Equal(perm(t, filepath.Dir(path)), FolderPerm))
	assert.Check(t, is.Equal(perm(t, filepath.Dir(filepath.Dir(path))), FolderPerm))
}

// TestSyncRefusesExposedFile: a readable file in a folder others can
// enter is an error for that secret alone, in a dry run too, and its file
// is not rewritten; a 0600 file in the same folder is synced.
func TestSyncRefusesExposedFile(t *testing.T) {
	ctx := context.Background()
	dir, _ := project(t)
	vault, store := newVault(t)
	vault.SetSecret("app-token", "app-token-value-1")
	vault.SetSecret("db-password", "db-password-value-1")
	secrets := filepath.Join(dir, "secrets")
	desired := []Desired{
		{Name: "app_token", KVName: "app-token", Path: filepath.Join(secrets, "app_token"), Perm: ReadablePerm},
		{Name: "db_password", KVName: "db-password", Path: filepath.Join(secrets, "db_password")},
	}
	_, err := Sync(ctx, store, desired, Options{ProjectDir: dir})
	assert.NilError(t, err)

	assert.NilError(t, os.Chmod(secrets, 0o755))
	vault.SetSecret("app-token", "app-token-value-2")
	vault.SetSecret("db-password", "db-password-value-2")
	for _, dry := range []bool{true, false} {
		changes, err := Sync(ctx, store, desired, Options{ProjectDir: dir, DryRun: dry})
		var pe *PartialError
		assert.Assert(t, errors.As(err, &pe), "dry run %v: %v", dry, err)
		assert.Check(t, is.Equal(changes[0].Action, action.Error))
		assert.Check(t, is.Contains(changes[0].Reason, "secrets folder "+secrets+" is mode 0755"))
		assert.Check(t, is.Contains(changes[0].Reason, "chmod 700 "+secrets))
		assert.Check(t, is.Equal(changes[1].Action, action.Update))
		assert.Check(t, !strings.Contains(err.Error(), "-value-"), "the error holds a value")
	}
	assert.Check(t, is.Equal(readFile(t, desired[0].Path), "app-token-value-1"))
	assert.Check(t, is.Equal(readFile(t, desired[1].Path), "db-password-value-2"))

	// Group access alone: a file readable by its group in a folder its
	// group may enter.
	assert.NilError(t, os.Chmod(secrets, 0o710))
	assert.NilError(t, os.Chmod(desired[0].Path, 0o440))
	changes, _ := Sync(ctx, store, desired, Options{ProjectDir: dir, DryRun: true})
	assert.Check(t, is.Equal(changes[0].Action, action.Error))
	assert.NilError(t, os.Chmod(desired[0].Path, 0o404))
	changes, err = Sync(ctx, store, desired, Options{ProjectDir: dir})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(changes[0].Action, action.Update))
	assert.Check(t, is.Equal(perm(t, desired[0].Path), fs.FileMode(0o404)))
}

func TestCheckFolder(t *testing.T) {
	base := t.TempDir()
	for _, tc := range []struct {
		dir, file fs.FileMode
		exposed   bool
	}{
		{0o700, 0o444, false},
		{0o700, 0o644, false},
		{0o755, 0o600, false},
		{0o755, 0o400, false},
		{0o755, 0o444, true},
		{0o711, 0o444, true}, // others may not list, but may open by name
		{0o750, 0o444, true},
		{0o750, 0o404, false},
		{0o705, 0o440, false},
		{0o701, 0o404, true},
		{0o770, 0o640, true},
	} {
		dir := filepath.Join(base, tc.dir.String()+tc.file.String())
		assert.NilError(t, os.Mkdir(dir, 0o700))
		assert.NilError(t, os.Chmod(dir, tc.dir))
		err := CheckFolder(dir, tc.file)
		assert.Check(t, is.Equal(errors.Is(err, ErrExposed), tc.exposed), "folder %o, file %o: %v", tc.dir, tc.file, err)
	}
	assert.Check(t, CheckFolder(filepath.Join(base, "missing"), ReadablePerm))
	file := filepath.Join(base, "file")
	assert.NilError(t, os.WriteFile(file, nil, 0o600))
	assert.Check(t, is.ErrorContains(CheckFolder(file, ReadablePerm), "is not a folder"))
}

func TestPerm(t *testing.T) {
	assert.Check(t, is.Equal(Perm(true), fs.FileMode(0o444)))
	assert.Check(t, is.Equal(Perm(false), fs.FileMode(0o600)))
}

func TestPermFor(t *testing.T) {
	p := &types.Project{Services: types.Services{}}
	for name, user := range map[string]string{"app": "999", "named": "www-data:www-data", "db": "", "root": "root", "rootid": "0:1000"} {
		svc := types.ServiceConfig{Name: name}
		svc.User = user
		p.Services[name] = svc
	}
	nonRoot := NonRootServices(p)
	assert.Check(t, is.DeepEqual(nonRoot, map[string]bool{"app": true, "named": true}))
	assert.Check(t, is.Equal(PermFor([]string{"db", "app"}, nonRoot), ReadablePerm))
	assert.Check(t, is.Equal(PermFor([]string{"named"}, nonRoot), ReadablePerm))
	assert.Check(t, is.Equal(PermFor([]string{"db", "root", "rootid"}, nonRoot), OwnerPerm))
	assert.Check(t, is.Equal(PermFor(nil, nonRoot), OwnerPerm))
}
