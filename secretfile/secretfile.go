// Package secretfile keeps the secret files of a plain Compose project
// (top-level `secrets: x: file: ./secrets/x`) equal to their Key Vault
// values.
//
// A file is replaced atomically: the new value is written to a temporary
// file in the same folder (mode 0600) and renamed over the old one, so no
// reader ever sees half a value. A container that bind-mounts the file keeps
// the old inode until it restarts, which is why the caller restarts (or
// names) the containers that use a changed file.
//
// Which Key Vault version each file holds is recorded in a state file beside
// the secrets (.docker-vault-state.json): versions and times only, never a
// value or a hash of one. A sync with nothing changed therefore reads no
// value.
package secretfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/docker-vault/docker-vault/keyvault"
	"golang.org/x/sync/errgroup"
)

// StateFile is the name of the state file, in each secrets folder.
const StateFile = ".docker-vault-state.json"

// Desired is one file secret of the project.
type Desired struct {
	Name    string // compose secret name
	KVName  string // Key Vault secret name
	Version string // pinned version, empty for the latest
	Path    string // absolute path of the file
}

// Change is what a sync did (or would do) to one file.
type Change struct {
	Secret  string `json:"secret"`
	Path    string `json:"path"`
	Action  string `json:"action"` // create, update, unchanged, error
	Version string `json:"version,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Options tune Sync.
type Options struct {
	Parallel int
	DryRun   bool
	Log      io.Writer
	// Progress, when set, is told how many of the values to read are read.
	Progress func(done, total int)
}

type entry struct {
	Secret  string `json:"secret"`
	Version string `json:"version"`
	Updated int64  `json:"updated"`
}

// Sync writes the current Key Vault value of every desired file whose
// recorded version may be stale. It returns one Change per desired file.
func Sync(ctx context.Context, store keyvault.Store, desired []Desired, opts Options) ([]Change, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Parallel < 1 {
		opts.Parallel = 8
	}
	states := map[string]map[string]entry{} // folder -> file name -> entry
	for _, d := range desired {
		dir := filepath.Dir(d.Path)
		if _, ok := states[dir]; !ok {
			st, err := readState(dir)
			if err != nil {
				return nil, err
			}
			states[dir] = st
		}
	}
	listed := map[string]keyvault.SecretProperties{}
	if err := store.List(ctx, func(p keyvault.SecretProperties) error {
		listed[strings.ToLower(p.Name)] = p
		return nil
	}); err != nil {
		var kvErr *keyvault.Error
		if errors.As(err, &kvErr) {
			return nil, err // it already names the vault and the operation
		}
		return nil, fmt.Errorf("failed to list secrets of %s: %w", store.VaultURL(), err)
	}

	changes := make([]Change, len(desired))
	var need []int
	for i, d := range desired {
		changes[i] = Change{Secret: d.Name, Path: d.Path, Action: "unchanged"}
		p, ok := listed[strings.ToLower(d.KVName)]
		switch {
		case d.Version == "" && !ok:
			changes[i].Action, changes[i].Reason = "error", fmt.Sprintf("Key Vault secret %q does not exist in %s: create it, or map the secret to another with x-vault.name", d.KVName, store.VaultURL())
			continue
		case d.Version == "" && !p.Enabled:
			changes[i].Action, changes[i].Reason = "error", fmt.Sprintf("Key Vault secret %q is disabled", d.KVName)
			continue
		}
		e, known := states[filepath.Dir(d.Path)][filepath.Base(d.Path)]
		_, statErr := os.Lstat(d.Path)
		changes[i].Version = e.Version
		switch {
		case !known || statErr != nil:
		case d.Version != "" && strings.EqualFold(e.Version, d.Version):
			continue
		case d.Version == "" && e.Updated == p.Updated.Unix():
			continue
		}
		need = append(need, i)
	}
	var errs []string
	for _, c := range changes {
		if c.Action == "error" {
			errs = append(errs, c.Secret+": "+c.Reason)
		}
	}
	if len(errs) > 0 {
		return changes, fmt.Errorf("nothing was changed: %s", strings.Join(errs, "; "))
	}

	values := make([][]byte, len(desired))
	defer func() {
		for _, v := range values {
			clear(v)
		}
	}()
	var mu sync.Mutex
	read := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallel)
	for _, i := range need {
		d := desired[i]
		g.Go(func() error {
			s, err := store.Get(gctx, d.KVName, d.Version)
			if err != nil {
				return fmt.Errorf("secret %s: %w", d.Name, err)
			}
			mu.Lock()
			defer mu.Unlock()
			values[i] = s.Value
			prev := changes[i].Version
			changes[i].Version = s.Version
			st := states[filepath.Dir(d.Path)]
			old, known := st[filepath.Base(d.Path)]
			_, statErr := os.Lstat(d.Path)
			switch {
			case statErr != nil:
				changes[i].Action = "create"
			case known && strings.EqualFold(prev, s.Version):
				changes[i].Action = "unchanged" // only properties changed: record the time
			default:
				changes[i].Action = "update"
			}
			old.Secret, old.Version, old.Updated = d.Name, s.Version, s.Updated.Unix()
			st[filepath.Base(d.Path)] = old
			if read++; opts.Progress != nil {
				opts.Progress(read, len(need))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return changes, err
	}
	if opts.DryRun || len(need) == 0 {
		return changes, nil
	}
	for _, i := range need {
		c := changes[i]
		if c.Action == "unchanged" {
			continue
		}
		if err := WriteAtomic(desired[i].Path, values[i]); err != nil {
			return changes, err
		}
		fmt.Fprintf(opts.Log, "%s %s (version %s)\n", pastTense(c.Action), c.Path, c.Version)
	}
	for dir, st := range states {
		if err := writeState(dir, st); err != nil {
			return changes, err
		}
	}
	return changes, nil
}

func pastTense(action string) string {
	if action == "create" {
		return "created"
	}
	return "updated"
}

// WriteAtomic replaces path with data, mode 0600, in a folder created 0700
// if missing: a temporary file in the same folder, synced, then renamed.
// A symlinked path is replaced at its target.
func WriteAtomic(path string, data []byte) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("failed to create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("failed to replace %s: %w", path, err)
	}
	return nil
}

func readState(dir string) (map[string]entry, error) {
	st := map[string]entry{}
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", filepath.Join(dir, StateFile), err)
	}
	var doc struct {
		Files map[string]entry `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		// A damaged state only costs reads: start over.
		return st, nil
	}
	if doc.Files != nil {
		st = doc.Files
	}
	return st, nil
}

func writeState(dir string, st map[string]entry) error {
	doc := struct {
		Comment string           `json:"comment"`
		Written time.Time        `json:"written"`
		Files   map[string]entry `json:"files"`
	}{
		Comment: "written by docker vault sync: Key Vault versions of the secret files here (no values)",
		Written: time.Now().UTC().Truncate(time.Second),
		Files:   st,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return WriteAtomic(filepath.Join(dir, StateFile), append(b, '\n'))
}
