package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

// jsonArray turns docker's `--format json` output, one JSON object per
// line, into one JSON array of those objects. A line that is not a JSON
// object fails the test.
func jsonArray(t *testing.T, stdout string) []byte {
	t.Helper()
	var rows []json.RawMessage
	for line := range strings.Lines(stdout) {
		var row map[string]any
		assert.NilError(t, json.Unmarshal([]byte(line), &row), "not one JSON object per line: %q", line)
		rows = append(rows, json.RawMessage(strings.TrimSuffix(line, "\n")))
	}
	if rows == nil {
		return []byte("[]")
	}
	b, err := json.Marshal(rows)
	assert.NilError(t, err)
	return b
}

// syncRow is one row of `docker vault sync --format json`.
type syncRow struct {
	Kind, Action, Secret, VaultSecret, SwarmSecret, Version, Path, Reason, Vault string
	Services, OtherServices                                                      []string
}

// syncJSON rebuilds, from the rows of `sync --format json`, the plan
// document the tests read: {vault, swarm: {actions}, files, error}.
func syncJSON(t *testing.T, stdout string) []byte {
	t.Helper()
	var rows []syncRow
	assert.NilError(t, json.Unmarshal(jsonArray(t, stdout), &rows))
	type action struct {
		Action        string   `json:"action"`
		Secret        string   `json:"secret"`
		VaultSecret   string   `json:"vaultSecret,omitempty"`
		SwarmSecret   string   `json:"swarmSecret,omitempty"`
		Version       string   `json:"version,omitempty"`
		Services      []string `json:"services,omitempty"`
		OtherServices []string `json:"otherServices,omitempty"`
		Reason        string   `json:"reason,omitempty"`
	}
	type file struct {
		Secret  string `json:"secret"`
		Path    string `json:"path"`
		Action  string `json:"action"`
		Version string `json:"version,omitempty"`
		Reason  string `json:"reason,omitempty"`
	}
	var doc struct {
		Vault string `json:"vault"`
		Swarm struct {
			Actions []action `json:"actions"`
		} `json:"swarm"`
		Files []file `json:"files"`
		Error string `json:"error,omitempty"`
	}
	var errs []string
	for _, r := range rows {
		doc.Vault = r.Vault
		if r.Action == "error" {
			errs = append(errs, r.Secret+": "+r.Reason)
		}
		if r.Kind == "file" {
			doc.Files = append(doc.Files, file{r.Secret, r.Path, r.Action, r.Version, r.Reason})
			continue
		}
		doc.Swarm.Actions = append(doc.Swarm.Actions, action{r.Action, r.Secret, r.VaultSecret, r.SwarmSecret, r.Version, r.Services, r.OtherServices, r.Reason})
	}
	doc.Error = strings.Join(errs, "; ")
	b, err := json.Marshal(doc)
	assert.NilError(t, err)
	return b
}

// migrateJSON rebuilds, from the rows of `migrate --format json`, the
// document the tests read: {findings: [{service, variable, ...}],
// vaultCheck: [{secret, vaultSecret, action}]}, keys as they were.
func migrateJSON(t *testing.T, stdout string) []byte {
	t.Helper()
	var rows []map[string]any
	assert.NilError(t, json.Unmarshal(jsonArray(t, stdout), &rows))
	doc := map[string]any{}
	findings := []map[string]any{}
	var checks []map[string]any
	seen := map[any]bool{}
	for _, r := range rows {
		if r["VaultAction"] != "" && !seen[r["Secret"]] {
			seen[r["Secret"]] = true
			checks = append(checks, map[string]any{"secret": r["Secret"], "vaultSecret": r["VaultSecret"], "action": r["VaultAction"]})
		}
		if r["Action"] == "convert" {
			continue
		}
		f := map[string]any{}
		for k, v := range r {
			if k != "VaultAction" && k != "VaultSecret" {
				f[strings.ToLower(k[:1])+k[1:]] = v
			}
		}
		findings = append(findings, f)
	}
	doc["findings"] = findings
	if checks != nil {
		doc["vaultCheck"] = checks
	}
	b, err := json.Marshal(doc)
	assert.NilError(t, err)
	return b
}
