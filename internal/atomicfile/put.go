package atomicfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

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
