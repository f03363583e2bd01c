package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/composebench"
)

// BenchmarkMigrateProcess times `docker vault migrate --dry-run` as a whole
// process through the docker CLI against `docker compose config` of the
// same project, interleaved so both see the same machine load: what a user
// waits for either way. x-config is the ratio (target: at most 1.2 on a
// project of real size; the 1,000-service one is reported beside it).
func BenchmarkMigrateProcess(b *testing.B) {
	for _, tc := range []struct {
		name     string
		services int
	}{{"30-services", 30}, {"1000-services", 1000}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := composebench.Project(b, tc.services)
			var config, dry []time.Duration
			for b.Loop() {
				config = append(config, timed(b, vaultDockerCmd(nil, dir, "compose", "config")))
				// Its images have real names: never pulled by a benchmark.
				dry = append(dry, timed(b, vaultDockerCmd(nil, dir, "vault", "migrate", "--dry-run", "--pull=never")))
			}
			b.ReportMetric(float64(median(dry))/float64(median(config)), "x-config")
			b.ReportMetric(ms(median(dry)), "dry-run-ms")
			b.ReportMetric(ms(median(config)), "config-ms")
		})
	}
}

// BenchmarkMigrateLocalImages is issue 13's speed target: a second
// `docker vault migrate --dry-run` on a 30-service project whose images
// are in the engine (the test images: read through the Engine API on the
// first run, then from the cache) against `docker compose config` of the
// same project, interleaved. x-config is the ratio (target: at most 1.2).
func BenchmarkMigrateLocalImages(b *testing.B) {
	wrapImages(b)
	dir := b.TempDir()
	var c, dotenv strings.Builder
	c.WriteString("services:\n")
	images := []string{imgFileEnv, imgPlain, imgNoShell}
	for i := range 30 {
		fmt.Fprintf(&c, "  svc%d:\n    image: %s\n    environment:\n", i, images[i%len(images)])
		fmt.Fprintf(&c, "      APP_PASSWORD: bench-pw-%d-7f3a9c\n", i)
		fmt.Fprintf(&c, "      APP_TOKEN: ${TOKEN_%d}\n", i)
		fmt.Fprintf(&c, "      DATABASE_URL: postgres://app:bench-%d-c0ffee@db%d:5432/app\n", i, i)
		fmt.Fprintf(&c, "      APP_MODE: bench\n      PORT: %d\n", 8000+i)
		fmt.Fprintf(&dotenv, "TOKEN_%d=bench-token-%d-91be4d\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(c.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	// The first run reads the three images through the engine and fills
	// the cache; the target is about the runs after it.
	first := timed(b, vaultDockerCmd(nil, dir, "vault", "migrate", "--dry-run"))
	var config, dry []time.Duration
	for b.Loop() {
		config = append(config, timed(b, vaultDockerCmd(nil, dir, "compose", "config")))
		dry = append(dry, timed(b, vaultDockerCmd(nil, dir, "vault", "migrate", "--dry-run")))
	}
	b.ReportMetric(float64(median(dry))/float64(median(config)), "x-config")
	b.ReportMetric(ms(median(dry)), "dry-run-ms")
	b.ReportMetric(ms(median(config)), "config-ms")
	b.ReportMetric(ms(first), "first-dry-run-ms")
}
