package migrate

import (
	"context"
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/composebench"
)

// migrateOnce is what `docker vault migrate --dry-run` does: load, detect,
// plan and re-load the rewritten project to prove it (Prepare).
func migrateOnce(tb testing.TB, dir string) *Plan {
	res, err := Prepare(context.Background(), compose.LoadOptions{WorkingDir: dir}, compose.DetectOptions{}, Options{})
	assert.NilError(tb, err)
	return res.Plan
}

// BenchmarkMigrate times a whole migration plan of 1,000 services x 10
// variables against compose-go alone loading the same project, measured
// interleaved in the same run so both see the same machine load; x-load is
// the ratio (target: at most 2).
func BenchmarkMigrate(b *testing.B) {
	dir := composebench.Project(b, 1000)
	plan := migrateOnce(b, dir)
	c := plan.Counts()
	assert.Assert(b, c[Migrated] >= 1000 && c[Reported] >= 500, "%v", c)
	var load, mig time.Duration
	n := 0
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		composebench.ComposeGoLoad(b, dir)
		load += time.Since(start)
		start = time.Now()
		migrateOnce(b, dir)
		mig += time.Since(start)
		n++
	}
	b.ReportMetric(float64(mig)/float64(load), "x-load")
	b.ReportMetric(float64(mig.Milliseconds())/float64(n), "migrate-ms")
	b.ReportMetric(float64(load.Milliseconds())/float64(n), "load-ms")
}

// BenchmarkMigrateSequential is the same migration without the guess:
// Load, Detect, then Make, as Prepare does for a project the guess declines
// (or on one core). It has no target of its own; it shows what the guess
// saves.
func BenchmarkMigrateSequential(b *testing.B) {
	dir := composebench.Project(b, 1000)
	ctx := context.Background()
	var load, mig time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		composebench.ComposeGoLoad(b, dir)
		load += time.Since(start)
		start = time.Now()
		p, err := compose.Load(ctx, compose.LoadOptions{WorkingDir: dir})
		assert.NilError(b, err)
		r, err := compose.Detect(p, compose.DetectOptions{})
		assert.NilError(b, err)
		_, err = Make(ctx, p, r, Options{})
		assert.NilError(b, err)
		mig += time.Since(start)
		n++
	}
	b.ReportMetric(float64(mig)/float64(load), "x-load")
	b.ReportMetric(float64(mig.Milliseconds())/float64(n), "migrate-ms")
}
