// Package atomicfile writes files so that a crash, a failure or a
// concurrent edit never leaves them half-written: Replace puts a set of
// files in place all or nothing, after checking that none changed since the
// caller read it, and WriteFile replaces one file.
//
// Everything not yet in place (new contents, and links to the old contents
// kept to put them back) lives in one work folder per run inside the
// project, named .docker-vault-tmp-<random>, mode 0700, holding a
// .gitignore of "*" so that git never shows it. It is removed when the run
// ends. A run killed mid-way leaves it behind; the next run's Clean removes
// it, first putting back any file the killed run had already replaced.
// Between the crash and that run the folder holds contents that may include
// secret values: it is readable only by its owner, ignored by git, and
// inside the project, on its file system (renames and links need that).
//
// No value is ever put in a file name or an error: files in the work folder
// are named by number, errors name paths.
package atomicfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sync/errgroup"
)

// Change is one file of a Replace: created, or replaced.
type Change struct {
	// Path is the file to write. An existing file reached through a
	// symlink is written where the link leads: the link stays.
	Path string
	// Data is the new content.
	Data []byte
	// Create says the file must not exist: it is created, with a hard link
	// from the work folder, which fails rather than replace a file that
	// appeared meanwhile.
	Create bool
	// Perm is the mode of a created file (0600 when 0). A replaced file
	// keeps its own.
	Perm os.FileMode
	// DirPerm, for a created file, is the mode its missing parent folders
	// are made with; 0 means the parent must exist.
	DirPerm os.FileMode
	// Old is the content the caller read from a file to replace: Replace
	// writes nothing unless the file still holds exactly this.
	Old []byte
}

// Options tune Replace.
type Options struct {
	// Name says who writes ("migrate"); Clean reports it for the
	// leftovers of an interrupted run.
	Name string
	// Step, when set, is called with a change's index just before that
	// change is put in place: tests change files under Replace with it.
	Step func(i int)
}

// Conditions a caller may branch on, in a *FileError that names the file.
var (
	ErrChanged  = errors.New("changed since it was read")
	ErrVanished = errors.New("vanished since it was read")
	ErrAppeared = errors.New("appeared since it was read")
	ErrReadOnly = errors.New("is read-only")
)

// FileError is a condition of one file: "compose.yaml changed since it
// was read".
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return e.Path + " " + e.Err.Error() }

func (e *FileError) Unwrap() error { return e.Err }

// RollbackError is a Replace that failed after it had put some files in
// place and could not put all of them back. The work folder is kept: it
// holds the old contents, and the next run's Clean tries again.
type RollbackError struct {
	// Err is why Replace stopped.
	Err error
	// Failed lists the files not put back, each with why.
	Failed []error
	// Folder is the work folder kept.
	Folder string
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("%v; putting back the files already written failed: %v; the old contents are kept in %s, which the next run puts back", e.Err, errors.Join(e.Failed...), e.Folder)
}

func (e *RollbackError) Unwrap() error { return e.Err }

// Names inside a work folder: <i>.new is change i's new content, <i>.put a
// second link to it that is renamed over a replaced file (so <i>.new still
// identifies what was put in place), <i>.old a link to the file it
// replaces.
const (
	prefix      = ".docker-vault-tmp-"
	ignoreFile  = ".gitignore"
	lockFile    = "lock"
	journalFile = "journal"
)

// staged is a change ready to be put in place.
type staged struct {
	Change
	i      int
	target string // Path with the symlinks of an existing file resolved
	was    snapshot
	dirs   []string // missing parent folders, outermost first
}

// snapshot is what a file to replace was when Replace read it.
type snapshot struct {
	info fs.FileInfo
	hash [sha256.Size]byte
}

// journal is written before the first change is put in place and removed
// after the last: a work folder that holds one belongs to a run that
// stopped in between, which Clean undoes.
type journal struct {
	Name    string         `json:"name,omitempty"`
	Changes []journalEntry `json:"changes"`
	// Dirs are the folders the run may have created, outermost first.
	Dirs []string `json:"dirs,omitempty"`
}

type journalEntry struct {
	Path   string `json:"path"`
	Create bool   `json:"create,omitempty"`
}

// Replace puts every change in place, all or nothing. First each new
// content is written and synced in the work folder, and each file to
// replace is checked (a regular, writable file holding Old) and linked
// there; then every file is checked again against what was read (size,
// modification time, identity, content hash) and each is checked once more
// just before it is replaced, in the order given. Nothing is put in place
// if a check fails; a change that fails once others are in place puts
// those back. The error is then the cause, and nothing was written, unless
// it is a *RollbackError.
//
// The order matters only to a run killed mid-way: put first what makes the
// later ones safe (a .gitignore before the files it ignores).
//
// Call Clean first: Replace neither looks for nor removes the leftovers of
// an interrupted run.
func Replace(dir string, changes []Change, opts Options) error {
	w, err := begin(dir, opts.Name)
	if err != nil {
		return err
	}
	defer w.release()
	all, err := w.stageAll(changes)
	if err != nil {
		w.remove()
		return err
	}
	for _, s := range all {
		if err := s.verify(); err != nil {
			w.remove()
			return err
		}
	}
	j := journal{Name: opts.Name}
	seen := map[string]bool{}
	for _, s := range all {
		j.Changes = append(j.Changes, journalEntry{Path: s.target, Create: s.Create})
		for _, d := range s.dirs {
			if !seen[d] {
				seen[d] = true
				j.Dirs = append(j.Dirs, d)
			}
		}
	}
	if err := w.writeJournal(j); err != nil {
		w.remove()
		return err
	}
	var made []string
	fail := func(done int, err error) error {
		if failed := w.undo(j.Changes[:done], made); len(failed) > 0 {
			return &RollbackError{Err: err, Failed: failed, Folder: w.dir}
		}
		w.remove()
		return err
	}
	for i, s := range all {
		if opts.Step != nil {
			opts.Step(i)
		}
		dirs, err := w.put(s)
		made = append(made, dirs...)
		if err != nil {
			return fail(i, err)
		}
	}
	// The links and renames reach the disk before the journal goes.
	synced := map[string]bool{}
	for _, s := range all {
		if d := filepath.Dir(s.target); !synced[d] {
			synced[d] = true
			syncDir(d)
		}
	}
	// Done: without its journal the folder is only leftovers to remove.
	// While the journal is there, the next run would undo this one.
	if err := os.Remove(filepath.Join(w.dir, journalFile)); err != nil {
		return fail(len(all), fmt.Errorf("failed to finish writing in %s: %w", w.dir, err))
	}
	w.remove()
	return nil
}

// WriteFile replaces path (or creates it, and its missing parent folders,
// 0700) with data, mode 0600, atomically: written and synced in a work
// folder in dir, then renamed into place. It does not check what path
// held, and a symlink at path is replaced, not followed.
func WriteFile(dir, path string, data []byte) error {
	w, err := begin(dir, "")
	if err != nil {
		return err
	}
	defer w.release()
	defer w.remove()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("failed to create %s: %w", filepath.Dir(path), err)
	}
	if err := w.sameFS(path); err != nil {
		return err
	}
	tmp := w.name(0, "new")
	if err := writeSynced(tmp, data, 0o600); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("failed to replace %s: %w", path, err)
	}
	return nil
}

// work is one run's work folder.
type work struct {
	dir  string
	lock *os.File
	dev  uint64
}

// begin makes the work folder: the .gitignore first, so that nothing in it
// is ever seen by git, then the lock held while the run lives.
func begin(dir, name string) (*work, error) {
	d, err := os.MkdirTemp(dir, prefix+"*")
	if err != nil {
		return nil, fmt.Errorf("failed to create a work folder in %s: %w", dir, err)
	}
	w := &work{dir: d}
	if err := os.WriteFile(filepath.Join(d, ignoreFile), []byte("# docker vault's work folder: removed when it ends, or by its next run\n*\n"), 0o600); err != nil {
		os.RemoveAll(d)
		return nil, fmt.Errorf("failed to create a work folder in %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(d, lockFile), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		if _, err = f.WriteString(name); err == nil {
			err = lock(f)
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(d)
		return nil, fmt.Errorf("failed to create a work folder in %s: %w", dir, err)
	}
	w.lock = f
	if st, err := os.Stat(d); err == nil {
		w.dev, _ = device(st)
	}
	return w, nil
}

func (w *work) name(i int, kind string) string {
	return filepath.Join(w.dir, strconv.Itoa(i)+"."+kind)
}

// release lets go of the lock; a folder still there is a leftover.
func (w *work) release() { w.lock.Close() }

// remove removes the work folder, its .gitignore last: a run killed while
// it removes leaves nothing git would show.
func (w *work) remove() error {
	entries, err := os.ReadDir(w.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.Name() != ignoreFile {
			errs = append(errs, os.RemoveAll(filepath.Join(w.dir, e.Name())))
		}
	}
	errs = append(errs, os.RemoveAll(w.dir))
	return errors.Join(errs...)
}

// sameFS checks that path (or, when it does not exist, its nearest
// existing parent) is on the work folder's file system, where a link or a
// rename from the work folder can reach it.
func (w *work) sameFS(path string) error {
	p := path
	for {
		st, err := os.Stat(p)
		if err == nil {
			if dev, ok := device(st); ok && dev != w.dev {
				return fmt.Errorf("%s is on another file system than the project folder %s: it cannot be replaced atomically; move it into the project", path, filepath.Dir(w.dir))
			}
			return nil
		}
		if filepath.Dir(p) == p {
			return nil
		}
		p = filepath.Dir(p)
	}
}

// stageParallel bounds the changes staged at once. Each one's time is
// mostly its fsync, and a file system commits concurrent fsyncs together:
// 2,000 small files take a fraction of the time they take one by one.
const stageParallel = 16

// stageAll stages every change. The error is that of the first change
// that failed, in the order given.
func (w *work) stageAll(changes []Change) ([]*staged, error) {
	all := make([]*staged, len(changes))
	errs := make([]error, len(changes))
	var g errgroup.Group
	g.SetLimit(stageParallel)
	for i, c := range changes {
		g.Go(func() error {
			all[i], errs[i] = w.stage(i, c)
			return nil
		})
	}
	g.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return all, nil
}

// stage writes change i's new content in the work folder and checks its
// target.
func (w *work) stage(i int, c Change) (*staged, error) {
	s := &staged{Change: c, i: i, target: c.Path}
	if c.Create {
		if _, err := os.Lstat(c.Path); err == nil {
			return nil, &FileError{Path: c.Path, Err: ErrAppeared}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for d := filepath.Dir(c.Path); ; d = filepath.Dir(d) {
			st, err := os.Stat(d)
			if err == nil {
				if !st.IsDir() {
					return nil, fmt.Errorf("cannot create %s: %s is not a folder", c.Path, d)
				}
				break
			}
			if !errors.Is(err, fs.ErrNotExist) || c.DirPerm == 0 || filepath.Dir(d) == d {
				return nil, fmt.Errorf("cannot create %s: %w", c.Path, err)
			}
			s.dirs = append([]string{d}, s.dirs...)
		}
		if err := w.sameFS(c.Path); err != nil {
			return nil, err
		}
		perm := c.Perm
		if perm == 0 {
			perm = 0o600
		}
		if err := writeSynced(w.name(i, "new"), c.Data, perm); err != nil {
			return nil, fmt.Errorf("failed to write %s: %w", c.Path, err)
		}
		return s, nil
	}

	real, err := filepath.EvalSymlinks(c.Path)
	if err == nil {
		s.target = real
	}
	st, lerr := os.Lstat(s.target)
	if err == nil {
		err = lerr
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &FileError{Path: c.Path, Err: ErrVanished}
	case err != nil:
		return nil, err
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", c.Path)
	case st.Mode().Perm()&0o222 == 0 || !writable(s.target):
		// Judged by the mode bits too: renaming over a file needs only
		// its folder to be writable (and root may write anything), but
		// a user who made a file read-only does not want it replaced.
		return nil, &FileError{Path: c.Path, Err: ErrReadOnly}
	}
	cur, err := os.ReadFile(s.target)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", c.Path, err)
	}
	if !bytes.Equal(cur, c.Old) {
		return nil, &FileError{Path: c.Path, Err: ErrChanged}
	}
	s.was = snapshot{info: st, hash: sha256.Sum256(cur)}
	clear(cur)
	if err := w.sameFS(s.target); err != nil {
		return nil, err
	}
	if err := writeSynced(w.name(i, "new"), c.Data, st.Mode().Perm()); err != nil {
		return nil, fmt.Errorf("failed to write %s: %w", c.Path, err)
	}
	if err := os.Link(w.name(i, "new"), w.name(i, "put")); err != nil {
		return nil, fmt.Errorf("failed to write %s: %w", c.Path, err)
	}
	// A second name for the old content, to put it back.
	if err := os.Link(s.target, w.name(i, "old")); err != nil {
		return nil, fmt.Errorf("failed to keep the old content of %s: %w", c.Path, err)
	}
	return s, nil
}

// verify checks that a file is still what stage found: a file to create
// is still missing; a file to replace is the same file, with the same
// size, modification time and content.
func (s *staged) verify() error {
	st, err := os.Lstat(s.target)
	if s.Create {
		if err == nil {
			return &FileError{Path: s.Path, Err: ErrAppeared}
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &FileError{Path: s.Path, Err: ErrVanished}
	case err != nil:
		return err
	case s.target != s.Path && !leadsTo(s.Path, s.target):
		// The link was changed or replaced.
		return &FileError{Path: s.Path, Err: ErrChanged}
	case !os.SameFile(st, s.was.info) || st.Size() != s.was.info.Size() || !st.ModTime().Equal(s.was.info.ModTime()):
		return &FileError{Path: s.Path, Err: ErrChanged}
	}
	cur, err := os.ReadFile(s.target)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", s.Path, err)
	}
	sum := sha256.Sum256(cur)
	clear(cur)
	if sum != s.was.hash {
		return &FileError{Path: s.Path, Err: ErrChanged}
	}
	return nil
}

// leadsTo tells whether path's symlinks lead to target.
func leadsTo(path, target string) bool {
	real, err := filepath.EvalSymlinks(path)
	return err == nil && real == target
}

// put puts one change in place and returns the folders it created.
func (w *work) put(s *staged) ([]string, error) {
	if !s.Create {
		if err := s.verify(); err != nil {
			return nil, err
		}
		if err := os.Rename(w.name(s.i, "put"), s.target); err != nil {
			return nil, fmt.Errorf("failed to replace %s: %w", s.Path, err)
		}
		return nil, nil
	}
	var made []string
	for _, d := range s.dirs {
		err := os.Mkdir(d, s.DirPerm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return made, fmt.Errorf("failed to create %s: %w", d, err)
		}
		made = append(made, d)
	}
	if err := os.Link(w.name(s.i, "new"), s.target); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return made, &FileError{Path: s.Path, Err: ErrAppeared}
		}
		return made, fmt.Errorf("failed to create %s: %w", s.Path, err)
	}
	return made, nil
}

// undo puts back what the journal's changes did, last first, and removes
// the folders made (when empty). A file is touched only when it is what
// the change put there, so undo is safe to repeat and to run on changes
// never made. It returns one error per file it could not put back.
func (w *work) undo(changes []journalEntry, dirs []string) []error {
	var failed []error
	for i := len(changes) - 1; i >= 0; i-- {
		c := changes[i]
		cur, err := os.Lstat(c.Path)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				failed = append(failed, fmt.Errorf("%s: %w", c.Path, err))
			} else if !c.Create {
				failed = append(failed, fmt.Errorf("%s is missing: its old content is %s", c.Path, w.name(i, "old")))
			}
			continue
		}
		mine, err := os.Lstat(w.name(i, "new"))
		if err != nil || !os.SameFile(cur, mine) {
			if !c.Create {
				if old, err := os.Lstat(w.name(i, "old")); err != nil || !os.SameFile(cur, old) {
					failed = append(failed, fmt.Errorf("%s changed after it was written: left as it is; its old content is %s", c.Path, w.name(i, "old")))
				}
			}
			continue
		}
		if c.Create {
			err = os.Remove(c.Path)
		} else {
			err = os.Rename(w.name(i, "old"), c.Path)
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", c.Path, err))
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i]) // kept when not empty
	}
	return failed
}

func (w *work) writeJournal(j journal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	tmp := filepath.Join(w.dir, journalFile+".tmp")
	if err := writeSynced(tmp, b, 0o600); err != nil {
		return fmt.Errorf("failed to write in %s: %w", w.dir, err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, journalFile)); err != nil {
		return fmt.Errorf("failed to write in %s: %w", w.dir, err)
	}
	syncDir(w.dir)
	return nil
}

// syncDir makes a folder's entries durable where the system allows it
// (not on Windows, where a folder cannot be opened to sync): a power cut
// then finds the journal before any change, the changes before its
// removal.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// writeSynced creates path (it must not exist) with data and perm, and
// syncs it.
func writeSynced(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	err = f.Chmod(perm) // whatever the umask
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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
