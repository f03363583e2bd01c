package atomicfile

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"
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
