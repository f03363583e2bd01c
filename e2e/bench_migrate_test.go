package e2e

import (
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
				dry = append(dry, timed(b, vaultDockerCmd(nil, dir, "vault", "migrate", "--dry-run")))
			}
			b.ReportMetric(float64(median(dry))/float64(median(config)), "x-config")
			b.ReportMetric(ms(median(dry)), "dry-run-ms")
			b.ReportMetric(ms(median(config)), "config-ms")
		})
	}
}
