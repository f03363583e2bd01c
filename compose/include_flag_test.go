package compose

import (
	"context"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

// TestIncludeExcludeFlags: an entry given on the command line
// (DetectOptions, from migrate's --include/--exclude) is named as such in
// reasons and warnings, never as x-vault, and x-vault's own entries still
// say x-vault.
func TestIncludeExcludeFlags(t *testing.T) {
	dir := fs.NewDir(t, "xvault", fs.WithFile("compose.yaml", xvaultCompose))
	p, err := Load(context.Background(), LoadOptions{WorkingDir: dir.Path()})
	assert.NilError(t, err)
	r, err := Detect(p, DetectOptions{
		Include: []string{"worker.SESSION_SEED", "api.SESSION_SEED", "NO_SUCH_VAR"},
		Exclude: []string{"api.API_TOKEN", "db.POSTGRES_PASSWORD", "NOT_HERE"},
	})
	assert.NilError(t, err)
	for _, tc := range []struct {
		service, variable string
		verdict           Verdict
		reason            string
	}{
		{"worker", "SESSION_SEED", VerdictSecret, "included by --include"},
		{"api", "SESSION_SEED", VerdictSecret, "included by --include and x-vault"},
		{"api", "LICENSE_CODE", VerdictSecret, "included by x-vault"},
		{"api", "API_TOKEN", VerdictNotSecret, "excluded by --exclude"},
		{"db", "POSTGRES_PASSWORD", VerdictNotSecret, "excluded by --exclude and x-vault"},
	} {
		f := finding(t, r, tc.service, tc.variable)
		assert.Check(t, is.Equal(f.Verdict, tc.verdict), "%s.%s: %s", tc.service, tc.variable, f.Reason)
		assert.Check(t, is.Contains(f.Reason, tc.reason), "%s.%s", tc.service, tc.variable)
		if tc.reason == "included by --include" || tc.reason == "excluded by --exclude" {
			assert.Check(t, !is.Contains(f.Reason, "x-vault")().Success(), "%s.%s: %s", tc.service, tc.variable, f.Reason)
		}
	}
	assert.Check(t, is.DeepEqual(r.Warnings, []string{
		"--include NO_SUCH_VAR matches no variable",
		"--exclude NOT_HERE matches no variable",
		"x-vault entry NOT_A_VARIABLE matches no variable",
	}))
}
