//go:build corpus

package migrate

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/corpus"
)

// The dry-run diff of every corpus project (each load docker compose
// accepts) holds no value Detect judged a secret, nor a line of one.
func TestDiffCorpusHoldsNoValue(t *testing.T) {
	ctx := context.Background()
	src := corpus.Dir(t)
	entries, err := os.ReadDir(src)
	assert.NilError(t, err)
	diffs := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		for _, l := range corpus.Loads(e.Name()) {
			if l.Err != "" {
				continue
			}
			dir := t.TempDir()
			copyTree(t, filepath.Join(src, e.Name()), dir)
			lo := compose.LoadOptions{Files: l.Files, WorkingDir: dir, NoConsistency: l.NoConsistency, Environ: []string{}}
			p, err := compose.Load(ctx, lo)
			assert.NilError(t, err, e.Name())
			r, err := compose.Detect(p, compose.DetectOptions{})
			assert.NilError(t, err, e.Name())
			plan, err := Make(ctx, p, r, Options{})
			assert.NilError(t, err, e.Name())
			if len(plan.Files) > 0 {
				diffs++
			}
			assertNoValueIn(t, dryRunDiff(t, p, r, plan, dir), valueLines(secretValues(r)), e.Name()+" diff")
		}
	}
	assert.Check(t, diffs >= 20, "only %d projects have a diff", diffs)
}
