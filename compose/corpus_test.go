//go:build corpus

package compose

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/docker-vault/docker-vault/internal/corpus"
	"github.com/docker-vault/docker-vault/internal/imageinfo"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// corpusLoad is one way a corpus project is loaded (internal/corpus.Loads).
type corpusLoad = corpus.Load

// corpusAllowMiss documents yes rows the tool cannot find; each needs a
// reason. Empty: every yes row is found.
var corpusAllowMiss = map[string]string{}

func loadCorpus(t *testing.T, dir string) map[string][]Finding {
	return loadCorpusWith(t, dir, func(*Project) DetectOptions { return DetectOptions{} })
}

// loadCorpusWith is loadCorpus with the Detect options opts gives for each
// loaded project.
func loadCorpusWith(t *testing.T, dir string, opts func(*Project) DetectOptions) map[string][]Finding {
	entries, err := os.ReadDir(dir)
	assert.NilError(t, err)
	out := map[string][]Finding{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		id := e.Name()[:2]
		for _, l := range corpus.Loads(e.Name()) {
			files := l.Files
			p, err := Load(context.Background(), LoadOptions{
				Files:         files,
				WorkingDir:    filepath.Join(dir, e.Name()),
				NoConsistency: l.NoConsistency,
			})
			if l.Err != "" {
				assert.ErrorContains(t, err, l.Err, e.Name())
				continue
			}
			assert.NilError(t, err, e.Name())
			r, err := Detect(p, opts(p))
			assert.NilError(t, err, e.Name())
			out[id] = append(out[id], r.Findings...)
			if os.Getenv("COMPOSE_CORPUS_DUMP") != "" {
				var b strings.Builder
				r.WriteTable(&b, true)
				t.Logf("%s %v\n%s", e.Name(), files, b.String())
			}
		}
	}
	return out
}

// rowMatches reports whether a finding is the one an expected row judges.
func rowMatches(r corpus.Row, f Finding) bool {
	switch {
	case strings.HasSuffix(r.Service, " (healthcheck)"):
		return f.Service == strings.TrimSuffix(r.Service, " (healthcheck)") && f.Source.Kind == SourceHealthcheck
	case r.Service == "<Dockerfile>":
		return f.Source.Kind == SourceDockerfile && f.Variable == r.Variable
	}
	if f.Source.Kind == SourceDockerfile || f.Source.Kind == SourceHealthcheck || f.Source.Kind == SourceCommand || f.Source.Kind == SourceBuildArg {
		return false
	}
	return f.Service == r.Service && f.Variable == r.Variable
}

func flagged(f Finding) bool { return f.Action == ActionMigrate || f.Action == ActionReport }

var fileVarRE = regexp.MustCompile(`[A-Za-z0-9_]+__?FILE\b`)

// TestCorpus scores Detect on the 35 real projects against the human
// judgment in expected.tsv: every yes row must be migrated or reported with
// a reason, no no/file-ref row may be, and nothing the judgment does not
// call a secret may be flagged either.
func TestCorpus(t *testing.T) {
	dir := corpus.Dir(t)
	rows := corpus.Expected(t, dir)
	found := loadCorpus(t, dir)

	yes, hit, fp := 0, 0, 0
	explained := map[string]map[int]bool{} // flagged findings a yes/ambiguous row accounts for
	for _, r := range rows {
		fs := found[r.ID]
		var match []int
		for i, f := range fs {
			if rowMatches(r, f) {
				match = append(match, i)
			}
		}
		if explained[r.ID] == nil {
			explained[r.ID] = map[int]bool{}
		}
		switch r.Secret {
		case "yes":
			yes++
			ok := false
			for _, i := range match {
				if flagged(fs[i]) && fs[i].Reason != "" {
					ok = true
					explained[r.ID][i] = true
				}
			}
			if ok {
				hit++
			} else if why, allowed := corpusAllowMiss[r.String()]; allowed {
				t.Logf("allowed miss %s: %s", r, why)
				hit++
			} else {
				t.Errorf("missed %s (%d findings matched)", r, len(match))
			}
		case "ambiguous":
			for _, i := range match {
				explained[r.ID][i] = true
			}
		case "no", "file-ref":
			for _, i := range match {
				if flagged(fs[i]) {
					fp++
					t.Errorf("false positive %s: %s", r, fs[i])
				}
				if r.Secret == "file-ref" {
					assert.Check(t, is.Equal(fs[i].Verdict, VerdictFileRef), r.String())
				}
			}
		}
		checkFileSupport(t, r, fs, match)
	}
	// A flagged finding no yes/ambiguous row accounts for is a false
	// positive too, even where expected.tsv has no row for it.
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for i, f := range found[id] {
			if flagged(f) && !explained[id][i] {
				fp++
				t.Errorf("false positive (no row) %s: %s", id, f)
			}
		}
	}
	recall := 100 * float64(hit) / float64(yes)
	t.Logf("corpus: %d yes rows, recall %.1f%%, false positives %d", yes, recall, fp)
	assert.Check(t, yes > 0)
	assert.Check(t, is.Equal(hit, yes), "recall below 100%%")
	assert.Check(t, is.Equal(fp, 0))
}

// checkFileSupport compares the file variable chosen with expected.tsv's
// file_support column where the column is definite: "X_FILE (...)" means
// migrate through X_FILE, "none ..." means report.
func checkFileSupport(t *testing.T, r corpus.Row, fs []Finding, match []int) {
	t.Helper()
	if r.Secret != "yes" || len(match) == 0 || r.Service == "<Dockerfile>" || strings.Contains(r.Service, "(") {
		return
	}
	col := r.FileSupport
	if strings.Contains(col, "verify") || strings.Contains(col, "likely") {
		return
	}
	want := ""
	for _, m := range fileVarRE.FindAllString(col, -1) {
		if m == r.Variable+"_FILE" || m == r.Variable+"__FILE" {
			want = m
		}
	}
	for _, i := range match {
		f := fs[i]
		switch {
		case want != "":
			assert.Check(t, is.Equal(f.Action, ActionMigrate), "%s: %s", r, f.Reason)
			assert.Check(t, is.Equal(f.FileVariable, want), r.String())
		case strings.HasPrefix(col, "none"):
			assert.Check(t, is.Equal(f.Action, ActionReport), "%s: %s", r, f.Reason)
		}
	}
}

// fakeImages reads every service's image as one with /bin/sh, an
// entrypoint and a cmd; with table, its entrypoint reads the file
// variables the built-in table knows for it (as the official images'
// scripts do), else none.
func fakeImages(table bool) func(*Project) DetectOptions {
	return func(p *Project) DetectOptions {
		images := map[string]ImageInfo{}
		for name, svc := range p.Compose.Services {
			img := &imageinfo.Image{Ref: svc.Image, ID: "sha256:fake", Shell: true,
				Entrypoint: []string{"/usr/local/bin/docker-entrypoint.sh"}, Cmd: []string{"serve"}}
			if table {
				img.Files.Vars = map[string]string{}
				for v := range svc.Environment {
					if fs, ok := BuiltinFileSupport(svc.Image, v); ok && svc.Image != "" {
						img.Files.Vars[v] = fs.Variable
					}
				}
			}
			images[name] = ImageInfo{Image: img}
		}
		return DetectOptions{Images: images}
	}
}

// TestCorpusMigratesEverything: with every image read, having /bin/sh and
// an entrypoint, every secret on a yes row is migrated (through a file
// variable where the image reads one, else the entrypoint wrapper), and
// detection itself is unchanged: recall 100%, no false positive. The
// exceptions are copies in command: and healthcheck: strings, and ARG/ENV
// of a Dockerfile (build time: no wrapper reaches them); the test lists
// the ones it finds.
func TestCorpusMigratesEverything(t *testing.T) {
	dir := corpus.Dir(t)
	rows := corpus.Expected(t, dir)
	for _, table := range []bool{false, true} {
		found := loadCorpusWith(t, dir, fakeImages(table))
		var exceptions []string
		yes, migrated := 0, 0
		for _, r := range rows {
			if r.Secret != "yes" {
				if r.Secret == "no" || r.Secret == "file-ref" {
					for _, f := range found[r.ID] {
						if rowMatches(r, f) {
							assert.Check(t, !flagged(f), "false positive %s: %s", r, f)
						}
					}
				}
				continue
			}
			matched := 0
			for _, f := range found[r.ID] {
				if !rowMatches(r, f) {
					continue
				}
				matched++
				yes++
				switch f.Source.Kind {
				case SourceHealthcheck, SourceCommand, SourceDockerfile, SourceBuildArg:
					assert.Check(t, is.Equal(f.Action, ActionReport), "%s: %s", r, f)
					exceptions = append(exceptions, fmt.Sprintf("%s: %s (%s)", r, f.Source.Kind, f.Reason))
					continue
				}
				if assert.Check(t, is.Equal(f.Action, ActionMigrate), "%s: %s: %s", r, f, f.Reason) {
					migrated++
				}
				want := ViaEntrypoint
				if table && f.FileVariable != "" {
					want = ViaFileVariable
				}
				assert.Check(t, is.Equal(f.Via, want), "%s: %s", r, f)
				if !table {
					assert.Check(t, is.Equal(f.FileVariable, ""), "%s: %s", r, f)
				}
			}
			assert.Check(t, matched > 0, "missed %s", r)
		}
		// What the fake image reads from files matches the table's answer
		// in expected.tsv's file_support column.
		if table {
			for _, r := range rows {
				var match []int
				for i, f := range found[r.ID] {
					if rowMatches(r, f) {
						match = append(match, i)
					}
				}
				checkFileSupportMigrated(t, r, found[r.ID], match)
			}
		}
		t.Logf("table=%v: %d yes findings, %d migrated; exceptions:\n%s", table, yes, migrated, strings.Join(exceptions, "\n"))
		assert.Check(t, migrated+len(exceptions) == yes)
	}
}

// checkFileSupportMigrated: a yes row whose file_support column names
// VAR_FILE is migrated through it when the image reads it.
func checkFileSupportMigrated(t *testing.T, r corpus.Row, fs []Finding, match []int) {
	t.Helper()
	if r.Secret != "yes" || r.Service == "<Dockerfile>" || strings.Contains(r.Service, "(") {
		return
	}
	col := r.FileSupport
	if strings.Contains(col, "verify") || strings.Contains(col, "likely") {
		return
	}
	for _, m := range fileVarRE.FindAllString(col, -1) {
		if m != r.Variable+"_FILE" && m != r.Variable+"__FILE" {
			continue
		}
		for _, i := range match {
			assert.Check(t, is.Equal(fs[i].FileVariable, m), "%s: %s", r, fs[i].Reason)
		}
	}
}

// The corpus's already-migrated projects are not migrated again.
func TestDetectIdempotentCorpus(t *testing.T) {
	corpusRoot := corpus.Dir(t)
	for _, name := range []string{"04-ac-nginx-golang-postgres", "05-ac-react-express-mysql"} {
		p, err := Load(context.Background(), LoadOptions{WorkingDir: filepath.Join(corpusRoot, name)})
		assert.NilError(t, err)
		r, err := Detect(p, DetectOptions{})
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.Count(ActionMigrate)+r.Count(ActionReport), 0), "%s\n%s", name, r)
	}
}

// Load resolves services' env_file itself (to honour a Reload overlay);
// the result must be what compose-go gives.
func TestLoadEnvironmentMatchesComposeGo(t *testing.T) {
	corpusRoot := corpus.Dir(t)
	for _, tc := range []struct {
		project string
		files   []string
	}{
		{"02-ac-postgresql-pgadmin", nil},
		{"03-ac-pihole-cloudflared", nil},
		{"29-cg-full-example", []string{"full-example.yml"}},
		{"30-cg-include-extends", []string{"compose-include.yaml"}},
		{"30-cg-include-extends", []string{"compose-test-extends.yaml"}},
		{"32-cg-env-files", []string{"compose-with-env-files.yaml"}},
		{"34-dc-env-file-optional", nil},
	} {
		dir := filepath.Join(corpusRoot, tc.project)
		ours, err := Load(context.Background(), LoadOptions{WorkingDir: dir, Files: tc.files, NoConsistency: true})
		assert.NilError(t, err, tc.project)

		var abs []string
		for _, f := range tc.files {
			abs = append(abs, filepath.Join(dir, f))
		}
		opts, err := cli.NewProjectOptions(abs,
			cli.WithWorkingDirectory(dir),
			cli.WithEnvFiles(),
			cli.WithDotEnv,
			cli.WithDefaultConfigPath,
			cli.WithConsistency(false),
			cli.WithoutLabelsResolution)
		assert.NilError(t, err)
		theirs, err := opts.LoadProject(context.Background())
		assert.NilError(t, err, tc.project)

		assert.Check(t, is.Equal(len(ours.Compose.Services), len(theirs.Services)), tc.project)
		for name, s := range theirs.Services {
			assert.Check(t, is.DeepEqual(ours.Compose.Services[name].Environment, s.Environment), "%s %s", tc.project, name)
		}
	}
}
