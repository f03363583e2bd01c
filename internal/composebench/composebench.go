// Package composebench generates the large compose project the benchmarks
// of compose and migrate share, and loads it with compose-go alone: the
// baseline their ratios are measured against.
package composebench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"gotest.tools/v3/assert"
)

// Project writes a project of n services with 10 variables each:
// map and list environments, literals and ${VAR} from .env, a merge key,
// images that read *_FILE (migrated) and one that does not (reported), a
// value shared by every list-form service, flags, users and hosts.
func Project(tb testing.TB, n int) string {
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

// ComposeGoLoad is the baseline: compose-go alone, as docker compose loads.
func ComposeGoLoad(tb testing.TB, dir string) {
	opts, err := cli.NewProjectOptions(nil,
		cli.WithWorkingDirectory(dir),
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithDefaultConfigPath)
	assert.NilError(tb, err)
	_, err = opts.LoadProject(context.Background())
	assert.NilError(tb, err)
}
