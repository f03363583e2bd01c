package migrate

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
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
// variables (Load, Detect, Make with its proof: two compose-go loads, the
// second of a larger file, in sequence) against compose-go alone loading
// the same project, interleaved in the same run so both see the same
// machine load; x-load is the ratio (target: at most 2.5).
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

// dryRunOnce is what `docker vault migrate --dry-run` does beyond --check:
// Prepare, then the masked diff of every file the plan writes.
func dryRunOnce(tb testing.TB, dir string) {
	res, err := Prepare(context.Background(), compose.LoadOptions{WorkingDir: dir}, compose.DetectOptions{}, Options{})
	assert.NilError(tb, err)
	m := NewMask(res.Project, res.Report)
	for _, f := range res.Plan.Files {
		assert.NilError(tb, WriteDiff(io.Discard, f, f.Path, m))
	}
}

// BenchmarkDryRun times `migrate --dry-run` against `migrate --check` on
// the same project, interleaved in the same run; x-check is the ratio
// (target: at most 2). The projects are the two the diff used to be
// quadratic on: one value of 1 MB (a PEM-like block of 16,384 lines, and
// one line of a single letter, the worst case for finding the value in a
// line), and 5,000 services, each of which the migration changes.
func BenchmarkDryRun(b *testing.B) {
	for _, tc := range []struct {
		name    string
		project func(testing.TB) string
	}{
		{"value-1MB-block", func(tb testing.TB) string { return bigValueProject(tb, true) }},
		{"value-1MB-line", func(tb testing.TB) string { return bigValueProject(tb, false) }},
		{"services-5000", func(tb testing.TB) string { return composebench.Project(tb, 5000) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := tc.project(b)
			assert.Assert(b, migrateOnce(b, dir).Changed())
			var check, dry time.Duration
			n := 0
			for b.Loop() {
				start := time.Now()
				migrateOnce(b, dir)
				check += time.Since(start)
				start = time.Now()
				dryRunOnce(b, dir)
				dry += time.Since(start)
				n++
			}
			b.ReportMetric(float64(dry)/float64(check), "x-check")
			b.ReportMetric(float64(dry.Milliseconds())/float64(n), "dry-run-ms")
			b.ReportMetric(float64(check.Milliseconds())/float64(n), "check-ms")
		})
	}
}

// bigValueProject writes a project whose one secret is 1 MB: a literal
// block of 64-character lines, or one line of one letter.
func bigValueProject(tb testing.TB, block bool) string {
	dir := tb.TempDir()
	var c strings.Builder
	c.WriteString("services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_USER: app\n")
	if block {
		c.WriteString("      POSTGRES_PASSWORD: |\n")
		rng := rand.New(rand.NewSource(1))
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		line := make([]byte, 64)
		for i := 0; i < 1<<20/64; i++ {
			for j := range line {
				line[j] = alphabet[rng.Intn(len(alphabet))]
			}
			fmt.Fprintf(&c, "        %s\n", line)
		}
	} else {
		fmt.Fprintf(&c, "      POSTGRES_PASSWORD: %s\n", strings.Repeat("a", 1<<20))
	}
	c.WriteString("      POSTGRES_DB: app\n")
	assert.NilError(tb, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(c.String()), 0o600))
	return dir
}
