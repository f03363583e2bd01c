// Package secretfile keeps the secret files of a plain Compose project
// (top-level `secrets: x: file: ./secrets/x`, marked as Key Vault-backed:
// see package mapping) equal to their Key Vault values.
//
// A file is replaced atomically: the new value is written to a temporary
// file in the same folder (mode 0600) and renamed over the old one, so no
// reader ever sees half a value. A container that bind-mounts the file keeps
// the old inode until it restarts, which is why the caller restarts (or
// names) the containers that use a changed file.
//
// # What Sync may write
//
// Sync writes only inside the project directory (Options.ProjectDir), with
// every symlink resolved: a `file: ../elsewhere/x`, or a path through a
// symlink that leads out of the project (also a dangling one), is refused
// for that secret. A symlink that stays inside the project is followed: its
// target is replaced and the link stays a link.
//
// Sync replaces only files it created or recorded in its state file. An
// existing file the state does not record (a certificate kept by hand, a
// file another tool wrote) is refused for that secret unless its path is in
// Options.ForceFiles (--force-file); once written it is recorded, and later
// syncs need no flag.
//
// # The state file
//
// Which Key Vault version each file holds is recorded in a state file
// (.docker-vault-state.json) in the folder that really holds the files
// (symlinks resolved), keyed by file name: versions and times only, never a
// value or a hash of one. A sync with nothing changed therefore reads no
// value. Key Vault's "updated" times have a resolution of one second, so a
// version read before its second is over is recorded as unsettled: another
// version written in that second would list with the same time, and the
// next sync reads the version again instead of trusting the list.
//
// Because every file Sync writes is inside the project, so is every state
// file; it sits beside the secrets, in the folder that migrate
// git-ignores. A file about to be created is recorded (with no version)
// before it is written, so a sync interrupted between the two leaves a file
// the next sync knows as its own and writes again, never one it would take
// for someone else's.
//
// # Partial progress
//
// A secret that cannot be synced (its Key Vault secret is missing or
// disabled, its path is refused, its file is someone else's, its write
// fails) is an "error" Change for that secret only: the others are applied,
// and Sync returns a *PartialError naming each failure. A Key Vault outage or
// a sign-in failure (the list fails, or a value read fails for any reason
// but not-found or disabled) changes nothing.
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

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"golang.org/x/sync/errgroup"
)

// StateFile is the name of the state file, in each folder of secret files.
const StateFile = ".docker-vault-state.json"

// Desired is one Key Vault-backed file secret of the project.
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
	// ProjectDir is the project directory, absolute. Sync writes nothing
	// outside it; an empty ProjectDir is an error.
	ProjectDir string
	// ForceFiles are absolute paths of existing files Sync may replace
	// though it neither created nor recorded them (--force-file). Each must
	// be the file of one of the desired secrets.
	ForceFiles []string
	// Now is the clock that decides whether a version read is settled;
	// time.Now when nil.
	Now func() time.Time
}

// PartialError is Sync's error when some secrets could not be synced: the
// others were applied (or, with DryRun, would be). Failed are their
// Changes, whose Reason says what to fix. Its message reads as
// swarm.PartialError's, so that sync says one thing one way.
type PartialError struct {
	Failed []Change
	Total  int // the secrets Sync was given
	DryRun bool
}

func (e *PartialError) Error() string {
	parts := make([]string, len(e.Failed))
	for i, c := range e.Failed {
		parts[i] = c.Secret + ": " + c.Reason
	}
	msgs := strings.Join(parts, "; ")
	switch {
	case len(e.Failed) >= e.Total:
		return "nothing was synced: " + msgs
	case e.DryRun:
		return fmt.Sprintf("%d of %d secrets would fail, the others would be synced: %s", len(e.Failed), e.Total, msgs)
	}
	return fmt.Sprintf("%d of %d secrets failed, the others were synced: %s", len(e.Failed), e.Total, msgs)
}

type entry struct {
	Secret    string `json:"secret"`
	Version   string `json:"version"` // empty: created by Sync, version not yet recorded
	Updated   int64  `json:"updated"`
	Unsettled bool   `json:"unsettled,omitempty"` // read within its updated second
}

// file is one desired secret's file as found on disk.
type file struct {
	real   string // path with every symlink resolved, inside the project
	dir    string // its folder, where the state file is
	base   string // its name in the state file
	exists bool
	mode   fs.FileMode // when it exists
}

// Sync writes the current Key Vault value of every desired file whose
// recorded version may be stale. It returns one Change per desired file,
// in order, and a *PartialError when any secret could not be synced (the
// others were). Any other error means nothing was written.
func Sync(ctx context.Context, store keyvault.Store, desired []Desired, opts Options) ([]Change, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Parallel < 1 {
		opts.Parallel = 8
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	root, err := projectRoot(opts.ProjectDir)
	if err != nil {
		return nil, err
	}
	changes := make([]Change, len(desired))
	files := make([]*file, len(desired)) // nil once the secret failed
	fail := func(i int, reason string) {
		changes[i].Action, changes[i].Reason = "error", reason
		files[i] = nil
	}
	for i, d := range desired {
		changes[i] = Change{Secret: d.Name, Path: d.Path, Action: "unchanged"}
		f, reason := locate(root, d)
		if reason != "" {
			fail(i, reason)
			continue
		}
		files[i] = f
	}
	failSharedFiles(desired, files, fail)
	forced, err := forcedFiles(opts.ForceFiles, desired, files)
	if err != nil {
		return nil, err
	}
	states := map[string]map[string]entry{} // real folder -> file name -> entry
	for _, f := range files {
		if f == nil {
			continue
		}
		if _, ok := states[f.dir]; !ok {
			st, err := readState(f.dir)
			if err != nil {
				return nil, err
			}
			states[f.dir] = st
		}
	}
	for i, f := range files {
		if f == nil {
			continue
		}
		if reason := checkOwner(desired[i], f, states[f.dir], forced); reason != "" {
			fail(i, reason)
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

	var need []int
	for i, d := range desired {
		f := files[i]
		if f == nil {
			continue
		}
		p, ok := listed[strings.ToLower(d.KVName)]
		switch {
		case d.KVName == "":
			fail(i, "internal error: no Key Vault secret name")
			continue
		case d.Version == "" && !ok:
			fail(i, fmt.Sprintf("Key Vault secret %q does not exist in %s: create it, map the secret to another with x-vault.name, or mark it local with x-vault: false", d.KVName, store.VaultURL()))
			continue
		case d.Version == "" && !p.Enabled:
			fail(i, fmt.Sprintf("Key Vault secret %q is disabled: enable it, or map the secret to another with x-vault.name", d.KVName))
			continue
		}
		e, known := states[f.dir][f.base]
		changes[i].Version = e.Version
		switch {
		case !known || !f.exists || e.Version == "":
		case d.Version != "" && strings.EqualFold(e.Version, d.Version):
			continue
		case d.Version == "" && e.Updated == p.Updated.Unix() && !e.Unsettled:
			continue
		}
		need = append(need, i)
	}

	values := make([][]byte, len(desired))
	defer func() {
		for _, v := range values {
			clear(v)
		}
	}()
	read := make([]entry, len(desired)) // what each read found, to record once written
	var mu sync.Mutex
	done := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallel)
	for _, i := range need {
		d, f := desired[i], files[i]
		g.Go(func() error {
			start := opts.Now()
			s, err := store.Get(gctx, d.KVName, d.Version)
			mu.Lock()
			defer mu.Unlock()
			if done++; opts.Progress != nil {
				opts.Progress(done, len(need))
			}
			switch {
			case errors.Is(err, keyvault.ErrNotFound) && d.Version != "":
				fail(i, fmt.Sprintf("Key Vault secret %q has no version %s in %s: pin another version in x-vault.version, or remove the pin", d.KVName, d.Version, store.VaultURL()))
				return nil
			case errors.Is(err, keyvault.ErrNotFound):
				fail(i, fmt.Sprintf("Key Vault secret %q does not exist in %s (deleted during the sync?): create it, or map the secret to another with x-vault.name", d.KVName, store.VaultURL()))
				return nil
			case errors.Is(err, keyvault.ErrDisabled):
				fail(i, fmt.Sprintf("Key Vault secret %q is disabled: enable it, or map the secret to another with x-vault.name", d.KVName))
				return nil
			case err != nil:
				return fmt.Errorf("secret %s: %w", d.Name, err)
			}
			values[i] = s.Value
			prev, known := states[f.dir][f.base]
			changes[i].Version = s.Version
			switch {
			case !f.exists:
				changes[i].Action = "create"
			case known && strings.EqualFold(prev.Version, s.Version):
				changes[i].Action = "unchanged" // only properties changed: record the time
			default:
				changes[i].Action = "update"
			}
			settled := d.Version != "" || !start.Before(s.Updated.Truncate(time.Second).Add(time.Second))
			read[i] = entry{Secret: d.Name, Version: s.Version, Updated: s.Updated.Unix(), Unsettled: !settled}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return changes, err
	}
	if opts.DryRun {
		return changes, partial(changes, true)
	}
	claim(desired, files, changes, states, fail)
	written := map[string][]int{} // real folder -> secrets whose entry changed
	for _, i := range need {
		f, c := files[i], changes[i]
		if f == nil {
			continue
		}
		if c.Action != "unchanged" {
			if err := WriteAtomic(f.real, values[i]); err != nil {
				fail(i, err.Error())
				continue
			}
			fmt.Fprintf(opts.Log, "%s %s (version %s)\n", pastTense(c.Action), c.Path, c.Version)
		}
		states[f.dir][f.base] = read[i]
		written[f.dir] = append(written[f.dir], i)
	}
	for dir, idx := range written {
		if err := writeState(dir, states[dir]); err != nil {
			for _, i := range idx {
				// The file was written, but the state still records an
				// older version (or none), so the next sync writes it again.
				changes[i].Action, changes[i].Reason = "error", fmt.Sprintf("written, but its version could not be recorded: %v", err)
			}
		}
	}
	return changes, partial(changes, false)
}

// claim records every file about to be created, with no version, in its
// folder's state before anything is written (see the package
// documentation). A folder whose state cannot be written fails its creates.
func claim(desired []Desired, files []*file, changes []Change, states map[string]map[string]entry, fail func(int, string)) {
	creates := map[string][]int{}
	for i, c := range changes {
		if c.Action == "create" && files[i] != nil {
			creates[files[i].dir] = append(creates[files[i].dir], i)
		}
	}
	for dir, idx := range creates {
		st := states[dir]
		for _, i := range idx {
			st[files[i].base] = entry{Secret: desired[i].Name}
		}
		if err := writeState(dir, st); err != nil {
			for _, i := range idx {
				delete(st, files[i].base)
				fail(i, fmt.Sprintf("not created: %v", err))
			}
		}
	}
}

func partial(changes []Change, dryRun bool) error {
	var failed []Change
	for _, c := range changes {
		if c.Action == "error" {
			failed = append(failed, c)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &PartialError{Failed: failed, Total: len(changes), DryRun: dryRun}
}

func pastTense(action string) string {
	if action == "create" {
		return "created"
	}
	return "updated"
}

// projectRoot is the project directory with its symlinks resolved: the
// folder every written file must be under.
func projectRoot(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("internal error: no project directory")
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("internal error: project directory %s is not absolute", dir)
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("failed to resolve the project directory: %w", err)
	}
	return root, nil
}

// locate resolves a desired file and checks Sync may write there: inside
// the project, and not a state file. It returns the reason when not.
func locate(root string, d Desired) (*file, string) {
	if !filepath.IsAbs(d.Path) {
		return nil, fmt.Sprintf("internal error: path %s is not absolute", d.Path)
	}
	path := filepath.Clean(d.Path)
	real, err := realPath(path, 0)
	if err != nil {
		return nil, fmt.Sprintf("cannot resolve %s: %v: fix the path or the symlink on it", d.Path, err)
	}
	if !inside(root, real) {
		if real != path {
			return nil, fmt.Sprintf("%s leads to %s, outside the project directory %s: docker vault writes files only inside the project; point the file: path (or the symlink) inside it, or mark the secret local with x-vault: false", d.Path, real, root)
		}
		return nil, fmt.Sprintf("%s is outside the project directory %s: docker vault writes files only inside the project; move the file inside it, or mark the secret local with x-vault: false", d.Path, root)
	}
	if filepath.Base(real) == StateFile {
		return nil, fmt.Sprintf("%s is docker vault's state file: give the secret another file", d.Path)
	}
	f := &file{real: real, dir: filepath.Dir(real), base: filepath.Base(real)}
	if fi, err := os.Lstat(real); err == nil {
		f.exists, f.mode = true, fi.Mode()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Sprintf("cannot read %s: %v", d.Path, err)
	}
	return f, ""
}

// realPath resolves every symlink of an absolute, clean path, also where
// the path (or its end) does not exist yet, which filepath.EvalSymlinks
// refuses: the missing end is kept as it is, and a dangling symlink is
// followed to where writing through it would create its target.
func realPath(path string, depth int) (string, error) {
	if depth > 40 {
		return "", errors.New("too many levels of symbolic links")
	}
	var rest []string
	for p := path; ; {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		fi, lerr := os.Lstat(p)
		switch {
		case lerr == nil && fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return "", err
			}
			if !filepath.IsAbs(target) {
				// Relative to the folder the link is really in.
				dir, err := filepath.EvalSymlinks(filepath.Dir(p))
				if err != nil {
					return "", err
				}
				target = filepath.Join(dir, target)
			}
			return realPath(filepath.Join(append([]string{target}, rest...)...), depth+1)
		case lerr == nil || !errors.Is(lerr, fs.ErrNotExist):
			return "", err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", err
		}
		rest = append([]string{filepath.Base(p)}, rest...)
		p = parent
	}
}

// inside tells whether path is strictly below root (both resolved).
func inside(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// failSharedFiles fails secrets whose files are one file: each sync would
// overwrite the other's value.
func failSharedFiles(desired []Desired, files []*file, fail func(int, string)) {
	by := map[string][]int{}
	for i, f := range files {
		if f != nil {
			by[f.real] = append(by[f.real], i)
		}
	}
	for _, idx := range by {
		if len(idx) < 2 {
			continue
		}
		names := make([]string, len(idx))
		for k, i := range idx {
			names[k] = desired[i].Name
		}
		for _, i := range idx {
			fail(i, fmt.Sprintf("secrets %s all use the file %s: give each secret its own file", strings.Join(names, ", "), desired[i].Path))
		}
	}
}

// forcedFiles resolves Options.ForceFiles to the real paths of desired
// files. A path that names no desired file is an error: a typo would
// otherwise force nothing, silently.
func forcedFiles(force []string, desired []Desired, files []*file) (map[string]bool, error) {
	forced := map[string]bool{}
	for _, p := range force {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("internal error: --force-file path %s is not absolute", p)
		}
		p = filepath.Clean(p)
		real, err := realPath(p, 0)
		if err != nil {
			real = p
		}
		found := false
		for i, d := range desired {
			if filepath.Clean(d.Path) == p || (files[i] != nil && files[i].real == real) {
				found = true
				if files[i] != nil {
					forced[files[i].real] = true
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("--force-file %s is not the file of a Key Vault-backed file secret of the project: name the file as the compose file resolves it", p)
		}
	}
	return forced, nil
}

// checkOwner says why Sync may not replace an existing file: it is not a
// regular file, or Sync neither created nor recorded it and the user did
// not force it.
func checkOwner(d Desired, f *file, st map[string]entry, forced map[string]bool) string {
	switch {
	case !f.exists:
		return ""
	case !f.mode.IsRegular():
		return fmt.Sprintf("%s exists and is not a regular file: remove it, or give the secret another file", d.Path)
	}
	if _, recorded := st[f.base]; recorded || forced[f.real] {
		return ""
	}
	return fmt.Sprintf("%s exists and was not written by docker vault; remove it, or pass --force-file %s", d.Path, d.Path)
}

// WriteAtomic replaces path with data, mode 0600, in a folder created 0700
// if missing: a temporary file in the same folder, synced, then renamed.
// A symlink at path is replaced, not followed: a caller that means to write
// through one resolves it first (and checks where it leads, as Sync does).
func WriteAtomic(path string, data []byte) error {
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

// readState reads the state file of a real folder inside the project. A
// state file that is not a regular file (a symlink out of the project, say)
// is an error rather than a record to trust.
func readState(dir string) (map[string]entry, error) {
	st := map[string]entry{}
	path := filepath.Join(dir, StateFile)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("state file %s is not a regular file: remove it (docker vault writes it again, and asks for --force-file on the files it no longer knows)", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	var doc struct {
		Files map[string]entry `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		// A damaged state costs reads, and --force-file for the files it
		// no longer records: start over.
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
		Comment: "written by docker vault sync: the secret files here it owns and their Key Vault versions (no values)",
		Written: time.Now().UTC().Truncate(time.Second),
		Files:   st,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return WriteAtomic(filepath.Join(dir, StateFile), append(b, '\n'))
}
