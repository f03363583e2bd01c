package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker-vault/docker-vault/keyvault"
)

// PushOptions tune Push.
type PushOptions struct {
	// Overwrite replaces a Key Vault secret that holds another value.
	Overwrite bool
}

// PushAll stores the plan's values in Key Vault. A Key Vault secret that
// already holds the same value is left alone (so a second run changes
// nothing); one that holds another value is an error unless Overwrite.
// Everything is checked before anything is set.
func PushAll(ctx context.Context, store keyvault.Store, pushes []Push, opts PushOptions) (set []string, err error) {
	var todo []Push
	for _, p := range pushes {
		cur, err := store.Get(ctx, p.KVName, "")
		switch {
		case errors.Is(err, keyvault.ErrNotFound):
			todo = append(todo, p)
		case err != nil:
			return nil, fmt.Errorf("secret %s: %w", p.Secret, err)
		case bytes.Equal(cur.Value, p.Value):
			// already there
		case !opts.Overwrite:
			return nil, fmt.Errorf("secret %s: Key Vault secret %s already holds a different value: rerun with --overwrite to store a new version, or map the secret to another name with x-vault", p.Secret, p.KVName)
		default:
			todo = append(todo, p)
		}
		clear(cur.Value)
	}
	for _, p := range todo {
		if _, err := store.Set(ctx, p.KVName, p.Value, keyvault.SetOptions{Tags: map[string]string{"docker-vault-secret": p.Secret}}); err != nil {
			return set, fmt.Errorf("secret %s: %w", p.Secret, err)
		}
		set = append(set, p.KVName)
	}
	return set, nil
}

// Write writes every file of the plan, all or nothing: each new content goes
// to a temporary file beside its target first; only when all are written are
// they renamed into place, and a failed rename puts back the files already
// replaced. A file that changed, vanished or became read-only since it was
// read, or one to create that appeared, stops everything before anything is
// replaced. A symlinked file is written at its target, so the link stays.
//
// Read-only is judged by the mode bits, not by a write attempt: renaming
// over a file needs only the directory to be writable (and root may write
// anything), but a user who made compose.yaml read-only does not want it
// replaced.
func Write(files []*File) error {
	type staged struct {
		f        *File
		target   string
		tmp      string
		backup   string
		replaced bool
	}
	var all []*staged
	var dirs []string // created here, removed again on failure
	cleanup := func() {
		for _, s := range all {
			if s.tmp != "" {
				os.Remove(s.tmp)
			}
			if s.backup != "" {
				os.Remove(s.backup)
			}
		}
	}
	fail := func(err error) error {
		cleanup()
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
		return fmt.Errorf("nothing was written: %w", err)
	}
	for _, f := range files {
		target := f.Path
		if real, err := filepath.EvalSymlinks(f.Path); err == nil {
			target = real
		}
		st, statErr := os.Lstat(target)
		switch {
		case f.Created && statErr == nil:
			return fail(fmt.Errorf("%s appeared since the project was read; run migrate again", f.Path))
		case f.Created && !errors.Is(statErr, os.ErrNotExist):
			return fail(statErr)
		case !f.Created && errors.Is(statErr, os.ErrNotExist):
			return fail(fmt.Errorf("%s vanished since the project was read", f.Path))
		case !f.Created && statErr != nil:
			return fail(statErr)
		case !f.Created && !st.Mode().IsRegular():
			return fail(fmt.Errorf("%s is not a regular file", f.Path))
		case !f.Created && (st.Mode().Perm()&0o222 == 0 || !writable(target)):
			return fail(fmt.Errorf("%s is read-only: make it writable to migrate it", f.Path))
		}
		mode := f.Mode
		if !f.Created {
			cur, err := os.ReadFile(target)
			if err != nil {
				return fail(err)
			}
			if !bytes.Equal(cur, f.Old) {
				return fail(fmt.Errorf("%s changed since the project was read; run migrate again", f.Path))
			}
			mode = st.Mode().Perm()
		} else if mode == 0 {
			mode = 0o644
		}
		dir := filepath.Dir(target)
		if f.Kind == "secret" {
			made, err := mkdirAll(dir, 0o700)
			dirs = append(dirs, made...)
			if err != nil {
				return fail(err)
			}
		}
		tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".docker-vault-*")
		if err != nil {
			return fail(fmt.Errorf("cannot write in %s: %w", dir, err))
		}
		s := &staged{f: f, target: target, tmp: tmp.Name()}
		all = append(all, s)
		err = tmp.Chmod(mode)
		if err == nil {
			_, err = tmp.Write(f.New)
		}
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fail(fmt.Errorf("%s: %w", f.Path, err))
		}
		if !f.Created {
			// A second name for the old content, to put it back if a
			// later rename fails.
			s.backup = s.tmp + ".orig"
			if err := os.Link(target, s.backup); err != nil {
				s.backup = ""
				return fail(fmt.Errorf("%s: %w", f.Path, err))
			}
		}
	}
	for i, s := range all {
		if err := rename(s.tmp, s.target); err != nil {
			// Put back what was already replaced.
			for _, done := range all[:i] {
				if done.backup != "" {
					os.Rename(done.backup, done.target)
					done.backup = ""
				} else {
					os.Remove(done.target)
				}
			}
			return fail(fmt.Errorf("%s: %w", s.f.Path, err))
		}
		s.tmp, s.replaced = "", true
	}
	cleanup()
	return nil
}

// rename is os.Rename; tests make it fail to check the rollback.
var rename = os.Rename

// mkdirAll is os.MkdirAll that returns the directories it created, outermost
// first.
func mkdirAll(dir string, perm os.FileMode) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append([]string{d}, missing...)
		if filepath.Dir(d) == d {
			break
		}
	}
	var made []string
	for _, d := range missing {
		if err := os.Mkdir(d, perm); err != nil && !errors.Is(err, os.ErrExist) {
			return made, err
		}
		made = append(made, d)
	}
	return made, nil
}

// writable tells whether this process may write path. Opening for writing
// without truncating changes nothing.
func writable(path string) bool {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
