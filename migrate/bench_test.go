package migrate

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

	"github.com/docker-vault/docker-vault/compose"
)

// benchProject writes a project of n services with 10 variables each:
// map and list environments, literals and ${VAR} from .env, a merge key,
// images that read *_FILE (migrated) and one that does not (reported), a
// value shared by every list-form service, flags, users and hosts.
func benchProject(tb testing.TB, n int) string {
	tb.Helper()
	dir := tb.TempDir()
	var c, env strings.Builder
	c.WriteString("# generated\nx-common: &common\n  TZ: Etc/UTC\n  LOG_LEVEL: info\nservices:\n")
	images := []string{"postgres:16", "mariadb:11", "example/app:1", "wordpress"}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&c, "  svc%d:\n    image: %s\n    environment:\n", i, images[i%len(images)])
		if i%2 == 0 {
			fmt.Fprintf(&c, "      <<: *common\n")
			fmt.Fprintf(&c, "      POSTGRES_PASSWORD: literal-pw-%d # the admin password\n", i)
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
			fmt.Fprintf(&c, "      - MYSQL_PASSWORD=${TOKEN_%d}\n", i)
			fmt.Fprintf(&c, "      - WORDPRESS_DB_PASSWORD=shared-pw\n")
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

// migrateOnce is what `docker vault migrate --dry-run` does: load, detect,
// plan (which re-loads the rewritten project to prove it).
func migrateOnce(tb testing.TB, dir string) *Plan {
	ctx := context.Background()
	p, err := compose.Load(ctx, compose.LoadOptions{WorkingDir: dir})
	assert.NilError(tb, err)
	r, err := compose.Detect(p, compose.DetectOptions{})
	assert.NilError(tb, err)
	plan, err := Make(ctx, p, r, Options{})
	assert.NilError(tb, err)
	return plan
}

// BenchmarkMigrate times a whole migration plan of 1,000 services x 10
// variables against compose-go alone loading the same project, measured
// interleaved in the same run so both see the same machine load; x-load is
// the ratio (target: at most 2).
func BenchmarkMigrate(b *testing.B) {
	dir := benchProject(b, 1000)
	plan := migrateOnce(b, dir)
	c := plan.Counts()
	assert.Assert(b, c[Migrated] >= 1000 && c[Reported] >= 500, "%v", c)
	var load, mig time.Duration
	n := 0
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		composeGoLoad(b, dir)
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
