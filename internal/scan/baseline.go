package scan

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker-vault/docker-vault/internal/atomicfile"
)

// SuppressedBaseline is Finding.Suppressed for a finding the baseline
// accepts.
const SuppressedBaseline = "baseline"

// baselineVersion is the version of the baseline file's format.
const baselineVersion = 1

// Baseline is the findings a team accepted, by fingerprint: a file meant to
// be committed. Fingerprints hash where a finding is and what names it,
// never a value; the rule and location are there for the people who read
// the file and are not compared.
type Baseline struct {
	Version  int             `json:"version"`
	Findings []BaselineEntry `json:"findings"`
}

// BaselineEntry is one accepted finding.
type BaselineEntry struct {
	Fingerprint string `json:"fingerprint"`
	Rule        string `json:"rule"`
	Location    string `json:"location"`
	Service     string `json:"service,omitempty"`
	Variable    string `json:"variable,omitempty"`
	Secret      string `json:"secret,omitempty"`
}

// NewBaseline accepts every finding that is not suppressed in the source
// (an ignore comment or an x-vault exclude entry needs no baseline entry);
// those a previous baseline accepted stay accepted.
func NewBaseline(fs []Finding) *Baseline {
	b := &Baseline{Version: baselineVersion, Findings: []BaselineEntry{}}
	for _, f := range fs {
		if f.Suppressed != "" && f.Suppressed != SuppressedBaseline {
			continue
		}
		b.Findings = append(b.Findings, BaselineEntry{
			Fingerprint: f.Fingerprint, Rule: f.Rule, Location: f.Location(),
			Service: f.Service, Variable: f.Variable, Secret: f.Secret,
		})
	}
	return b
}

// WriteBaseline writes b to path atomically, readable by all (it is
// committed with the project).
func WriteBaseline(path string, b *Baseline) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("failed to write baseline %s: %w", path, err)
	}
	if err := atomicfile.WriteFilePerm(filepath.Dir(abs), abs, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("failed to write baseline %s: %w", path, err)
	}
	return nil
}

// ReadBaseline reads a baseline WriteBaseline wrote.
func ReadBaseline(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read baseline: %w", err)
	}
	var b Baseline
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("invalid baseline %s: %w", path, err)
	}
	if b.Version != baselineVersion {
		return nil, fmt.Errorf("invalid baseline %s: version %d is not %d (written by another docker vault?)", path, b.Version, baselineVersion)
	}
	for i, e := range b.Findings {
		if e.Fingerprint == "" {
			return nil, fmt.Errorf("invalid baseline %s: finding %d has no fingerprint", path, i+1)
		}
	}
	return &b, nil
}

// Apply marks the findings b accepts as suppressed (SuppressedBaseline),
// leaving the ones suppressed in the source as they are, and returns how
// many of b's entries matched no finding: accepted findings since fixed,
// which the next --write-baseline drops.
func (b *Baseline) Apply(fs []Finding) (stale int) {
	accepted := map[string]bool{}
	for _, e := range b.Findings {
		accepted[e.Fingerprint] = false
	}
	for i := range fs {
		if _, ok := accepted[fs[i].Fingerprint]; !ok {
			continue
		}
		accepted[fs[i].Fingerprint] = true
		if fs[i].Suppressed == "" {
			fs[i].Suppressed = SuppressedBaseline
		}
	}
	for _, used := range accepted {
		if !used {
			stale++
		}
	}
	return stale
}
