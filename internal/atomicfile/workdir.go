package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

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
