package compose

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"gotest.tools/v3/assert"
)

// benchProject writes a project of n services with 10 variables each, in
// the shapes the corpus shows: map and list environments, literals,
// ${VAR} from .env, flags, users, hosts, URLs with and without passwords,
// and a merge key.
func benchProject(tb testing.TB, n int) string {
	tb.Helper()
	dir := tb.TempDir()
	var c, env strings.Builder
	c.WriteString("x-common: &common\n  TZ: Etc/UTC\n  LOG_LEVEL: info\nservices:\n")
	images := []string{"postgres:16", "mariadb:11", "example/app:1", "wordpress"}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&c, "  svc%d:\n    image: %s\n    environment:\n", i, images[i%len(images)])
		if i%2 == 0 {
			fmt.Fprintf(&c, "      <<: *common\n")
			fmt.Fprintf(&c, "      POSTGRES_PASSWORD: literal-pw-%d\n", i)
			fmt.Fprintf(&c, "      POSTGRES_USER: user%d\n", i)
			fmt.Fprintf(&c, "      API_TOKEN: ${TOKEN_%d}\n", i)
			fmt.Fprintf(&c, "      DATABASE_URL: postgres://u:pw%d@db%d:5432/app\n", i, i)
			fmt.Fprintf(&c, "      MYSQL_RANDOM_ROOT_PASSWORD: '1'\n")
			fmt.Fprintf(&c, "      SERVICE_HOST: svc%d.internal\n", i)
			fmt.Fprintf(&c, "      PORT: %d\n", 8000+i)
			fmt.Fprintf(&c, "      KAFKA_URL: kafka://broker:9092/topic%d\n", i)
		} else {
			fmt.Fprintf(&c, "      - MYSQL_ROOT_PASSWORD=root-pw-%d\n", i)
			fmt.Fprintf(&c, "      - MYSQL_USER=user%d\n", i)
			fmt.Fprintf(&c, "      - SECRET_KEY=${TOKEN_%d}\n", i)
			fmt.Fprintf(&c, "      - MYSQL_PASSWORD=shared-pw\n")
			fmt.Fprintf(&c, "      - MYSQL_ALLOW_EMPTY_PASSWORD=yes\n")
			fmt.Fprintf(&c, "      - MYSQL_DATABASE=db%d\n", i)
			fmt.Fprintf(&c, "      - JAVA_OPTS=-Xms512m -Xmx1g -Dapp.id=%d\n", i)
			fmt.Fprintf(&c, "      - TZ=Etc/UTC\n")
			fmt.Fprintf(&c, "      - SESSION_TIMEOUT=%d\n", 60+i)
			fmt.Fprintf(&c, "      - WEBHOOK_URL=https://hooks.example.com/%d\n", i)
		}
		fmt.Fprintf(&env, "TOKEN_%d=token-value-%d\n", i, i)
	}
	assert.NilError(tb, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(c.String()), 0o600))
	assert.NilError(tb, os.WriteFile(filepath.Join(dir, ".env"), []byte(env.String()), 0o600))
	return dir
}

// composeGoLoad is the baseline: compose-go alone, as docker compose loads.
func composeGoLoad(tb testing.TB, dir string) {
	opts, err := cli.NewProjectOptions(nil,
		cli.WithWorkingDirectory(dir),
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithDefaultConfigPath)
	assert.NilError(tb, err)
	_, err = opts.LoadProject(context.Background())
	assert.NilError(tb, err)
}

// baseline times the compose-go load a few times and keeps the fastest,
// so ratios compare against the same machine in the same run.
func baseline(tb testing.TB, dir string) time.Duration {
	best := time.Duration(1 << 62)
	for i := 0; i < 3; i++ {
		start := time.Now()
		composeGoLoad(tb, dir)
		if d := time.Since(start); d < best {
			best = d
		}
	}
	return best
}

func BenchmarkLoadOnly(b *testing.B) {
	dir := benchProject(b, 1000)
	b.ResetTimer()
	for b.Loop() {
		composeGoLoad(b, dir)
	}
}

// BenchmarkLoad is this package's Load: compose-go plus the raw YAML and
// env files it keeps for tracing.
func BenchmarkLoad(b *testing.B) {
	dir := benchProject(b, 1000)
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
	dir := benchProject(b, 1000)
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
