package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// crashMarker starts every value of the crash project: a file holding it
// holds a value.
const crashMarker = "e2eCrashV-"

// crashServices makes a project of 2,000 secrets: each service has a
// literal password and a root password from .env, both read from files by
// the image.
const crashServices = 1000

// workPrefix names migrate's work folder in the project.
const workPrefix = ".docker-vault-tmp-"

// writeCrashProject writes the 2,000-secret project in dir, commits it in
// a new git repository, and returns its files (slash path -> content).
func writeCrashProject(t *testing.T, dir string) map[string]string {
	t.Helper()
	var c, env strings.Builder
	c.WriteString("services:\n")
	for i := range crashServices {
		fmt.Fprintf(&c, "  svc%d:\n    image: mariadb:11\n    environment:\n      MARIADB_USER: user%d\n      MARIADB_PASSWORD: %spw-%d-a71c\n      MARIADB_ROOT_PASSWORD: ${ROOT_%d}\n", i, i, crashMarker, i, i)
		fmt.Fprintf(&env, "ROOT_%d=%sroot-%d-5e02\n", i, crashMarker, i)
	}
	files := map[string]string{"compose.yaml": c.String(), ".env": env.String()}
	for rel, content := range files {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644))
	}
	git(t, dir, "init", "-q")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "the project")
	return files
}

// resetCrashProject puts the project back as committed: the original
// files, nothing else but .git. Leftovers of a killed run are removed too
// (a test that needs them does not reset).
func resetCrashProject(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	assert.NilError(t, err)
	for _, e := range entries {
		if e.Name() != ".git" {
			assert.NilError(t, os.RemoveAll(filepath.Join(dir, e.Name())))
		}
	}
	for rel, content := range files {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644))
	}
	assert.Check(t, is.Equal(git(t, dir, "status", "--porcelain"), ""))
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	assert.NilError(t, err, "git %v: %s", args, out)
	return string(out)
}

// snapshotTree reads every file under dir but .git (slash path ->
// content), hidden ones included.
func snapshotTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			// The repository holds the committed original, values and
			// all, compressed: what the user committed is not ours.
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	assert.NilError(t, err)
	return out
}

// migrateRun is a `docker vault migrate` started in the background.
type migrateRun struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	err            error
}

func startMigrate(t *testing.T, dir string) *migrateRun {
	t.Helper()
	r := &migrateRun{cmd: exec.Command("docker", "vault", "migrate"), done: make(chan struct{})}
	r.cmd.Dir = dir
	r.cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+env.configDir)
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	assert.NilError(t, r.cmd.Start())
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	return r
}

func (r *migrateRun) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *migrateRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(5 * time.Minute):
		t.Fatal("migrate did not end")
	}
	return r.cmd.ProcessState.ExitCode()
}

// pluginPID is the docker-vault process the docker CLI runs for this
// migrate, 0 when there is none (any more).
func (r *migrateRun) pluginPID(t *testing.T) int {
	t.Helper()
	ppid := strconv.Itoa(r.cmd.Process.Pid)
	procs, err := filepath.Glob("/proc/[0-9]*/stat")
	assert.NilError(t, err)
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if s[open+1:closing] != "docker-vault" || len(fields) < 2 || fields[1] != ppid {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
		assert.NilError(t, err)
		return pid
	}
	return 0
}

// workFolder is migrate's work folder in dir, "" when there is none.
func workFolder(dir string) string {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), workPrefix) {
			return filepath.Join(dir, e.Name())
		}
	}
	return ""
}

// waitFor polls cond until it holds or the run ends; it returns when
// cond began to hold, or false when the run ended first.
func (r *migrateRun) waitFor(cond func() bool) (time.Time, bool) {
	for {
		if cond() {
			return time.Now(), true
		}
		if r.exited() {
			return time.Time{}, false
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// assertNoWorkFiles checks git status for the work folder or anything
// like a temporary or backup file.
func assertNoWorkFiles(t *testing.T, status string) {
	t.Helper()
	for _, bad := range []string{workPrefix, ".orig", ".tmp", "docker-vault"} {
		assert.Check(t, !strings.Contains(status, bad), "git status shows %q:\n%s", bad, status)
	}
}

// assertValuesOnlyInSecrets checks that the project holds no value outside
// ./secrets/.
func assertValuesOnlyInSecrets(t *testing.T, tree map[string]string) {
	t.Helper()
	for rel, content := range tree {
		if !strings.HasPrefix(rel, "secrets/") {
			assert.Check(t, !strings.Contains(content, crashMarker), "%s holds a value", rel)
		}
	}
}

// TestMigrateKilledMidWrite kills the plugin with SIGKILL at random points
// of the write of a 2,000-secret migrate (and once just as it starts
// putting files in place), then runs migrate again: the result is exactly
// that of a run never killed, no value is anywhere but ./secrets/, and git
// never shows a temporary or backup file, not even before the re-run.
func TestMigrateKilledMidWrite(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	// The reference: an uninterrupted run, timed from the moment its work
	// folder appears to its end.
	ref := t.TempDir()
	files := writeCrashProject(t, ref)
	run := startMigrate(t, ref)
	began, ok := run.waitFor(func() bool { return workFolder(ref) != "" })
	assert.Assert(t, ok, "no work folder seen: %s", run.stderr.String())
	assert.Assert(t, is.Equal(run.wait(t), 0), run.stderr.String())
	write := time.Since(began)
	t.Logf("write: %v", write)
	assert.Check(t, is.Contains(run.stdout.String(), fmt.Sprintf("migrated %d variables into %d secrets", 2*crashServices, 2*crashServices)))
	want := snapshotTree(t, ref)
	wantStatus := git(t, ref, "status", "--porcelain", "--untracked-files=all")
	assert.Check(t, is.Len(want, 2*crashServices+3), "secret files, compose.yaml, .env, .gitignore")
	assertValuesOnlyInSecrets(t, want)
	assertNoWorkFiles(t, wantStatus)

	dir := t.TempDir()
	writeCrashProject(t, dir)
	type kill struct {
		name  string
		delay time.Duration
		// atJournal: kill as soon as the run starts putting files in
		// place.
		atJournal bool
	}
	kills := []kill{{name: "as the files are put in place", atJournal: true}}
	for i := range 4 {
		d := time.Duration(rng.Int64N(int64(write)))
		kills = append(kills, kill{name: fmt.Sprintf("random %d", i), delay: d})
	}
	for _, k := range kills {
		t.Run(k.name, func(t *testing.T) {
			resetCrashProject(t, dir, files)
			run := startMigrate(t, dir)
			_, ok := run.waitFor(func() bool { return workFolder(dir) != "" })
			assert.Assert(t, ok, "no work folder seen: %s", run.stderr.String())
			// Found now, so that the kill is one system call.
			pid := run.pluginPID(t)
			assert.Assert(t, pid != 0, "no docker-vault process under docker")
			if k.atJournal {
				_, ok = run.waitFor(func() bool {
					_, err := os.Stat(filepath.Join(workFolder(dir), "journal"))
					return err == nil
				})
			} else {
				time.Sleep(k.delay)
			}
			killed := ok && syscall.Kill(pid, syscall.SIGKILL) == nil
			code := run.wait(t)
			t.Logf("killed after %v: %v (docker exit %d)", k.delay, killed, code)
			assert.Check(t, killed || code == 0, "migrate failed on its own: %s", run.stderr.String())
			if k.atJournal {
				assert.Check(t, killed, "the run ended before it could be killed while putting files in place")
			}

			// Before any re-run: git shows no work file, and a leftover
			// folder is private.
			assertNoWorkFiles(t, git(t, dir, "status", "--porcelain", "--untracked-files=all"))
			leftover := workFolder(dir)
			if leftover != "" {
				st, err := os.Stat(leftover)
				assert.NilError(t, err)
				assert.Check(t, is.Equal(st.Mode().Perm(), os.FileMode(0o700)))
			}

			// One re-run finishes the job: it puts back what the killed
			// run had replaced, plans again, and writes.
			res := dockerIn(t, dir, nil, "vault", "migrate")
			assertNoValue(t, res, map[string]string{"a value": crashMarker})
			res.Assert(t, icmd.Success)
			t.Logf("the re-run said: %q", res.Stderr())
			if leftover != "" {
				assert.Check(t, is.Regexp(`^(removed \d+ leftover files of an interrupted migrate|put back .* that an interrupted migrate had written, and removed its \d+ leftover files)\n`, res.Stderr()))
			}
			got := snapshotTree(t, dir)
			assertValuesOnlyInSecrets(t, got)
			assert.Check(t, is.DeepEqual(sortedKeys(got), sortedKeys(want)))
			for rel, content := range want {
				assert.Check(t, got[rel] == content, "%s differs from an uninterrupted run's", rel)
			}
			status := git(t, dir, "status", "--porcelain", "--untracked-files=all")
			assertNoWorkFiles(t, status)
			assert.Check(t, is.Equal(status, wantStatus))
		})
	}
}

// TestMigrateConcurrentAppend appends a line to compose.yaml while migrate
// writes its 2,000 secrets: migrate fails with one line naming the file,
// writes nothing, and the append is there. The append is made as soon as
// the work folder appears, which leaves the seconds the write takes for
// it; a run that ended first is tried again, a bounded number of times.
func TestMigrateConcurrentAppend(t *testing.T) {
	dir := t.TempDir()
	files := writeCrashProject(t, dir)
	compose := filepath.Join(dir, "compose.yaml")
	const appended = "# appended while migrate ran\n"
	for attempt := 0; ; attempt++ {
		assert.Assert(t, attempt < 3, "migrate always ended before the append")
		resetCrashProject(t, dir, files)
		run := startMigrate(t, dir)
		if _, ok := run.waitFor(func() bool { return workFolder(dir) != "" }); !ok {
			t.Logf("attempt %d: no work folder seen before migrate ended", attempt)
			run.wait(t)
			continue
		}
		f, err := os.OpenFile(compose, os.O_APPEND|os.O_WRONLY, 0)
		assert.NilError(t, err)
		_, err = f.WriteString(appended)
		assert.NilError(t, err)
		assert.NilError(t, f.Close())
		code := run.wait(t)
		if code == 0 {
			t.Logf("attempt %d: migrate ended before the append", attempt)
			continue
		}
		assert.Check(t, is.Equal(code, 1))
		stderr := strings.TrimSpace(run.stderr.String())
		assert.Check(t, is.Equal(stderr, compose+" changed while migrate ran; nothing was written: run it again"))
		assert.Check(t, !strings.Contains(run.stdout.String()+stderr, crashMarker), "the output holds a value")
		got := snapshotTree(t, dir)
		assert.Check(t, is.DeepEqual(sortedKeys(got), []string{".env", "compose.yaml"}))
		assert.Check(t, got["compose.yaml"] == files["compose.yaml"]+appended, "the append was lost")
		assert.Check(t, got[".env"] == files[".env"], ".env changed")
		assert.Check(t, is.Equal(git(t, dir, "status", "--porcelain", "--untracked-files=all"), " M compose.yaml\n"))
		return
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
