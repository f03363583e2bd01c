package atomicfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Leftover is the work folder of a run that did not end: killed, or still
// running.
type Leftover struct {
	// Folder is the work folder.
	Folder string
	// Name is who wrote it (Options.Name), "" when unknown.
	Name string
	// Running: a live process holds it; Clean left it alone.
	Running bool
	// Files is how many files of contents Clean removed with it.
	Files int
	// PutBack lists the files the run had already written that Clean put
	// back as they were before it (replaced files restored, created files
	// removed).
	PutBack []string
}

// Pending lists the work folders in dir that runs left behind (or that a
// live run is using), without touching them.
func Pending(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// Clean removes the work folders that runs in dir left behind, and returns
// what it found. A run killed while it put files in place (it had written
// its journal) is undone first, so the files are as they were before it;
// a run killed before that left only its work folder. A folder whose lock
// a live process holds is reported as Running and left alone.
//
// When a file cannot be put back, because it changed since the run wrote
// it or an operation fails, the folder is kept (it holds the old contents)
// and the error names each file and what to do.
func Clean(dir string) ([]Leftover, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to look for leftovers in %s: %w", dir, err)
	}
	var found []Leftover
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		l, err := cleanOne(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
		}
		if l != nil {
			found = append(found, *l)
		}
	}
	return found, errors.Join(errs...)
}

func cleanOne(folder string) (*Leftover, error) {
	w := &work{dir: folder}
	l := &Leftover{Folder: folder}
	names, err := readNames(folder)
	if err != nil {
		return nil, fmt.Errorf("failed to read the leftover folder %s: %w", folder, err)
	}
	if len(names) > 0 && !names[ignoreFile] {
		// Every work folder gets its .gitignore first: this one is not
		// ours.
		return nil, nil
	}
	if names[lockFile] {
		l.Name = readName(folder)
		f, err := take(filepath.Join(folder, lockFile))
		if errors.Is(err, errBusy) {
			l.Running = true
			return l, nil
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read the leftover folder %s: %w", folder, err)
		}
		if f != nil {
			// Held while cleaning, so that two runs do not clean one
			// folder at once.
			defer f.Close()
		}
	}
	for n := range names {
		if ext := filepath.Ext(n); ext == ".new" || ext == ".old" || ext == ".put" {
			l.Files++
		}
	}
	if names[journalFile] {
		b, err := os.ReadFile(filepath.Join(folder, journalFile))
		var j journal
		if err == nil {
			err = json.Unmarshal(b, &j)
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read the journal of the interrupted run in %s: %w: check the files it names, then remove the folder", folder, err)
		}
		if j.Name != "" {
			l.Name = j.Name
		}
		l.PutBack = w.changed(j.Changes)
		if failed := w.undo(j.Changes, j.Dirs); len(failed) > 0 {
			l.PutBack = nil
			return nil, fmt.Errorf("an interrupted run left files it had written in part, and some cannot be put back: %w; the old contents are in %s: check those files, then remove the folder", errors.Join(failed...), folder)
		}
	}
	if err := w.remove(); err != nil {
		return l, fmt.Errorf("failed to remove the leftover folder %s: %w", folder, err)
	}
	return l, nil
}

// changed lists the journal's files that hold what the run put there:
// those undo puts back.
func (w *work) changed(changes []journalEntry) []string {
	var paths []string
	for i, c := range changes {
		cur, err := os.Lstat(c.Path)
		if err != nil {
			continue
		}
		if mine, err := os.Lstat(w.name(i, "new")); err == nil && os.SameFile(cur, mine) {
			paths = append(paths, c.Path)
		}
	}
	sort.Strings(paths)
	return paths
}

func readNames(folder string) (map[string]bool, error) {
	entries, err := os.ReadDir(folder)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names, nil
}

// readName reads who wrote a work folder from its lock file.
func readName(folder string) string {
	b, err := os.ReadFile(filepath.Join(folder, lockFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
