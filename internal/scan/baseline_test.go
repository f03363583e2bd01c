package scan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
)

func TestBaselineRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "scan-baseline.json")
	fs := sampleFindings()
	assert.NilError(t, WriteBaseline(path, NewBaseline(fs)))

	data, err := os.ReadFile(path)
	assert.NilError(t, err)
	golden.Assert(t, string(data), "baseline.golden")
	fi, err := os.Stat(path)
	assert.NilError(t, err)
	assert.Equal(t, fi.Mode().Perm(), os.FileMode(0o644))
	// The work folder of the atomic write is gone.
	entries, err := os.ReadDir(filepath.Dir(path))
	assert.NilError(t, err)
	assert.Equal(t, len(entries), 1)

	b, err := ReadBaseline(path)
	assert.NilError(t, err)
	// The finding suppressed in source is not written: it needs no entry.
	assert.Equal(t, len(b.Findings), 5)

	again := sampleFindings()
	stale := b.Apply(again)
	assert.Equal(t, stale, 0)
	for _, f := range again[:5] {
		assert.Equal(t, f.Suppressed, SuppressedBaseline, f.Rule)
	}
	assert.Equal(t, again[5].Suppressed, "# docker-vault:ignore example from the docs")
	assert.Equal(t, Count(&Result{Findings: again}).Findings, 0)

	// A new finding is not accepted; a fixed one leaves a stale entry.
	changed := append(sampleFindings()[1:], Finding{Rule: RuleLabel, Severity: SeverityError, File: "compose.yaml", Line: 30, Service: "web", Variable: "traefik.auth"})
	SetFingerprints(changed)
	stale = b.Apply(changed)
	assert.Equal(t, stale, 1)
	assert.Equal(t, changed[len(changed)-1].Suppressed, "")

	// Rewriting from a run that used the baseline keeps what it accepted.
	assert.Equal(t, len(NewBaseline(again).Findings), 5)
}

func TestBaselineFollowsLineMoves(t *testing.T) {
	fs := sampleFindings()
	b := NewBaseline(fs)
	moved := sampleFindings()
	moved[0].Line, moved[0].Column = 40, 3
	SetFingerprints(moved)
	assert.Equal(t, b.Apply(moved), 0)
	assert.Equal(t, moved[0].Suppressed, SuppressedBaseline)
}

func TestReadBaselineErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		assert.NilError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	_, err := ReadBaseline(filepath.Join(dir, "none.json"))
	assert.ErrorContains(t, err, "failed to read baseline")
	_, err = ReadBaseline(write("bad.json", "{"))
	assert.ErrorContains(t, err, "invalid baseline")
	_, err = ReadBaseline(write("v2.json", `{"version": 2, "findings": []}`))
	assert.ErrorContains(t, err, "version 2 is not 1")
	_, err = ReadBaseline(write("empty.json", `{"version": 1, "findings": [{"rule": "label"}]}`))
	assert.ErrorContains(t, err, "finding 1 has no fingerprint")
	b, err := ReadBaseline(write("ok.json", `{"version": 1, "findings": []}`))
	assert.NilError(t, err)
	assert.Check(t, is.Len(b.Findings, 0))
}

func TestBaselineHoldsNoValue(t *testing.T) {
	const value = "hunter2-correct-horse"
	fs := []Finding{{Rule: RuleVaultValue, Severity: SeverityError, File: "a.txt", Line: 1, Secret: "db-password", Encoding: "raw", Message: "found"}}
	SetFingerprints(fs)
	path := filepath.Join(t.TempDir(), "b.json")
	assert.NilError(t, WriteBaseline(path, NewBaseline(fs)))
	data, err := os.ReadFile(path)
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(data), value))
	assert.Check(t, strings.Contains(string(data), fs[0].Fingerprint))
}
