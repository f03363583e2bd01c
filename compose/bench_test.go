package compose

import (
	"context"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/composebench"
	"gotest.tools/v3/assert"
)

// baseline times the compose-go load a few times and keeps the fastest,
// so ratios compare against the same machine in the same run.
func baseline(tb testing.TB, dir string) time.Duration {
	best := time.Duration(1 << 62)
	for i := 0; i < 3; i++ {
		start := time.Now()
		composebench.ComposeGoLoad(tb, dir)
		if d := time.Since(start); d < best {
			best = d
		}
	}
	return best
}

func BenchmarkLoadOnly(b *testing.B) {
	dir := composebench.Project(b, 1000)
	b.ResetTimer()
	for b.Loop() {
		composebench.ComposeGoLoad(b, dir)
	}
}

// BenchmarkLoad is this package's Load: compose-go plus the raw YAML and
// env files it keeps for tracing.
func BenchmarkLoad(b *testing.B) {
	dir := composebench.Project(b, 1000)
	base := baseline(b, dir)
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		_, err := Load(context.Background(), LoadOptions{WorkingDir: dir})
		assert.NilError(b, err)
		n++
	}
	b.ReportMetric(float64(time.Since(start))/float64(n)/float64(base), "x-compose-go")
}

// BenchmarkDetect is detection alone on a loaded project; x-compose-go is
// its cost as a fraction of compose-go's load, and added-x-compose-go what
// Load and Detect together add on top of compose-go's load.
func BenchmarkDetect(b *testing.B) {
	dir := composebench.Project(b, 1000)
	base := baseline(b, dir)
	loadStart := time.Now()
	p, err := Load(context.Background(), LoadOptions{WorkingDir: dir})
	assert.NilError(b, err)
	load := time.Since(loadStart)
	b.ResetTimer()
	start := time.Now()
	n := 0
	var r *Report
	for b.Loop() {
		r, err = Detect(p, DetectOptions{})
		assert.NilError(b, err)
		n++
	}
	per := time.Since(start) / time.Duration(n)
	b.StopTimer()
	assert.Equal(b, len(r.Findings), 1000*10)
	b.ReportMetric(float64(per)/float64(base), "x-compose-go")
	b.ReportMetric(float64(load+per-base)/float64(base), "added-x-compose-go")
}
