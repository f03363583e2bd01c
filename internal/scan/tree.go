package scan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/docker-vault/docker-vault/compose"
)

// TreeOptions says how ScanPaths reads files and folders.
type TreeOptions struct {
	// Root is the directory paths in findings are relative to (the
	// repository root); .gitignore patterns are read from it down, with
	// its .git/info/exclude. Empty: the working directory.
	Root string
	// NoIgnore reads what .gitignore files and .git/info/exclude ignore.
	NoIgnore bool
	// Values are the Key Vault values to look for in every text file
	// walked; nil: none, and only compose files, env files and
	// Dockerfiles are read.
	Values *Values
	// Environ is the environment compose files are interpolated with, as
	// KEY=VALUE strings. nil: none, so a tree scan judges what the files
	// hold, whatever the shell running it holds.
	Environ []string
}

// readFile reads every file a tree scan reads itself, into buf (nil: a
// new slice); tests replace it to make a file unreadable even to root.
var readFile = readWhole

// fileKind is what a file's name says it is.
type fileKind int

const (
	kindOther fileKind = iota
	kindCompose
	kindEnv
	kindDockerfile
)

// kindOf recognises a file by its name: compose files (compose*.y(a)ml,
// docker-compose*.y(a)ml), env files (.env, .env.*, *.env), Dockerfiles
// (Dockerfile, Dockerfile.*, *.Dockerfile, Containerfile,
// Containerfile.*).
func kindOf(name string) fileKind {
	ext := filepath.Ext(name)
	switch {
	case (ext == ".yaml" || ext == ".yml") && (strings.HasPrefix(name, "compose") || strings.HasPrefix(name, "docker-compose")):
		return kindCompose
	case name == ".env" || strings.HasPrefix(name, ".env.") || (ext == ".env" && len(name) > len(ext)):
		return kindEnv
	case name == "Dockerfile" || strings.HasPrefix(name, "Dockerfile.") || ext == ".Dockerfile" ||
		name == "Containerfile" || strings.HasPrefix(name, "Containerfile."):
		return kindDockerfile
	}
	return kindOther
}

// RepoRoot is the repository dir is in: the nearest of dir and its
// parents holding .git (a folder, or the file of a worktree or
// submodule); dir itself when there is none.
func RepoRoot(dir string) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for d := dir; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

// ScanPaths scans files and folders. Folders are walked without following
// symlinks, skipping .git and, unless NoIgnore, what .gitignore files
// ignore. Compose files are scanned as projects (each alone, its folder as
// project directory, every profile, no consistency check), env files and
// Dockerfiles on their own; a place found both ways is reported once, as
// the project found it. With Values, every text file walked is also
// searched for them.
//
// A symlink given as a PATH is followed only when it resolves inside
// Root; one met in a folder is never followed (its target, when inside
// the tree, is scanned at its own path). Binary files (a NUL in the first
// 8 KiB) are skipped, unreadable ones are FileErrors: the scan goes on.
func ScanPaths(ctx context.Context, paths []string, opts TreeOptions) (*Result, error) {
	root := opts.Root
	if root == "" {
		var err error
		if root, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("cannot scan from %s: %w", root, err)
	}
	t := &tree{
		ctx: ctx, opts: opts, root: root, realRoot: realRoot,
		sem:     make(chan struct{}, runtime.GOMAXPROCS(0)),
		jobs:    map[string]bool{},
		claimed: map[string]bool{},
		within:  map[string]string{},
	}
	type start struct {
		path string
		dir  bool
	}
	var starts []start
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		fi, err := os.Lstat(abs)
		if err != nil {
			return nil, fmt.Errorf("cannot scan %s: %w", p, pathErr(err))
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			real, err := filepath.EvalSymlinks(abs)
			if err != nil || !inside(realRoot, real) {
				t.notes = append(t.notes, "symlink "+relPath(root, abs)+" not followed: it points out of the tree")
				continue
			}
			// Inside the tree: scanned at its own path.
			if rel, err := filepath.Rel(realRoot, real); err == nil {
				real = filepath.Join(root, rel)
			}
			abs = real
			if fi, err = os.Stat(abs); err != nil {
				return nil, fmt.Errorf("cannot scan %s: %w", p, pathErr(err))
			}
		}
		switch {
		case fi.IsDir():
			starts = append(starts, start{abs, true})
		case fi.Mode().IsRegular():
			starts = append(starts, start{abs, false})
		default:
			t.notes = append(t.notes, relPath(root, abs)+" skipped: not a regular file")
		}
	}
	for _, s := range starts {
		if s.dir {
			base := root
			if !inside(root, s.path) {
				base = RepoRoot(s.path)
			}
			ig, err := t.ignoreAbove(base, s.path)
			if err != nil {
				return nil, err
			}
			t.dir(s.path, base, ig)
			continue
		}
		k := kindOf(filepath.Base(s.path))
		if ext := filepath.Ext(s.path); k == kindOther && (ext == ".yaml" || ext == ".yml") {
			k = kindCompose // a YAML file given by name is taken as a compose file
		}
		if k == kindOther && opts.Values == nil {
			t.notes = append(t.notes, relPath(root, s.path)+" is no compose file, env file or Dockerfile: without Key Vault values to look for, nothing is read in it")
			continue
		}
		if t.take(s.path) {
			t.file(s.path, k)
		}
	}
	t.wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return t.result(), nil
}

// inside reports whether path is root or below it.
func inside(root, path string) bool {
	r, err := filepath.Rel(root, path)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) && !filepath.IsAbs(r)
}

// pathErr drops the path from an OS error: the caller names the file.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// tree is one ScanPaths: a walk of folders whose files are read by
// goroutines, at most GOMAXPROCS at a time.
type tree struct {
	ctx            context.Context
	opts           TreeOptions
	root, realRoot string
	sem            chan struct{}
	wg             sync.WaitGroup

	mu sync.Mutex
	// jobs are the files taken, claimed the files counted and searched
	// for values (a project's files may be walked too), by absolute path.
	jobs, claimed map[string]bool
	// project holds what compose projects found; alone what env files and
	// Dockerfiles judged on their own found; values the Key Vault values.
	project, alone, values []fileResult
	errs                   []fileError
	notes                  []string
	// within are the compose files read as part of another project
	// (include, extends): one that does not load on its own is no error.
	within          map[string]string
	files           int
	bytes           int64
	binaries, links int
}

// fileResult is what the scan of one file found, by the file's path for
// a stable order.
type fileResult struct {
	path string
	res  *Result
}

// dir walks one folder on its own goroutine.
func (t *tree) dir(path, base string, ig ignorer) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if t.ctx.Err() != nil {
			return
		}
		t.sem <- struct{}{}
		entries, err := os.ReadDir(path)
		var own []byte
		if err == nil && !t.opts.NoIgnore && slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return e.Name() == ".gitignore" }) {
			var ierr error
			if own, ierr = readIgnoreFile(filepath.Join(path, ".gitignore")); ierr != nil {
				t.fileError(filepath.Join(path, ".gitignore"), ierr)
			}
		}
		<-t.sem
		if err != nil {
			t.fileError(path, err)
			return
		}
		rel := components(base, path)
		ig = ig.with(own, rel)
		// Ordinary files (read only to look for values) are read here, one
		// after the other into one buffer: a goroutine and a buffer per
		// file would cost more than reading most of them.
		var plain []string
		for _, e := range entries {
			name := e.Name()
			if name == ".git" {
				continue
			}
			child := filepath.Join(path, name)
			typ := e.Type()
			switch {
			case typ&fs.ModeSymlink != 0:
				t.mu.Lock()
				t.links++
				t.mu.Unlock()
			case typ.IsDir():
				if !ig.ignored(append(rel[:len(rel):len(rel)], name), true) {
					t.dir(child, base, ig)
				}
			case typ.IsRegular():
				k := kindOf(name)
				if k == kindOther && t.opts.Values == nil {
					continue
				}
				if ig.ignored(append(rel[:len(rel):len(rel)], name), false) || !t.take(child) {
					continue
				}
				if k == kindOther {
					plain = append(plain, child)
				} else {
					t.file(child, k)
				}
			}
		}
		if len(plain) == 0 {
			return
		}
		t.sem <- struct{}{}
		defer func() { <-t.sem }()
		var buf []byte
		for _, p := range plain {
			if t.ctx.Err() != nil {
				return
			}
			buf = t.scanFile(p, kindOther, buf[:0])
		}
	}()
}

// take reports whether path is not taken yet, and takes it: a file is
// scanned once, however many PATHs lead to it.
func (t *tree) take(path string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.jobs[path] {
		return false
	}
	t.jobs[path] = true
	return true
}

// file scans one file on its own goroutine; the caller took it.
func (t *tree) file(path string, k fileKind) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if t.ctx.Err() != nil {
			return
		}
		t.sem <- struct{}{}
		defer func() { <-t.sem }()
		t.scanFile(path, k, nil)
	}()
}

// scanFile reads and scans one file, into buf when it is an ordinary
// one (nothing of it is kept), and returns buf for the next.
func (t *tree) scanFile(path string, k fileKind, buf []byte) []byte {
	if k != kindOther {
		buf = nil // compose's findings keep parts of what they judged
	}
	b, err := readFile(path, buf)
	if err != nil {
		t.fileError(path, err)
		return buf
	}
	if binary(b) {
		t.mu.Lock()
		t.binaries++
		t.claimed[path] = true
		t.mu.Unlock()
		return b
	}
	rel := relPath(t.root, path)
	if t.claim(path, b) {
		if fs := searchValues(t.opts.Values, rel, b); len(fs) > 0 {
			t.addValues(path, &Result{Findings: fs})
		}
	}
	switch k {
	case kindCompose:
		t.composeFile(path)
	case kindEnv, kindDockerfile:
		c := newConverter(t.root)
		judge := c.envFile
		if k == kindDockerfile {
			judge = c.dockerfile
		}
		if err := judge(path, b); err != nil {
			t.fileErrorText(path, err.Error())
			return nil
		}
		t.mu.Lock()
		t.alone = append(t.alone, fileResult{path, c.result()})
		t.mu.Unlock()
		return nil
	}
	return b
}

// composeFile scans a compose file as a project of its own.
func (t *tree) composeFile(path string) {
	p, err := compose.Load(t.ctx, compose.LoadOptions{
		Files:         []string{path},
		WorkingDir:    filepath.Dir(path),
		Profiles:      []string{"*"},
		NoConsistency: true,
		Quiet:         true,
		Environ:       t.opts.Environ,
	})
	if err != nil {
		// Load's errors are value-free: each names the file and line.
		t.errorText(path, err.Error(), true)
		return
	}
	t.mu.Lock()
	for _, f := range p.Files {
		if f.Role != compose.RoleMain {
			t.within[f.Path] = path
		}
	}
	t.mu.Unlock()
	c := newConverter(t.root)
	if err := c.project(p); err != nil {
		t.fileErrorText(path, err.Error())
		return
	}
	t.mu.Lock()
	t.project = append(t.project, fileResult{path, c.result()})
	t.mu.Unlock()
	// The files the project read outside the walk (a ../.env, a
	// Dockerfile in an ignored folder) are searched for values too.
	for _, f := range projectFiles(p) {
		if t.claim(f.path, f.content) {
			if fs := searchValues(t.opts.Values, relPath(t.root, f.path), f.content); len(fs) > 0 {
				t.addValues(f.path, &Result{Findings: fs})
			}
		}
	}
}

// claim counts a file read and reports whether it is the first time, so
// that its bytes are searched for values once.
func (t *tree) claim(path string, b []byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.claimed[path] {
		return false
	}
	t.claimed[path] = true
	t.files++
	t.bytes += int64(len(b))
	return true
}

func (t *tree) addValues(path string, r *Result) {
	t.mu.Lock()
	t.values = append(t.values, fileResult{path, r})
	t.mu.Unlock()
}

func (t *tree) fileError(path string, err error) {
	t.fileErrorText(path, pathErr(err).Error())
}

func (t *tree) fileErrorText(path, msg string) { t.errorText(path, msg, false) }

// fileError is a FileError with the file's absolute path, and whether it
// is a compose file that did not load.
type fileError struct {
	path string
	load bool
	FileError
}

func (t *tree) errorText(path, msg string, load bool) {
	t.mu.Lock()
	t.errs = append(t.errs, fileError{path, load, FileError{File: relPath(t.root, path), Err: t.relText(msg)}})
	t.mu.Unlock()
}

// relText names the files of the tree in a message (Load's errors and
// Detect's warnings) as findings name them.
func (t *tree) relText(msg string) string {
	return strings.ReplaceAll(msg, t.root+string(filepath.Separator), "")
}

// result merges what every file gave: projects first, so that a place a
// project found (with its services) wins over the same place judged on
// its own.
func (t *tree) result() *Result {
	res := &Result{Notes: t.notes, Files: t.files, Bytes: t.bytes}
	for _, e := range t.errs {
		if by, ok := t.within[e.path]; ok && e.load {
			res.Notes = append(res.Notes, e.File+" does not load as a project of its own ("+e.Err+"); it was read as part of "+relPath(t.root, by))
			continue
		}
		res.Errors = append(res.Errors, e.FileError)
	}
	seen := map[string]bool{}
	for _, group := range [][]fileResult{t.project, t.alone, t.values} {
		slices.SortFunc(group, func(a, b fileResult) int { return cmp.Compare(a.path, b.path) })
		for _, fr := range group {
			for _, f := range fr.res.Findings {
				k := placeKey(f.Rule, f.File, f.Line, f.Variable)
				if f.Rule == RuleVaultValue {
					k += "\x00" + strconv.Itoa(f.Column) + "\x00" + f.Secret + "\x00" + f.Encoding
				}
				if seen[k] {
					continue
				}
				seen[k] = true
				res.Findings = append(res.Findings, f)
			}
			for _, n := range fr.res.Notes {
				n = t.relText(n)
				if !seen["note\x00"+n] {
					seen["note\x00"+n] = true
					res.Notes = append(res.Notes, n)
				}
			}
		}
	}
	if t.binaries > 0 {
		res.Notes = append(res.Notes, countOf(t.binaries, "binary file")+" skipped")
	}
	if t.links > 0 {
		res.Notes = append(res.Notes, countOf(t.links, "symlink")+" in the tree not followed (a target inside the tree is scanned at its own path)")
	}
	finish(res, t.opts.Values)
	return res
}

func countOf(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// finish orders a result (by file, line, column, rule) and fingerprints
// its findings.
func finish(res *Result, values *Values) {
	res.maskNames(values)
	slices.SortStableFunc(res.Findings, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Variable, b.Variable),
			cmp.Compare(a.Secret, b.Secret),
			cmp.Compare(a.Encoding, b.Encoding),
		)
	})
	slices.SortFunc(res.Errors, func(a, b FileError) int { return cmp.Compare(a.File, b.File) })
	SetFingerprints(res.Findings)
}
