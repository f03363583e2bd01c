package secretfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// file is one desired secret's file as found on disk.
type file struct {
	real   string // path with every symlink resolved, inside the project
	dir    string // its folder, where the state file is
	base   string // its name in the state file
	exists bool
	mode   fs.FileMode // when it exists
	// perm is the mode Sync writes it with (see perm.go).
	perm fs.FileMode
}

// entry is what a state file records of one file.
type entry struct {
	Secret    string `json:"secret"`
	Version   string `json:"version"` // empty: created by Sync, version not yet recorded
	Updated   int64  `json:"updated"`
	Unsettled bool   `json:"unsettled,omitempty"` // read within its updated second
}

// Observed is what a sync found on disk for its desired files: the input
// of MakePlan, with every file system read done.
type Observed struct {
	// files holds one file per desired secret, nil where the secret may
	// not be written at all; reasons then says why.
	files   []*file
	reasons []string
	// forced are the real paths --force-file lets Sync replace.
	forced map[string]bool
	// states maps each real folder of files to its state: file name ->
	// entry. Apply records what it writes there.
	states map[string]map[string]entry
	// root is the project directory (resolved): writes go through a work
	// folder there (internal/atomicfile).
	root string
}

// observe resolves and stats every desired file and reads the state files
// of their folders. A secret whose file may not be written is refused
// alone (Observed.reasons); an unreadable state file, or a --force-file
// that names no desired file, is an error.
func observe(root string, desired []Desired, force []string) (Observed, error) {
	obs := Observed{
		files:   make([]*file, len(desired)),
		reasons: make([]string, len(desired)),
		states:  map[string]map[string]entry{},
		root:    root,
	}
	for i, d := range desired {
		obs.files[i], obs.reasons[i] = locate(root, d)
	}
	sharedFiles(desired, obs.files, obs.reasons)
	var err error
	if obs.forced, err = forcedFiles(force, desired, obs.files); err != nil {
		return Observed{}, err
	}
	for _, f := range obs.files {
		if f == nil {
			continue
		}
		if _, ok := obs.states[f.dir]; !ok {
			st, err := readState(f.dir)
			if err != nil {
				return Observed{}, err
			}
			obs.states[f.dir] = st
		}
	}
	return obs, nil
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
	f.perm = d.Perm
	if f.exists {
		f.perm = keptPerm(f.mode)
	} else if f.perm == 0 {
		f.perm = OwnerPerm
	}
	if err := CheckFolder(f.dir, f.perm); err != nil {
		return nil, err.Error()
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

// sharedFiles refuses secrets whose files are one file: each sync would
// overwrite the other's value. It sets their reasons and drops their files.
func sharedFiles(desired []Desired, files []*file, reasons []string) {
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
			reasons[i] = fmt.Sprintf("secrets %s all use the file %s: give each secret its own file", strings.Join(names, ", "), desired[i].Path)
			files[i] = nil
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

// Observe reads what a sync of desired would find on disk (the files, and
// the state files of their folders), without writing anything: status
// compares it with the Key Vault list through NeedsFetch and MakePlan,
// exactly as a sync that reads no value does.
func Observe(projectDir string, desired []Desired) (Observed, error) {
	root, err := projectRoot(projectDir)
	if err != nil {
		return Observed{}, err
	}
	return observe(root, desired, nil)
}

// Recorded is what Observe found of one desired file: whether it exists and
// what its folder's state file records of it (versions and times, never a
// value).
type Recorded struct {
	Exists bool
	// Known: the state file records the file (a file sync created or
	// wrote). Version is empty for one created but not yet written.
	Known     bool
	Version   string
	Updated   int64 // the Key Vault "updated" time (unix seconds) of Version
	Unsettled bool  // Version was read within its updated second
}

// Recorded returns what obs found of desired[i]; ok is false when the
// secret's file may not be written at all (MakePlan's error says why).
func (o Observed) Recorded(i int) (r Recorded, ok bool) {
	f := o.files[i]
	if f == nil {
		return Recorded{}, false
	}
	e, known := o.states[f.dir][f.base]
	return Recorded{Exists: f.exists, Known: known, Version: e.Version, Updated: e.Updated, Unsettled: e.Unsettled}, true
}
