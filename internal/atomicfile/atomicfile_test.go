package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// project is a folder with a file to replace (a.txt), one reached through
// a symlink (link.txt -> real/b.txt), and changes that replace both and
// create c.txt and sub/deeper/d.txt.
type project struct {
	dir     string
	changes []Change
}

func newProject(t *testing.T) *project {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.txt"), "old a\n", 0o640)
	write(t, filepath.Join(dir, "real", "b.txt"), "old b\n", 0o644)
	assert.NilError(t, os.Symlink(filepath.Join("real", "b.txt"), filepath.Join(dir, "link.txt")))
	return &project{dir: dir, changes: []Change{
		{Path: filepath.Join(dir, "c.txt"), Data: []byte("new c\n"), Create: true, Perm: 0o644},
		{Path: filepath.Join(dir, "sub", "deeper", "d.txt"), Data: []byte("new d\n"), Create: true, DirPerm: 0o700},
		{Path: filepath.Join(dir, "a.txt"), Data: []byte("new a\n"), Old: []byte("old a\n")},
		{Path: filepath.Join(dir, "link.txt"), Data: []byte("new b\n"), Old: []byte("old b\n")},
	}}
}

func write(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	assert.NilError(t, os.WriteFile(path, []byte(content), perm))
	assert.NilError(t, os.Chmod(path, perm))
}

// tree maps every file, folder and link under dir (slash paths) to what it
// is: its content, "<dir>", or "-> target".
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			out[rel] = "-> " + target
			return err
		case d.IsDir():
			out[rel] = "<dir>"
		default:
			b, err := os.ReadFile(path)
			out[rel] = string(b)
			return err
		}
		return nil
	})
	assert.NilError(t, err)
	return out
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// workFolders lists the work folders in dir.
func workFolders(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, prefix+"*"))
	assert.NilError(t, err)
	return m
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	assert.NilError(t, err)
	return st.Mode().Perm()
}

func TestReplace(t *testing.T) {
	p := newProject(t)
	assert.NilError(t, Replace(p.dir, p.changes, Options{Name: "test"}))
	got := tree(t, p.dir)
	assert.DeepEqual(t, got, map[string]string{
		"a.txt":            "new a\n",
		"c.txt":            "new c\n",
		"link.txt":         "-> " + filepath.Join("real", "b.txt"),
		"real":             "<dir>",
		"real/b.txt":       "new b\n",
		"sub":              "<dir>",
		"sub/deeper":       "<dir>",
		"sub/deeper/d.txt": "new d\n",
	})
	assert.Check(t, is.Equal(mode(t, filepath.Join(p.dir, "a.txt")), os.FileMode(0o640)), "a replaced file keeps its mode")
	assert.Check(t, is.Equal(mode(t, filepath.Join(p.dir, "real", "b.txt")), os.FileMode(0o644)))
	assert.Check(t, is.Equal(mode(t, filepath.Join(p.dir, "c.txt")), os.FileMode(0o644)))
	assert.Check(t, is.Equal(mode(t, filepath.Join(p.dir, "sub", "deeper", "d.txt")), os.FileMode(0o600)), "0 means 0600")
	assert.Check(t, is.Equal(mode(t, filepath.Join(p.dir, "sub")), os.FileMode(0o700)))
	assert.Check(t, is.Equal(mode(t, filepath.Join(p.dir, "sub", "deeper")), os.FileMode(0o700)))
	assert.Check(t, is.Len(workFolders(t, p.dir), 0))
	left, err := Clean(p.dir)
	assert.NilError(t, err)
	assert.Check(t, is.Len(left, 0))
}

// TestWorkFolder looks at the work folder while Replace puts files in
// place: mode 0700, one folder, invisible to git; its files are named by
// number, never by content.
func TestWorkFolder(t *testing.T) {
	p := newProject(t)
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = p.dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		assert.NilError(t, err, string(out))
		return string(out)
	}
	git("init", "-q")
	statusBefore := git("status", "--porcelain", "--untracked-files=all")
	checked := false
	err := Replace(p.dir, p.changes, Options{Step: func(i int) {
		if i != 0 {
			return
		}
		checked = true
		folders := workFolders(t, p.dir)
		assert.Assert(t, is.Len(folders, 1))
		assert.Check(t, is.Equal(mode(t, folders[0]), os.FileMode(0o700)))
		assert.Check(t, strings.HasPrefix(filepath.Base(folders[0]), ".docker-vault-tmp-"))
		names, err := readNames(folders[0])
		assert.NilError(t, err)
		assert.Check(t, len(names) >= 2+len(p.changes), "%v", names)
		for n := range names {
			assert.Check(t, !strings.Contains(n, "new a") && !strings.Contains(n, "old"+" a"), n)
		}
		assert.Check(t, is.Equal(git("status", "--porcelain", "--untracked-files=all"), statusBefore), "git sees the work folder")
		assert.Check(t, is.Contains(git("status", "--porcelain", "--untracked-files=all", "--ignored"), filepath.Base(folders[0])), "the work folder is not there")
	}})
	assert.NilError(t, err)
	assert.Check(t, checked)
}

// TestChangedSinceRead changes a file to replace under Replace, each way
// an edit can show, just before the first file is put in place: nothing
// is written.
func TestChangedSinceRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, path string)
	}{
		{"size", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			assert.NilError(t, err)
			_, err = f.WriteString("appended\n")
			assert.NilError(t, err)
			assert.NilError(t, f.Close())
		}},
		{"mtime", func(t *testing.T, path string) {
			later := time.Now().Add(time.Hour)
			assert.NilError(t, os.Chtimes(path, later, later))
		}},
		{"content with the same size and mtime", func(t *testing.T, path string) {
			st, err := os.Stat(path)
			assert.NilError(t, err)
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			assert.NilError(t, err)
			_, err = f.WriteString("OLD")
			assert.NilError(t, err)
			assert.NilError(t, f.Close())
			assert.NilError(t, os.Chtimes(path, st.ModTime(), st.ModTime()))
			st2, err := os.Stat(path)
			assert.NilError(t, err)
			assert.Assert(t, st2.ModTime().Equal(st.ModTime()) && st2.Size() == st.Size())
		}},
		{"replaced by another file with the same content", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			assert.NilError(t, err)
			write(t, path+".edit", string(b), 0o640)
			assert.NilError(t, os.Rename(path+".edit", path))
		}},
	} {
		for which, name := range map[int]string{2: "a.txt", 3: "link.txt"} {
			t.Run(tc.name+" "+name, func(t *testing.T) {
				p := newProject(t)
				target := p.changes[which].Path
				var want map[string]string
				err := Replace(p.dir, p.changes, Options{Step: func(i int) {
					if i == 0 {
						tc.change(t, target)
						want = tree(t, p.dir)
						for k := range want {
							if strings.HasPrefix(k, prefix) {
								delete(want, k) // the work folder
							}
						}
					}
				}})
				assert.Check(t, errors.Is(err, ErrChanged), "%v", err)
				var fe *FileError
				assert.Assert(t, errors.As(err, &fe))
				assert.Check(t, is.Equal(fe.Path, target))
				assert.Check(t, is.Equal(err.Error(), target+" changed since it was read"))
				assert.Check(t, is.DeepEqual(tree(t, p.dir), want))
			})
		}
	}
}

// TestChangedBeforeReplace: a file that no longer holds Old, vanished, or
// became read-only stops Replace before it writes anything.
func TestChangedBeforeReplace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string)
		want   error
	}{
		{"content", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "a.txt"), "edited\n", 0o640) }, ErrChanged},
		{"vanished", func(t *testing.T, dir string) { assert.NilError(t, os.Remove(filepath.Join(dir, "real", "b.txt"))) }, ErrVanished},
		{"read-only", func(t *testing.T, dir string) { assert.NilError(t, os.Chmod(filepath.Join(dir, "a.txt"), 0o444)) }, ErrReadOnly},
		{"appeared", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "c.txt"), "theirs\n", 0o600) }, ErrAppeared},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProject(t)
			tc.change(t, p.dir)
			before := tree(t, p.dir)
			err := Replace(p.dir, p.changes, Options{Step: func(int) { t.Error("a file was put in place") }})
			assert.Check(t, errors.Is(err, tc.want), "%v", err)
			assert.Check(t, is.DeepEqual(tree(t, p.dir), before))
		})
	}
}

// TestCreateRefusesWhatAppeared: a file (or folder) that appears where a
// file is to be created, between the check and the link, is left as it is
// and everything already put in place is put back.
func TestCreateRefusesWhatAppeared(t *testing.T) {
	for _, what := range []string{"file", "folder", "symlink"} {
		t.Run(what, func(t *testing.T) {
			p := newProject(t)
			// Create d.txt last, after a.txt and b.txt were replaced.
			p.changes = []Change{p.changes[2], p.changes[3], p.changes[0], p.changes[1]}
			before := tree(t, p.dir)
			target := p.changes[3].Path
			err := Replace(p.dir, p.changes, Options{Step: func(i int) {
				if i != 3 {
					return
				}
				assert.NilError(t, os.MkdirAll(filepath.Dir(target), 0o755))
				switch what {
				case "file":
					write(t, target, "theirs\n", 0o600)
				case "folder":
					assert.NilError(t, os.Mkdir(target, 0o755))
				case "symlink":
					assert.NilError(t, os.Symlink(filepath.Join(p.dir, "elsewhere"), target))
				}
			}})
			assert.Check(t, errors.Is(err, ErrAppeared), "%v", err)
			assert.Check(t, is.Equal(err.Error(), target+" appeared since it was read"))
			after := tree(t, p.dir)
			switch what {
			case "file":
				assert.Check(t, is.Equal(after["sub/deeper/d.txt"], "theirs\n"))
			case "folder":
				assert.Check(t, is.Equal(after["sub/deeper/d.txt"], "<dir>"))
			case "symlink":
				assert.Check(t, is.Equal(after["sub/deeper/d.txt"], "-> "+filepath.Join(p.dir, "elsewhere")))
				_, err := os.Lstat(filepath.Join(p.dir, "elsewhere"))
				assert.Check(t, errors.Is(err, fs.ErrNotExist), "written through the link")
			}
			for _, k := range []string{"sub", "sub/deeper", "sub/deeper/d.txt"} {
				delete(after, k)
			}
			assert.Check(t, is.DeepEqual(after, before))
			assert.Check(t, is.Len(workFolders(t, p.dir), 0))
		})
	}
}

// TestRollback: the last change fails once the others are in place; they
// are put back (the replaced files are their old selves again, same
// inode), the created files and folders removed.
func TestRollback(t *testing.T) {
	p := newProject(t)
	before := tree(t, p.dir)
	oldA, err := os.Stat(filepath.Join(p.dir, "a.txt"))
	assert.NilError(t, err)
	// Replace link.txt last, after everything else is in place; its
	// file becomes a folder at the last moment.
	b := filepath.Join(p.dir, "real", "b.txt")
	err = Replace(p.dir, p.changes, Options{Step: func(i int) {
		if i == 3 {
			assert.NilError(t, os.Remove(b))
			assert.NilError(t, os.Mkdir(b, 0o755))
		}
	}})
	assert.Assert(t, err != nil)
	var rb *RollbackError
	assert.Check(t, !errors.As(err, &rb), "%v", err)
	assert.Check(t, errors.Is(err, ErrChanged), "%v", err)
	after := tree(t, p.dir)
	assert.Check(t, is.Equal(after["real/b.txt"], "<dir>"))
	after["real/b.txt"] = before["real/b.txt"]
	assert.Check(t, is.DeepEqual(after, before))
	nowA, err := os.Stat(filepath.Join(p.dir, "a.txt"))
	assert.NilError(t, err)
	assert.Check(t, os.SameFile(oldA, nowA), "a.txt is not its old self")
	assert.Check(t, is.Len(workFolders(t, p.dir), 0))
}

// TestRollbackError: a file already put in place that cannot be put back
// is named in the error, which does not say nothing was written; the work
// folder stays with the old content, and Clean reports the same until the
// file is dealt with.
func TestRollbackError(t *testing.T) {
	p := newProject(t)
	a := filepath.Join(p.dir, "a.txt")
	err := Replace(p.dir, p.changes, Options{Step: func(i int) {
		if i == 3 {
			// a.txt, already replaced, becomes a folder; then
			// link.txt's file changes, which stops the run.
			assert.NilError(t, os.Remove(a))
			assert.NilError(t, os.Mkdir(a, 0o755))
			write(t, filepath.Join(p.dir, "real", "b.txt"), "edited\n", 0o644)
		}
	}})
	var rb *RollbackError
	assert.Assert(t, errors.As(err, &rb), "%v", err)
	assert.Check(t, errors.Is(err, ErrChanged))
	assert.Check(t, is.Len(rb.Failed, 1))
	assert.Check(t, is.Contains(err.Error(), a+" changed after it was written: left as it is; its old content is "+filepath.Join(rb.Folder, "2.old")))
	assert.Check(t, !strings.Contains(err.Error(), "nothing was written"))
	old, rerr := os.ReadFile(filepath.Join(rb.Folder, "2.old"))
	assert.NilError(t, rerr)
	assert.Check(t, is.Equal(string(old), "old a\n"))
	after := tree(t, p.dir)
	_, ok := after["c.txt"]
	assert.Check(t, !ok, "a created file was left")
	assert.Check(t, is.Equal(after["real/b.txt"], "edited\n"))
	assert.Check(t, is.Len(workFolders(t, p.dir), 1))

	_, err = Clean(p.dir)
	assert.Check(t, is.ErrorContains(err, a+" changed after it was written"))
	assert.Check(t, is.Len(workFolders(t, p.dir), 1))

	// Once the file is back as it was written, Clean puts back the old.
	assert.NilError(t, os.Remove(a))
	assert.NilError(t, os.Link(filepath.Join(rb.Folder, "2.new"), a))
	left, err := Clean(p.dir)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(left, 1))
	assert.Check(t, is.DeepEqual(left[0].PutBack, []string{a}))
	b, err := os.ReadFile(a)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), "old a\n"))
	assert.Check(t, is.Len(workFolders(t, p.dir), 0))
}

// crash runs Replace and stops it dead at step stop (as kill -9 would:
// no deferred cleanup of the folder, the lock let go).
func crash(t *testing.T, p *project, stop int) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer close(done)
		done <- Replace(p.dir, p.changes, Options{Name: "test", Step: func(i int) {
			if i == stop {
				runtime.Goexit()
			}
		}})
	}()
	_, returned := <-done
	assert.Assert(t, !returned, "Replace returned")
}

// TestCleanAfterCrash stops Replace at every step and checks that Clean
// puts the project back as it was and removes the work folder.
func TestCleanAfterCrash(t *testing.T) {
	for stop := range 4 {
		p := newProject(t)
		before := tree(t, p.dir)
		crash(t, p, stop)
		assert.Assert(t, is.Len(workFolders(t, p.dir), 1))
		left, err := Clean(p.dir)
		assert.NilError(t, err)
		assert.Assert(t, is.Len(left, 1))
		assert.Check(t, is.Equal(left[0].Name, "test"))
		assert.Check(t, !left[0].Running)
		// Two created (.new), two replaced (.new, .put, .old), less
		// the .put renamed over a.txt at step 3.
		files := 8
		if stop == 3 {
			files = 7
		}
		assert.Check(t, is.Equal(left[0].Files, files), "step %d", stop)
		assert.Check(t, is.Len(left[0].PutBack, stop), "step %d", stop)
		assert.Check(t, is.DeepEqual(tree(t, p.dir), before), "step %d", stop)
		assert.Check(t, is.Len(workFolders(t, p.dir), 0))
		// The project can then be written.
		assert.NilError(t, Replace(p.dir, p.changes, Options{}))
	}
}

// TestCleanBeforeCommit: a run killed while it wrote its work folder left
// only that folder; Clean removes it and touches nothing else.
func TestCleanBeforeCommit(t *testing.T) {
	p := newProject(t)
	before := tree(t, p.dir)
	w, err := begin(p.dir, "migrate")
	assert.NilError(t, err)
	for i, c := range p.changes[:3] {
		_, err := w.stage(i, c)
		assert.NilError(t, err)
	}
	w.release()
	left, err := Clean(p.dir)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(left, []Leftover{{Folder: w.dir, Name: "migrate", Files: 5}}))
	assert.Check(t, is.DeepEqual(tree(t, p.dir), before))
}

// TestCleanLeavesLiveRunAlone: a work folder whose run is alive is
// reported, not removed.
func TestCleanLeavesLiveRunAlone(t *testing.T) {
	p := newProject(t)
	inside, resume := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- Replace(p.dir, p.changes, Options{Name: "migrate", Step: func(i int) {
			if i == 1 {
				close(inside)
				<-resume
			}
		}})
	}()
	<-inside
	left, err := Clean(p.dir)
	assert.Check(t, err)
	assert.Check(t, is.Len(left, 1))
	assert.Check(t, left[0].Running)
	assert.Check(t, is.Equal(left[0].Name, "migrate"))
	close(resume)
	assert.NilError(t, <-done)
	assert.Check(t, is.Equal(tree(t, p.dir)["a.txt"], "new a\n"))
}

// TestCleanLeavesOtherFolders: a folder with the work folders' prefix but
// not their .gitignore is not one, and an empty one is removed.
func TestCleanLeavesOtherFolders(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, prefix+"mine", "notes.txt"), "keep\n", 0o644)
	assert.NilError(t, os.Mkdir(filepath.Join(dir, prefix+"empty"), 0o700))
	left, err := Clean(dir)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(left, []Leftover{{Folder: filepath.Join(dir, prefix+"empty")}}))
	assert.Check(t, is.DeepEqual(tree(t, dir), map[string]string{prefix + "mine": "<dir>", prefix + "mine/notes.txt": "keep\n"}))
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets", "x")
	assert.NilError(t, WriteFile(dir, path, []byte("one")))
	assert.Check(t, is.Equal(mode(t, path), os.FileMode(0o600)))
	assert.Check(t, is.Equal(mode(t, filepath.Dir(path)), os.FileMode(0o700)))
	write(t, filepath.Join(dir, "other"), "theirs", 0o644)
	assert.NilError(t, os.Remove(path))
	assert.NilError(t, os.Symlink(filepath.Join(dir, "other"), path))
	assert.NilError(t, WriteFile(dir, path, []byte("two")))
	assert.Check(t, is.DeepEqual(tree(t, dir), map[string]string{"other": "theirs", "secrets": "<dir>", "secrets/x": "two"}))
}
