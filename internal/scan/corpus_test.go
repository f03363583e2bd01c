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

// How each corpus project is loaded, as compose/corpus_test.go loads it:
// the -f files where default discovery is not how its files are meant to
// be used, and the error expected where docker compose itself rejects it.
type corpusLoad struct {
	files []string
	err   string
}

var corpusLoads = map[string][]corpusLoad{
	"29-cg-full-example":    {{files: []string{"full-example.yml"}}},
	"30-cg-include-extends": {{files: []string{"compose-include.yaml"}}, {files: []string{"compose-test-extends.yaml"}}},
	"31-cg-extends-reset": {
		{files: []string{"reset.yaml"}},
		{files: []string{"base.yaml"}, err: "services.nil must be a mapping"},
	},
	"32-cg-env-files":        {{}, {files: []string{"compose-with-env-files.yaml"}}},
	"33-dc-env-file-missing": {{err: "/doesnotexist/.env"}},
}

var corpusNoConsistency = map[string]bool{"22-dl-yourls": true, "29-cg-full-example": true}

// scanCorpus runs ScanProject on every project of the corpus, by id.
func scanCorpus(t *testing.T, dir string) map[string][]Finding {
	entries, err := os.ReadDir(dir)
	assert.NilError(t, err)
	out := map[string][]Finding{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		loads, ok := corpusLoads[e.Name()]
		if !ok {
			loads = []corpusLoad{{}}
		}
		for _, l := range loads {
			pdir := filepath.Join(dir, e.Name())
			res, err := ScanProject(context.Background(), ProjectOptions{
				Load: compose.LoadOptions{
					Files:         l.files,
					WorkingDir:    pdir,
					Profiles:      []string{"*"},
					NoConsistency: corpusNoConsistency[e.Name()],
				},
				Root: pdir,
			})
			if l.err != "" {
				assert.ErrorContains(t, err, l.err, e.Name())
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
