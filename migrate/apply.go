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
// replaced. A file that changed or vanished since it was read stops
// everything before anything is replaced. A symlinked file is written at its
// target.
func Write(files []*File) error {
	type staged struct {
		f        *File
		target   string
		tmp      string
		backup   string
		replaced bool
	}
	var all []*staged
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
	for _, f := range files {
		target := f.Path
		if real, err := filepath.EvalSymlinks(f.Path); err == nil {
			target = real
		}
		cur, err := os.ReadFile(target)
		switch {
		case f.Created && err == nil && f.Kind != "gitignore":
			cleanup()
			return fmt.Errorf("nothing was written: %s appeared since the project was read", f.Path)
		case !f.Created && errors.Is(err, os.ErrNotExist):
			cleanup()
			return fmt.Errorf("nothing was written: %s vanished since the project was read", f.Path)
		case !f.Created && err != nil:
			cleanup()
			return fmt.Errorf("nothing was written: %w", err)
		case !f.Created && !bytes.Equal(cur, f.Old):
			cleanup()
			return fmt.Errorf("nothing was written: %s changed since the project was read; run migrate again", f.Path)
		}
		mode := f.Mode
		if fi, err := os.Stat(target); err == nil {
			mode = fi.Mode().Perm()
		} else if mode == 0 {
			mode = 0o644
		}
		dir := filepath.Dir(target)
		if f.Kind == "secret" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				cleanup()
				return fmt.Errorf("nothing was written: %w", err)
			}
		}
		tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".docker-vault-*")
		if err != nil {
			cleanup()
			return fmt.Errorf("nothing was written: cannot write in %s: %w", dir, err)
		}
		s := &staged{f: f, target: target, tmp: tmp.Name()}
		all = append(all, s)
		if err := tmp.Chmod(mode); err == nil {
			_, err = tmp.Write(f.New)
			if err == nil {
				err = tmp.Sync()
			}
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				cleanup()
				return fmt.Errorf("nothing was written: %s: %w", f.Path, err)
			}
		} else {
			tmp.Close()
			cleanup()
			return fmt.Errorf("nothing was written: %s: %w", f.Path, err)
		}
		if !f.Created || (f.Kind == "gitignore" && cur != nil) {
			s.backup = s.tmp + ".orig"
			if err := os.Link(target, s.backup); err != nil {
				s.backup = ""
				cleanup()
				return fmt.Errorf("nothing was written: %s: %w", f.Path, err)
			}
		}
	}
	for i, s := range all {
		if err := os.Rename(s.tmp, s.target); err != nil {
			// Put back what was already replaced.
			for _, done := range all[:i] {
				if done.backup != "" {
					os.Rename(done.backup, done.target)
				} else {
					os.Remove(done.target)
				}
			}
			cleanup()
			return fmt.Errorf("nothing was written: %s: %w", s.f.Path, err)
		}
		s.tmp, s.replaced = "", true
	}
	cleanup()
	return nil
}
