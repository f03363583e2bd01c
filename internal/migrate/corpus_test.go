//go:build corpus

package migrate

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/corpus"
)

// corpusLoad is one way a corpus project is loaded (internal/corpus.Loads).
type corpusLoad = corpus.Load

// composeCLI runs the test bed's compose CLI (a CLI plugin binary, which
// runs standalone too) in dir with no environment but PATH and HOME, so
// that it sees the project as Load does (Environ empty). It returns the
// exit status and the last line of its error output, with dir written
// <dir>.
func composeCLI(t *testing.T, bin, dir string, l corpusLoad) (int, string) {
	t.Helper()
	args := []string{}
	for _, f := range l.Files {
		args = append(args, "-f", f)
	}
	args = append(args, "config", "-q")
	if l.NoConsistency {
		args = append(args, "--no-consistency")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		assert.NilError(t, err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	return code, strings.ReplaceAll(lines[len(lines)-1], dir, "<dir>")
}

// composeBinary is the compose CLI the test bed installed. A missing test
// bed is a failure, never a skip.
func composeBinary(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TESTBED_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		assert.NilError(t, err)
		dir = filepath.Join(cache, "docker-vault-testbed")
	}
	f, err := os.Open(filepath.Join(dir, "env"))
	assert.NilError(t, err, "the test bed is not set up: run `make testbed`")
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "TESTBED_PLUGINS_DIR="); ok {
			bin := filepath.Join(v, "docker-compose")
			_, err := os.Stat(bin)
			assert.NilError(t, err, "the test bed has no compose CLI: run `make testbed`")
			return bin
		}
	}
	t.Fatal("the test bed's env file names no TESTBED_PLUGINS_DIR: run `make testbed`")
	return ""
}

// itemMatches reports whether a plan item is the one an expected row judges.
func itemMatches(r corpus.Row, it Item) bool {
	switch {
	case strings.HasSuffix(r.Service, " (healthcheck)"):
		return it.Service == strings.TrimSuffix(r.Service, " (healthcheck)") && it.Source == string(compose.SourceHealthcheck)
	case r.Service == "<Dockerfile>":
		return it.Source == string(compose.SourceDockerfile) && it.Variable == r.Variable
	}
	switch compose.SourceKind(it.Source) {
	case compose.SourceDockerfile, compose.SourceHealthcheck, compose.SourceCommand, compose.SourceBuildArg:
		return false
	}
	return it.Service == r.Service && it.Variable == r.Variable
}

// corpusRun is one load of one project, migrated.
type corpusRun struct {
	id    string
	load  corpusLoad
	items []Item
	// before and after are every service's environment, before the
	// migration and re-loaded after it.
	before, after map[string]map[string]*string
}

func environments(p *compose.Project) map[string]map[string]*string {
	out := map[string]map[string]*string{}
	for name, s := range p.Compose.Services {
		out[name] = s.Environment
	}
	return out
}

// TestCorpus migrates every project of ../shared/corpus in a copy and
// checks it against expected.tsv and against the compose CLI.
func TestCorpus(t *testing.T) {
	ctx := context.Background()
	src := corpus.Dir(t)
	rows := corpus.Expected(t, src)
	bin := composeBinary(t)
	entries, err := os.ReadDir(src)
	assert.NilError(t, err)

	var runs []*corpusRun
	projects := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		projects++
		for _, l := range corpus.Loads(e.Name()) {
			name := e.Name() + " " + strings.Join(l.Files, ",")
			dir := t.TempDir()
			copyTree(t, filepath.Join(src, e.Name()), dir)
			before := readTree(t, dir)
			cliCode, cliErr := composeCLI(t, bin, dir, l)
			lo := compose.LoadOptions{Files: l.Files, WorkingDir: dir, NoConsistency: l.NoConsistency, Environ: []string{}}

			p, err := compose.Load(ctx, lo)
			if l.Err != "" {
				assert.ErrorContains(t, err, l.Err, name)
				assert.Check(t, cliCode != 0, "%s: docker compose accepts what Load refuses", name)
				continue
			}
			assert.NilError(t, err, name)
			r, err := compose.Detect(p, compose.DetectOptions{})
			assert.NilError(t, err, name)
			plan, err := Make(ctx, p, r, Options{})
			assert.NilError(t, err, name)
			assert.NilError(t, Write(plan.Files, WriteOptions{}), name)

			// The result loads with compose-go, and the compose CLI says
			// what it said before.
			p2, err := compose.Load(ctx, lo)
			assert.NilError(t, err, name)
			code, msg := composeCLI(t, bin, dir, l)
			assert.Check(t, is.Equal(code, cliCode), "%s: docker compose config: %s", name, msg)
			if cliCode != 0 {
				assert.Check(t, is.Equal(msg, cliErr), name)
			}
			run := &corpusRun{id: e.Name()[:2], load: l, items: plan.Items, before: environments(p), after: environments(p2)}
			runs = append(runs, run)

			// Every migrated value is in its secret file.
			for _, it := range plan.Items {
				if it.Action != Migrated {
					continue
				}
				old := run.before[it.Service][it.Variable]
				ref := run.after[it.Service][it.FileVariable]
				if !assert.Check(t, old != nil && ref != nil, "%s: %s.%s", name, it.Service, it.Variable) {
					continue
				}
				sec := p2.Compose.Secrets[filepath.Base(*ref)]
				b, err := os.ReadFile(sec.File)
				assert.Check(t, err == nil && string(b) == *old, "%s: %s.%s: the secret file does not hold the value", name, it.Service, it.Variable)
			}
			// Only the files the plan names changed.
			after := readTree(t, dir)
			written := map[string]bool{}
			for _, f := range plan.Files {
				rel, _ := filepath.Rel(dir, f.Path)
				written[filepath.ToSlash(rel)] = true
			}
			for rel, b := range before {
				assert.Check(t, written[rel] || string(after[rel]) == string(b), "%s: %s changed", name, rel)
			}

			// A second run changes nothing.
			p3, err := compose.Load(ctx, lo)
			assert.NilError(t, err, name)
			r3, err := compose.Detect(p3, compose.DetectOptions{})
			assert.NilError(t, err, name)
			again, err := Make(ctx, p3, r3, Options{})
			assert.NilError(t, err, name)
			assert.Check(t, !again.Changed(), "%s: the second run would change %d files", name, len(again.Files))
		}
	}

	yes, migrated, reported, fp := 0, 0, 0, 0
	explained := map[*Item]bool{}
	for _, r := range rows {
		var match []*Item
		var touched []*corpusRun
		for _, run := range runs {
			if run.id != r.ID {
				continue
			}
			for i := range run.items {
				if itemMatches(r, run.items[i]) {
					match = append(match, &run.items[i])
				}
			}
			touched = append(touched, run)
		}
		switch r.Secret {
		case "yes":
			yes++
			status := Status("")
			for _, it := range match {
				switch {
				case it.Action == Migrated:
					status = Migrated
					explained[it] = true
				case it.Action == Reported && it.Reason != "":
					if status == "" {
						status = Reported
					}
					explained[it] = true
				}
			}
			switch status {
			case Migrated:
				migrated++
			case Reported:
				reported++
			default:
				t.Errorf("missed %s (%d items matched)", r, len(match))
			}
		case "ambiguous":
			for _, it := range match {
				explained[it] = true
			}
		case "no", "file-ref":
			for _, it := range match {
				if it.Action != Skipped {
					fp++
					t.Errorf("false positive %s: %s %s", r, it.Action, it.Reason)
				}
			}
			// Untouched: the variable is still there with its value.
			for _, run := range touched {
				old, ok := run.before[r.Service][r.Variable]
				if !ok {
					continue
				}
				now, ok := run.after[r.Service][r.Variable]
				assert.Check(t, ok, "%s: gone after the migration", r)
				assert.Check(t, ok && (old == nil) == (now == nil) && (old == nil || *old == *now), "%s: changed by the migration", r)
			}
		}
	}
	// A flagged item no yes/ambiguous row accounts for is a false positive
	// too, even without a row.
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].id < runs[j].id })
	for _, run := range runs {
		for i := range run.items {
			it := &run.items[i]
			if it.Action != Skipped && !explained[it] {
				fp++
				t.Errorf("false positive (no row) %s: %s.%s %s", run.id, it.Service, it.Variable, it.Action)
			}
		}
	}
	recall := 100 * float64(migrated+reported) / float64(yes)
	t.Logf("migrate corpus: %d projects, yes rows %d, migrated %d, reported %d, recall %.1f%%, false positives %d",
		projects, yes, migrated, reported, recall, fp)
	assert.Check(t, projects >= 35 && yes > 0)
	assert.Check(t, is.Equal(migrated+reported, yes), "recall below 100%%")
	assert.Check(t, is.Equal(fp, 0))
}
