package keyvault

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

// BenchmarkList lists a 1,000-secret vault whose every request takes 20ms,
// opening the vault afresh each time as a command run does. The service
// pages by 25, so 40 sequential pages make the lower bound 40 x 20ms; the
// metrics say how close List gets (x-lower-bound) and what it sends
// (requests/op: one per page plus the challenge of a fresh client).
func BenchmarkList(b *testing.B) {
	const (
		secrets = 1000
		latency = 20 * time.Millisecond
	)
	pages := (secrets + kvtest.MaxPageSize - 1) / kvtest.MaxPageSize
	lowerBound := time.Duration(pages) * latency

	s := kvtest.NewServer(b, kvtest.Options{})
	s.Populate("bench", secrets)
	useEmulator(b, s)
	ctx := context.Background()
	// Warm up once without latency so MSAL's token cache is filled: the
	// benchmark measures listing, not the one-off token request.
	warm, err := Open(ctx, Config{EnvURL: os.Getenv("DOCKER_VAULT_URL")})
	if err != nil {
		b.Fatal(err)
	}
	if err := warm.List(ctx, func(SecretProperties) error { return nil }); err != nil {
		b.Fatal(err)
	}
	s.SetFaults(kvtest.Faults{Latency: latency})
	s.ResetCounts()

	ops := 0
	start := time.Now()
	for b.Loop() {
		st, err := Open(ctx, Config{EnvURL: os.Getenv("DOCKER_VAULT_URL")})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		if err := st.List(ctx, func(SecretProperties) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != secrets {
			b.Fatalf("listed %d secrets, want %d", n, secrets)
		}
		ops++
	}
	perOp := time.Since(start) / time.Duration(ops)
	requests := s.Count(kvtest.RouteListSecrets) + s.Count(kvtest.RouteChallenge)
	b.ReportMetric(float64(perOp)/float64(lowerBound), "x-lower-bound")
	b.ReportMetric(float64(requests)/float64(ops), "requests/op")
	b.ReportMetric(float64(s.Count(kvtest.RouteToken))/float64(ops), "tokens/op")
}
