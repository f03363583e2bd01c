package scan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/docker/cli/cli/command/formatter"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
)

// sampleFindings are one finding of each kind of place: a compose file, a
// .env line used by two services, a Dockerfile, an image's config, a layer
// file and a copy of a Key Vault value; the last is suppressed in source.
func sampleFindings() []Finding {
	fs := []Finding{
		{Rule: RuleEnvironment, Severity: SeverityError, File: "compose.yaml", Line: 7, Column: 21, Service: "db", Variable: "POSTGRES_PASSWORD",
			Secret: "postgres_password", Message: "POSTGRES_PASSWORD is a password by its name", Fix: "run `docker vault migrate`"},
		{Rule: RuleEnvFile, Severity: SeverityError, File: ".env", Line: 2, Column: 1, Service: "api", Services: []string{"api", "worker"}, Variable: "API_TOKEN",
			Message: "API_TOKEN is a token by its name", Fix: "run `docker vault migrate`"},
		{Rule: RuleDockerfile, Severity: SeverityWarning, File: "app/Dockerfile", Line: 3, Column: 5, Variable: "NPM_TOKEN",
			Message: "ARG NPM_TOKEN holds a token", Fix: "RUN --mount=type=secret,id=npm_token (line 5)"},
		{Rule: RuleImageEnv, Severity: SeverityError, Image: "shop/api:1.2", Variable: "STRIPE_KEY", Message: "STRIPE_KEY is a key by its name", Fix: "rebuild without the ENV"},
		{Rule: RuleImageLayer, Severity: SeverityError, Image: "shop/api:1.2", Layer: "sha256:4f2a", Path: "/app/config prod.json", Secret: "stripe-key", Encoding: "base64",
			Message: "the value of Key Vault secret stripe-key is in this file (base64)", Fix: "rebuild without it and rotate the secret"},
		{Rule: RuleVaultValue, Severity: SeverityError, File: "docs/setup.md", Line: 12, Column: 9, Secret: "db-password", Encoding: "raw",
			Message: "the value of Key Vault secret db-password is in this file", Fix: "remove it", Suppressed: "# docker-vault:ignore example from the docs"},
	}
	SetFingerprints(fs)
	return fs
}

func render(t *testing.T, format string, fs []Finding) string {
	t.Helper()
	var buf bytes.Buffer
	ctx := formatter.Context{Output: &buf, Format: formatter.Format(format)}
	err := ctx.Write(&formatter.HeaderContext{Header: RowHeader}, func(write func(formatter.SubContext) error) error {
		for _, r := range Rows(fs) {
			if err := write(r); err != nil {
				return err
			}
		}
		return nil
	})
	assert.NilError(t, err)
	return buf.String()
}

func TestTableGolden(t *testing.T) {
	golden.Assert(t, render(t, DefaultTable, Unsuppressed(sampleFindings())), "table.golden")
}

func TestJSONGolden(t *testing.T) {
	out := render(t, "json", sampleFindings())
	golden.Assert(t, out, "json.golden")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	assert.Equal(t, len(lines), len(sampleFindings()))
	for i, l := range lines {
		var m map[string]any
		assert.NilError(t, json.Unmarshal([]byte(l), &m), "line %d", i+1)
		for _, k := range []string{"Rule", "Severity", "File", "Line", "Column", "Service", "Variable", "Secret", "Fix", "Fingerprint", "Suppressed"} {
			_, ok := m[k]
			assert.Check(t, ok, "line %d lacks %s", i+1, k)
		}
	}
	// Line and column are numbers, as in docker's own --format json.
	var first map[string]any
	assert.NilError(t, json.Unmarshal([]byte(lines[0]), &first))
	assert.Equal(t, first["Line"], float64(7))
	assert.Equal(t, first["Suppressed"], "")
	var last map[string]any
	assert.NilError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &last))
	assert.Equal(t, last["Suppressed"], "# docker-vault:ignore example from the docs")
}

func TestQuietFormat(t *testing.T) {
	fs := sampleFindings()
	out := render(t, QuietFormat, fs)
	assert.Equal(t, out, fs[0].Fingerprint+"\n"+fs[1].Fingerprint+"\n"+fs[2].Fingerprint+"\n"+fs[3].Fingerprint+"\n"+fs[4].Fingerprint+"\n"+fs[5].Fingerprint+"\n")
}

func TestSummary(t *testing.T) {
	r := &Result{Findings: sampleFindings(), Files: 12}
	assert.Equal(t, Summary(r), "5 secrets found (1 suppressed) in 12 files")
	r.Errors = []FileError{{File: "secret.env", Err: "permission denied"}}
	assert.Equal(t, Summary(r), "5 secrets found (1 suppressed) in 12 files; 1 file could not be read")
	assert.Equal(t, Summary(&Result{Files: 1}), "no secrets found in 1 file")
	assert.DeepEqual(t, Count(r), Counts{Findings: 5, Suppressed: 1, Errors: 1})

	var buf bytes.Buffer
	r.Notes = []string{"image shop/api:1.2: base from the history's last ADD"}
	WriteReport(&buf, r)
	assert.Equal(t, buf.String(), `error: secret.env: permission denied
note: image shop/api:1.2: base from the history's last ADD
`)
	buf.Reset()
	WriteReport(&buf, &Result{})
	assert.Equal(t, buf.String(), "")
}

func TestMerge(t *testing.T) {
	a := &Result{Findings: sampleFindings()[:3], Files: 2, Notes: []string{"a"}}
	b := &Result{Findings: sampleFindings()[1:], Files: 3, Errors: []FileError{{File: "x", Err: "denied"}}}
	m := Merge(a, nil, b)
	assert.Equal(t, len(m.Findings), len(sampleFindings()))
	assert.DeepEqual(t, m.Findings, sampleFindings())
	assert.Equal(t, m.Files, 5)
	assert.DeepEqual(t, m.Notes, []string{"a"})
	assert.Equal(t, len(m.Errors), 1)

	// Two copies of one value in one file: both kept, each its own
	// fingerprint.
	two := []Finding{
		{Rule: RuleVaultValue, File: "a.txt", Line: 1, Secret: "s", Encoding: "raw"},
		{Rule: RuleVaultValue, File: "a.txt", Line: 9, Secret: "s", Encoding: "raw"},
	}
	m = Merge(&Result{Findings: two})
	assert.Equal(t, len(m.Findings), 2)
	assert.Check(t, m.Findings[0].Fingerprint != m.Findings[1].Fingerprint)
}
