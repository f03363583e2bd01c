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
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	return WriteFilePerm(dir, path, data, 0o600)
}

// WriteFilePerm is WriteFile with the file's mode perm (whatever the
// umask): a secret file a non-root container reads is 0444 (see
// internal/secretfile), and a rewrite must leave it so. The new content is
// written with that mode before it is renamed into place, so no reader
// ever sees the file with another mode.
func WriteFilePerm(dir, path string, data []byte, perm os.FileMode) error {
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
	if err := writeSynced(tmp, data, perm.Perm()); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("failed to replace %s: %w", path, err)
	}
	return nil
}
