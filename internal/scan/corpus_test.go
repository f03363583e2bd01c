//go:build corpus

package scan

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/corpus"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// corpusLoad is one way a corpus project is loaded (internal/corpus.Loads).
type corpusLoad = corpus.Load

// scanCorpus runs ScanProject on every project of the corpus, by id.
func scanCorpus(t *testing.T, dir string) map[string][]Finding {
	entries, err := os.ReadDir(dir)
	assert.NilError(t, err)
	out := map[string][]Finding{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		for _, l := range corpus.Loads(e.Name()) {
			pdir := filepath.Join(dir, e.Name())
			res, err := ScanProject(context.Background(), ProjectOptions{
				Load: compose.LoadOptions{
					Files:         l.Files,
					WorkingDir:    pdir,
					Profiles:      []string{"*"},
					NoConsistency: l.NoConsistency,
				},
				Root: pdir,
			})
			if l.Err != "" {
				assert.ErrorContains(t, err, l.Err, e.Name())
				continue
			}
			assert.NilError(t, err, e.Name())
			out[e.Name()[:2]] = append(out[e.Name()[:2]], res.Findings...)
		}
	}
	return out
}

// reaches reports whether f is where service.variable's value is held:
// the finding of that variable, or the env file line interpolated into it
// (named in the message).
func reaches(f Finding, service, variable string) bool {
	if f.Variable == variable && slices.Contains(f.Services, service) {
		return true
	}
	rest, ok := strings.CutPrefix(f.Message, "interpolated into ")
	if !ok {
		return false
	}
	list, _, _ := strings.Cut(rest, ": ")
	return slices.Contains(strings.Split(list, ", "), service+"."+variable)
}

// corpusRowMatches: the finding a row of expected.tsv judges.
func corpusRowMatches(r corpus.Row, f Finding) bool {
	switch {
	case strings.HasSuffix(r.Service, " (healthcheck)"):
		return f.Rule == RuleHealthcheck && slices.Contains(f.Services, strings.TrimSuffix(r.Service, " (healthcheck)"))
	case r.Service == "<Dockerfile>":
		return f.Rule == RuleDockerfile && f.Variable == r.Variable
	}
	switch f.Rule {
	case RuleEnvironment, RuleEnvFile:
		return reaches(f, r.Service, r.Variable)
	}
	return false
}

// TestScanCorpus: on the 35 real projects, every yes row of expected.tsv
// is found by ScanProject, and no no or file-ref row is reported.
func TestScanCorpus(t *testing.T) {
	dir := corpus.Dir(t)
	rows := corpus.Expected(t, dir)
	found := scanCorpus(t, dir)

	yes, hit, negative, reported := 0, 0, 0, 0
	for _, r := range rows {
		var match []Finding
		for _, f := range found[r.ID] {
			if f.Suppressed == "" && corpusRowMatches(r, f) {
				match = append(match, f)
			}
		}
		switch r.Secret {
		case "yes":
			yes++
			if len(match) > 0 {
				hit++
			} else {
				t.Errorf("missed %s", r)
			}
		case "no", "file-ref":
			negative++
			if len(match) > 0 {
				reported++
				t.Errorf("reported %s: %s at %s: %s", r, match[0].Rule, match[0].Location(), match[0].Message)
			}
		}
	}
	t.Logf("scan corpus: %d/%d yes rows found, %d of %d no/file-ref rows reported", hit, yes, reported, negative)
	assert.Check(t, yes > 0 && negative > 0)
	assert.Check(t, is.Equal(hit, yes), "every yes row must be found")
	assert.Check(t, is.Equal(reported, 0), "no no/file-ref row may be reported")
}
