//go:build e2e

package status

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest/kvstore"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/swarm"
	"github.com/moby/moby/client"
)

// BenchmarkStatus500 runs status on a project of 500 external secrets, all
// in sync, against the real engine of the test bed and a Key Vault emulator
// whose every request takes 20ms. It reports:
//
//   - ms/status, kv-req/status and engine-req/status;
//   - x-lower-bound: wall time over the Key Vault list pages (sequential:
//     each needs the previous page's nextLink), the least any status that
//     asks Key Vault can cost. Target: at most 1.2;
//   - x-noop-sync: wall time over that of a sync of the same project that
//     finds nothing to do, measured in the same iteration.
func BenchmarkStatus500(b *testing.B) {
	const (
		n       = 500
		latency = 20 * time.Millisecond
	)
	ctx := context.Background()
	eng := newCountingEngine(b)
	s := kvtest.NewServer(b, kvtest.Options{Clock: kvstore.Ticking(time.Now().Add(-time.Hour))})
	kvNames := s.Populate("stbench", n)
	store := kvstore.Open(b, s)

	rnd := make([]byte, 4)
	_, _ = rand.Read(rnd)
	prefix := "dvst" + hex.EncodeToString(rnd) + "_"
	b.Cleanup(func() { removePrefix(b, eng.Engine, prefix) })
	secrets := make([]mapping.Secret, n)
	desired := make([]swarm.Desired, n)
	for i, kv := range kvNames {
		name := fmt.Sprintf("%s%03d", prefix, i)
		secrets[i] = mapping.Secret{Key: name, Kind: mapping.External, Name: name, KVName: kv}
		desired[i] = swarm.Desired{Name: name, KVName: kv}
	}
	// Sync once, without latency: the project starts in sync.
	syncOpts := swarm.SyncOptions{PlanOptions: swarm.PlanOptions{Source: store.VaultURL(), Keep: 1}, Parallel: 8}
	if _, err := swarm.Sync(ctx, eng, store, desired, syncOpts); err != nil {
		b.Fatal(err)
	}
	s.SetFaults(kvtest.Faults{Latency: latency})
	pages := (n + kvtest.MaxPageSize - 1) / kvtest.MaxPageSize
	lowerBound := time.Duration(pages) * latency

	var statusWall, syncWall, listWall time.Duration
	var kvReqs, engReqs int64
	runs := 0
	for b.Loop() {
		s.ResetCounts()
		eng.calls.Store(0)
		start := time.Now()
		rows, err := Check(ctx, eng, store, secrets, Options{Keep: 1, ExpiryWarning: 30 * 24 * time.Hour})
		statusWall += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if sum := Summarize(rows); sum.Drift+sum.Expiry != 0 {
			b.Fatalf("status of a synced project: %s\n%s", sum, String(rows))
		}
		kvReqs += int64(s.Count(kvtest.RouteListSecrets) + s.Count(kvtest.RouteGetSecret) + s.Count(kvtest.RouteListVersions))
		engReqs += eng.calls.Load()

		start = time.Now()
		plan, err := swarm.Sync(ctx, eng, store, desired, syncOpts)
		syncWall += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if plan.Changes() != 0 {
			b.Fatalf("the no-op sync changed %d things", plan.Changes())
		}
		start = time.Now()
		if err := store.List(ctx, func(keyvault.SecretProperties) error { return nil }); err != nil {
			b.Fatal(err)
		}
		listWall += time.Since(start)
		runs++
	}
	per := float64(statusWall) / float64(runs)
	b.ReportMetric(per/float64(time.Millisecond), "ms/status")
	b.ReportMetric(float64(kvReqs)/float64(runs), "kv-req/status")
	b.ReportMetric(float64(engReqs)/float64(runs), "engine-req/status")
	b.ReportMetric(per/float64(lowerBound), "x-lower-bound")
	b.ReportMetric(float64(statusWall)/float64(syncWall), "x-noop-sync")
	b.ReportMetric(float64(listWall)/float64(runs)/float64(lowerBound), "list-x-lower-bound")
}

// countingEngine counts the Engine API calls status makes (it makes list
// calls only; the sync it is compared with makes none other when nothing
// changed).
type countingEngine struct {
	swarm.Engine
	calls atomic.Int64
}

func newCountingEngine(b *testing.B) *countingEngine {
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
	return &countingEngine{Engine: c}
}

func (c *countingEngine) SecretList(ctx context.Context, o client.SecretListOptions) (client.SecretListResult, error) {
	c.calls.Add(1)
	return c.Engine.SecretList(ctx, o)
}

func (c *countingEngine) ServiceList(ctx context.Context, o client.ServiceListOptions) (client.ServiceListResult, error) {
	c.calls.Add(1)
	return c.Engine.ServiceList(ctx, o)
}

func (c *countingEngine) TaskList(ctx context.Context, o client.TaskListOptions) (client.TaskListResult, error) {
	c.calls.Add(1)
	return c.Engine.TaskList(ctx, o)
}

// removePrefix removes the swarm secrets the benchmark made (their names
// start with prefix), and only those.
func removePrefix(b *testing.B, eng swarm.Engine, prefix string) {
	b.Helper()
	ctx := context.Background()
	res, err := eng.SecretList(ctx, client.SecretListOptions{})
	if err != nil {
		b.Error(err)
		return
	}
	failed := 0
	for _, sec := range res.Items {
		if strings.HasPrefix(sec.Spec.Name, prefix) {
			if _, err := eng.SecretRemove(ctx, sec.ID, client.SecretRemoveOptions{}); err != nil {
				failed++
			}
		}
	}
	if failed > 0 {
		b.Errorf("could not remove %d bench secrets", failed)
	}
}
