//go:build e2e

package swarm

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"
)

// BenchmarkSync500 syncs a project of 500 secrets against the real engine of
// the test bed and a Key Vault emulator whose every request takes 20ms, the
// way `docker vault sync` does (swarm.Sync, the Azure store through Open).
//
// Each sub-benchmark measures one kind of run at the default --parallel 8
// and, in the same iteration, at --parallel 1, and reports:
//
//   - ms/sync, kv-req/sync, engine-req/sync at --parallel 8;
//   - x-lower-bound: wall time over the Key Vault lower bound, which is the
//     list pages (sequential: each needs the previous page's nextLink) plus
//     ceil(reads/parallel) round trips of value GETs. Targets: first sync
//     within 2x, no-op within 1.5x;
//   - x-parallel-1: wall time at --parallel 8 over wall time at --parallel 1.
//
// The Engine side of the lower bound is taken as zero: the engine is local,
// and what it costs is exactly what x-lower-bound shows above 1.
func BenchmarkSync500(b *testing.B) {
	const (
		n        = 500
		latency  = 20 * time.Millisecond
		parallel = 8
		rotated  = n / 10
	)
	ctx := context.Background()
	eng := benchEngine(b)
	s := kvtest.NewServer(b, kvtest.Options{})
	kvNames := s.Populate("bench", n)
	store := benchStore(b, s)
	// Fill the token cache and pass the challenge once, without latency:
	// a command run pays for them once too, and they are not what is
	// measured here.
	if err := store.List(ctx, func(keyvault.SecretProperties) error { return nil }); err != nil {
		b.Fatal(err)
	}
	s.SetFaults(kvtest.Faults{Latency: latency})

	p := uniquePrefix()
	b.Cleanup(func() { removeByPrefix(b, eng.Engine, p) })
	// Two copies of the project, one synced at --parallel 8 and one at
	// --parallel 1: same Key Vault secrets, separate swarm secrets.
	desired := func(set string) []Desired {
		out := make([]Desired, n)
		for i, kv := range kvNames {
			out[i] = Desired{Name: fmt.Sprintf("%s%s_%03d", p, set, i), KVName: kv}
		}
		return out
	}
	fast, slow := desired("a"), desired("b")
	pages := int(math.Ceil(float64(n) / kvtest.MaxPageSize))
	lowerBound := func(reads, par int) time.Duration {
		return time.Duration(pages+int(math.Ceil(float64(reads)/float64(par)))) * latency
	}

	type result struct {
		wall           time.Duration
		kvReqs, engReq int
		plan           Plan
	}
	run := func(b *testing.B, d []Desired, par int) result {
		s.ResetCounts()
		eng.calls.Store(0)
		start := time.Now()
		plan, err := Sync(ctx, eng, store, d, SyncOptions{
			PlanOptions: PlanOptions{Source: store.VaultURL(), Keep: 1},
			Parallel:    par,
		})
		wall := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		return result{wall: wall, kvReqs: kvRequests(s.Counts()), engReq: int(eng.calls.Load()), plan: plan}
	}
	count := func(plan Plan, kind ActionKind) int {
		k := 0
		for _, a := range plan.Actions {
			if a.Kind == kind {
				k++
			}
		}
		return k
	}
	report := func(b *testing.B, runs int, f, sl result, reads int) {
		per := func(d time.Duration) float64 { return float64(d) / float64(runs) }
		b.ReportMetric(per(f.wall)/float64(time.Millisecond), "ms/sync")
		b.ReportMetric(float64(f.kvReqs)/float64(runs), "kv-req/sync")
		b.ReportMetric(float64(f.engReq)/float64(runs), "engine-req/sync")
		b.ReportMetric(per(f.wall)/float64(lowerBound(reads, parallel)), "x-lower-bound")
		b.ReportMetric(float64(f.wall)/float64(sl.wall), "x-parallel-1")
		b.ReportMetric(per(sl.wall)/float64(time.Millisecond), "p1-ms/sync")
		b.ReportMetric(per(sl.wall)/float64(lowerBound(reads, 1)), "p1-x-lower-bound")
	}
	add := func(sum *result, r result) {
		sum.wall += r.wall
		sum.kvReqs += r.kvReqs
		sum.engReq += r.engReq
	}

	b.Run("first", func(b *testing.B) {
		var f, sl result
		runs := 0
		for b.Loop() {
			b.StopTimer()
			removeByPrefix(b, eng.Engine, p)
			b.StartTimer()
			r := run(b, fast, parallel)
			if c := count(r.plan, ActionCreate); c != n {
				b.Fatalf("first sync created %d secrets, want %d", c, n)
			}
			add(&f, r)
			add(&sl, run(b, slow, 1))
			runs++
		}
		report(b, runs, f, sl, n)
	})

	b.Run("noop", func(b *testing.B) {
		// Whatever ran before, start from a synced project.
		run(b, fast, parallel)
		run(b, slow, parallel)
		var f, sl result
		runs := 0
		for b.Loop() {
			r := run(b, fast, parallel)
			if r.plan.Changes() != 0 {
				b.Fatalf("no-op sync changed %d things:\n%s", r.plan.Changes(), r.plan)
			}
			add(&f, r)
			add(&sl, run(b, slow, 1))
			runs++
		}
		report(b, runs, f, sl, 0)
	})

	b.Run("rotate10pct", func(b *testing.B) {
		run(b, fast, parallel)
		run(b, slow, parallel)
		var f, sl result
		runs, next := 0, 0
		for b.Loop() {
			b.StopTimer()
			// Key Vault's "updated" time has a resolution of one second:
			// a new version in the same second as the one synced would
			// not show in the list. Rotate secrets last written at least
			// a second ago, a different tenth each time.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
			for i := range rotated {
				s.SetSecret(kvNames[(next+i)%n], fmt.Sprintf("rotated-%d-%d", runs, i))
			}
			next += rotated
			b.StartTimer()
			r := run(b, fast, parallel)
			if c := count(r.plan, ActionRotate); c != rotated {
				b.Fatalf("rotated %d secrets, want %d", c, rotated)
			}
			add(&f, r)
			r = run(b, slow, 1)
			if c := count(r.plan, ActionRotate); c != rotated {
				b.Fatalf("rotated %d secrets at --parallel 1, want %d", c, rotated)
			}
			add(&sl, r)
			runs++
		}
		report(b, runs, f, sl, rotated)
	})
}

// kvRequests sums the data-plane requests the emulator answered (the
// challenge included), leaving out proxy tunnels and tokens.
func kvRequests(counts map[string]int) int {
	total := 0
	for route, c := range counts {
		switch {
		case route == kvtest.RouteConnect, route == kvtest.RouteToken, route == kvtest.RouteProxyRefused,
			strings.HasPrefix(route, "fault: "):
			continue
		}
		total += c
	}
	return total
}

// benchStore opens the emulator's vault through keyvault.Open with the
// environment a user's shell would have, so the production transport,
// credential and retry policy are what is measured.
func benchStore(b *testing.B, s *kvtest.Server) keyvault.Store {
	b.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AZURE_"), strings.HasPrefix(k, "IDENTITY_"), strings.HasPrefix(k, "MSI_"),
			k == "IMDS_ENDPOINT", k == "SSL_CERT_FILE", k == "DOCKER_VAULT_URL",
			strings.HasSuffix(strings.ToUpper(k), "_PROXY"):
			b.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	ca := filepath.Join(b.TempDir(), "ca.pem")
	if err := s.WriteCA(ca); err != nil {
		b.Fatal(err)
	}
	for _, kv := range s.Env(ca) {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	store, err := keyvault.Open(context.Background(), keyvault.Config{EnvURL: os.Getenv("DOCKER_VAULT_URL")})
	if err != nil {
		b.Fatal(err)
	}
	return store
}

// allCounting counts every Engine API call a sync makes.
type allCounting struct {
	Engine
	calls atomic.Int64
}

func benchEngine(b *testing.B) *allCounting {
	b.Helper()
	c, err := client.New(client.FromEnv)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	info, err := c.Info(context.Background(), client.InfoOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if !info.Info.Swarm.ControlAvailable {
		b.Fatal("the engine is not a swarm manager: run `make testbed`")
	}
	return &allCounting{Engine: c}
}

func (c *allCounting) SecretList(ctx context.Context, o client.SecretListOptions) (client.SecretListResult, error) {
	c.calls.Add(1)
	return c.Engine.SecretList(ctx, o)
}

func (c *allCounting) SecretCreate(ctx context.Context, o client.SecretCreateOptions) (client.SecretCreateResult, error) {
	c.calls.Add(1)
	return c.Engine.SecretCreate(ctx, o)
}

func (c *allCounting) SecretInspect(ctx context.Context, id string, o client.SecretInspectOptions) (client.SecretInspectResult, error) {
	c.calls.Add(1)
	return c.Engine.SecretInspect(ctx, id, o)
}

func (c *allCounting) SecretUpdate(ctx context.Context, id string, o client.SecretUpdateOptions) (client.SecretUpdateResult, error) {
	c.calls.Add(1)
	return c.Engine.SecretUpdate(ctx, id, o)
}

func (c *allCounting) SecretRemove(ctx context.Context, id string, o client.SecretRemoveOptions) (client.SecretRemoveResult, error) {
	c.calls.Add(1)
	return c.Engine.SecretRemove(ctx, id, o)
}

func (c *allCounting) ServiceList(ctx context.Context, o client.ServiceListOptions) (client.ServiceListResult, error) {
	c.calls.Add(1)
	return c.Engine.ServiceList(ctx, o)
}

func (c *allCounting) ServiceInspect(ctx context.Context, id string, o client.ServiceInspectOptions) (client.ServiceInspectResult, error) {
	c.calls.Add(1)
	return c.Engine.ServiceInspect(ctx, id, o)
}

func (c *allCounting) ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	c.calls.Add(1)
	return c.Engine.ServiceUpdate(ctx, id, o)
}

func (c *allCounting) TaskList(ctx context.Context, o client.TaskListOptions) (client.TaskListResult, error) {
	c.calls.Add(1)
	return c.Engine.TaskList(ctx, o)
}

// removeByPrefix removes the swarm secrets whose names start with prefix,
// a few at a time.
func removeByPrefix(b *testing.B, eng Engine, prefix string) {
	b.Helper()
	ctx := context.Background()
	res, err := eng.SecretList(ctx, client.SecretListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var g errgroup.Group
	g.SetLimit(8)
	var mu sync.Mutex
	var failed []string
	for _, sec := range res.Items {
		if !strings.HasPrefix(sec.Spec.Name, prefix) {
			continue
		}
		g.Go(func() error {
			if _, err := eng.SecretRemove(ctx, sec.ID, client.SecretRemoveOptions{}); err != nil {
				mu.Lock()
				failed = append(failed, sec.Spec.Name)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	if len(failed) > 0 {
		b.Errorf("could not remove %d bench secrets, e.g. %s", len(failed), failed[0])
	}
}
