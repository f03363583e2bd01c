package scan

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchTreeFiles is the size of the tree BenchmarkScanTree scans.
const benchTreeFiles = 5000

// benchTree writes a repository of benchTreeFiles files: 40 small compose
// projects (compose.yaml, .env, Dockerfile, an env_file, a .env.sample),
// and ordinary source files in nested folders, some of which say
// PASSWORD. It is committed, so that git grep searches it as it would a
// checkout.
func benchTree(b *testing.B) string {
	b.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		b.Fatalf("git is not installed: BenchmarkScanTree measures ScanPaths against `git grep` over the same tree and needs git in PATH (%v)", err)
	}
	dir := b.TempDir()
	n := 0
	write := func(rel, content string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
		n++
	}
	for i := range 40 {
		p := fmt.Sprintf("services/svc%02d", i)
		write(p+"/compose.yaml", fmt.Sprintf(`services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD}
      POSTGRES_USER: app%[1]d
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U app%[1]d"]
  api:
    build:
      context: .
      args:
        NODE_ENV: production
    env_file: api.env
    environment:
      DATABASE_URL: postgres://app%[1]d:${DB_PASSWORD}@db:5432/app
      LOG_LEVEL: info
    command: ["node", "server.js", "--port", "80%02[1]d"]
`, i))
		write(p+"/.env", fmt.Sprintf("DB_PASSWORD=bench-pw-%d-Xq7rT2\nCOMPOSE_PROJECT_NAME=svc%d\n", i, i))
		write(p+"/.env.sample", "DB_PASSWORD=\nCOMPOSE_PROJECT_NAME=\n")
		write(p+"/api.env", fmt.Sprintf("API_TOKEN=tok-%d-9f8e7d6c5b4a\nFEATURE_FLAGS=a,b,c\n", i))
		write(p+"/Dockerfile", "FROM node:22-alpine\nARG NODE_ENV\nENV APP_HOME=/app\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD [\"node\", \"server.js\"]\n")
	}
	body := strings.Repeat("\t// a line of ordinary source code that says nothing secret at all\n", 30)
	for i := 0; n < benchTreeFiles; i++ {
		rel := fmt.Sprintf("src/mod%02d/pkg%02d/file%04d.go", i%25, (i/25)%8, i)
		extra := ""
		if i%10 == 0 {
			extra = "\t// read PASSWORD from the environment\n"
		}
		write(rel, fmt.Sprintf("package pkg%02d\n\nfunc F%d() {\n%s%s}\n", (i/25)%8, i, body, extra))
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=bench", "-c", "user.email=bench@example.test", "-c", "commit.gpgsign=false", "commit", "-q", "-m", "tree"},
	} {
		cmd := exec.Command(git, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return dir
}

// gitGrep is the fastest of three `git grep -c PASSWORD` over dir.
func gitGrep(b *testing.B, dir string) time.Duration {
	b.Helper()
	best := time.Duration(1 << 62)
	for range 3 {
		cmd := exec.Command("git", "grep", "-c", "PASSWORD")
		cmd.Dir = dir
		start := time.Now()
		out, err := cmd.Output()
		d := time.Since(start)
		if err != nil || len(out) == 0 {
			b.Fatalf("git grep -c PASSWORD: %v", err)
		}
		best = min(best, d)
	}
	return best
}

// BenchmarkScanTree scans a tree of 5,000 files (x-git-grep: the time
// of one ScanPaths over the time of `git grep -c PASSWORD` on the same
// tree, measured in the same run; the target is 1.5 at most).
func BenchmarkScanTree(b *testing.B) {
	dir := benchTree(b)
	base := gitGrep(b, dir)
	ctx := context.Background()
	var res *Result
	b.ResetTimer()
	start := time.Now()
	n := 0
	best := time.Duration(1 << 62)
	for b.Loop() {
		var err error
		t0 := time.Now()
		res, err = ScanPaths(ctx, []string{dir}, TreeOptions{Root: dir})
		if err != nil {
			b.Fatal(err)
		}
		best = min(best, time.Since(t0))
		n++
	}
	mean := time.Since(start) / time.Duration(n)
	b.StopTimer()
	if len(res.Errors) > 0 || len(res.Findings) == 0 {
		b.Fatalf("scan of the bench tree: %d errors (%+v), %d findings", len(res.Errors), res.Errors, len(res.Findings))
	}
	// The baseline is git grep's best of three runs, so the ratio is the
	// scan's best run against it (one run each, the same statistic); the
	// mean, which includes the first run's one-time set-up of compose-go,
	// is reported beside it.
	b.ReportMetric(float64(best)/float64(base), "x-git-grep")
	b.ReportMetric(float64(mean)/float64(base), "x-git-grep-mean")
	b.ReportMetric(float64(base)/float64(time.Millisecond), "git-grep-ms")
	b.ReportMetric(float64(best)/float64(time.Millisecond), "scan-ms")
}

// BenchmarkScanTreeValues is BenchmarkScanTree with Key Vault values to
// look for: every file of the tree is then read and searched.
func BenchmarkScanTreeValues(b *testing.B) {
	dir := benchTree(b)
	base := gitGrep(b, dir)
	vs := NewValues([]Value{{Name: "db", Value: []byte("bench-pw-7-Xq7rT2")}, {Name: "api", Value: []byte("tok-3-9f8e7d6c5b4a")}})
	defer vs.Close()
	ctx := context.Background()
	var res *Result
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		var err error
		res, err = ScanPaths(ctx, []string{dir}, TreeOptions{Root: dir, Values: vs})
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	per := time.Since(start) / time.Duration(n)
	b.StopTimer()
	if len(only(res, RuleVaultValue, "")) == 0 || res.Files != benchTreeFiles {
		b.Fatalf("scan of the bench tree with values: %d files read, %d value findings", res.Files, len(only(res, RuleVaultValue, "")))
	}
	b.ReportMetric(float64(per)/float64(base), "x-git-grep")
	b.ReportMetric(float64(base)/float64(time.Millisecond), "git-grep-ms")
	b.ReportMetric(float64(per)/float64(time.Millisecond), "scan-ms")
}
