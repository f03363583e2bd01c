//go:build e2e

package swarm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest/kvstore"
	swarmtypes "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
)

// These tests run against the real engine of the test bed (a single-node
// swarm, see scripts/testbed.sh): the plan logic is covered by plan_test.go,
// here what matters is what the engine accepts. Hence the e2e build tag:
// `make test` runs them with the e2e tests, `make test-unit` needs no engine.

// countingEngine counts Engine API calls and can fail one method on its
// n-th call.
type countingEngine struct {
	Engine
	calls      atomic.Int64
	creates    atomic.Int64
	failCreate int64
}

func (c *countingEngine) SecretList(ctx context.Context, o client.SecretListOptions) (client.SecretListResult, error) {
	c.calls.Add(1)
	return c.Engine.SecretList(ctx, o)
}

func (c *countingEngine) SecretCreate(ctx context.Context, o client.SecretCreateOptions) (client.SecretCreateResult, error) {
	c.calls.Add(1)
	if n := c.creates.Add(1); c.failCreate > 0 && n == c.failCreate {
		return client.SecretCreateResult{}, errors.New("injected failure")
	}
	return c.Engine.SecretCreate(ctx, o)
}

func (c *countingEngine) ServiceList(ctx context.Context, o client.ServiceListOptions) (client.ServiceListResult, error) {
	c.calls.Add(1)
	return c.Engine.ServiceList(ctx, o)
}

func engineForTest(t *testing.T) *countingEngine {
	t.Helper()
	c, err := client.New(client.FromEnv)
	assert.NilError(t, err)
	t.Cleanup(func() { c.Close() })
	info, err := c.Info(context.Background(), client.InfoOptions{})
	assert.NilError(t, err)
	assert.Assert(t, info.Info.Swarm.ControlAvailable, "the engine is not a swarm manager: run `make testbed`")
	return &countingEngine{Engine: c}
}

// cleanupManaged removes every managed secret and service the test made.
func cleanupManaged(t *testing.T, eng Engine, prefix string) {
	t.Cleanup(func() {
		ctx := context.Background()
		svcs, _ := eng.ServiceList(ctx, client.ServiceListOptions{})
		for _, s := range svcs.Items {
			if strings.HasPrefix(s.Spec.Name, prefix) {
				_, _ = eng.(interface {
					ServiceRemove(context.Context, string, client.ServiceRemoveOptions) (client.ServiceRemoveResult, error)
				}).ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{})
			}
		}
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			secs, _ := eng.SecretList(ctx, client.SecretListOptions{})
			left := 0
			for _, s := range secs.Items {
				if strings.HasPrefix(s.Spec.Name, prefix) {
					if _, err := eng.SecretRemove(ctx, s.ID, client.SecretRemoveOptions{}); err != nil {
						left++
					}
				}
			}
			if left > 0 {
				return poll.Continue("%d secrets still in use", left)
			}
			return poll.Success()
		}, poll.WithTimeout(60*time.Second))
	})
}

func uniquePrefix() string { return fmt.Sprintf("vt%d", time.Now().UnixNano()%1e9) }

func TestSyncCreateNoopRotatePrune(t *testing.T) {
	ctx := context.Background()
	eng := engineForTest(t)
	p := uniquePrefix()
	cleanupManaged(t, eng.Engine, p)
	vault, store := kvstore.New(t, kvtest.Options{})
	vault.SetSecret("db-password", "value-one-"+p)
	desired := []Desired{{Name: p + "_db", KVName: "db-password"}}
	opts := SyncOptions{PlanOptions: PlanOptions{Source: store.VaultURL(), Keep: 0}, ApplyOptions: ApplyOptions{Wait: true, Poll: 200 * time.Millisecond}}

	plan, err := Sync(ctx, eng, store, desired, opts)
	assert.NilError(t, err)
	assert.Equal(t, plan.Actions[0].Kind, ActionCreate)
	first := plan.Actions[0]

	// A service uses it, the way a stack deployed by `docker vault deploy` would.
	svc, err := eng.Engine.(*client.Client).ServiceCreate(ctx, client.ServiceCreateOptions{Spec: swarmtypes.ServiceSpec{
		Annotations: swarmtypes.Annotations{Name: p + "_web"},
		TaskTemplate: swarmtypes.TaskSpec{ContainerSpec: &swarmtypes.ContainerSpec{
			Image:   "docker-vault-test/busybox:1",
			Command: []string{"sleep", "600"},
			Secrets: []*swarmtypes.SecretReference{{SecretID: first.ID, SecretName: first.Name,
				File: &swarmtypes.SecretReferenceFileTarget{Name: "db_password", UID: "0", GID: "0", Mode: 0o400}}},
		}},
	}})
	assert.NilError(t, err)

	// Nothing changed: one Key Vault list, no value read, one secret list.
	vault.ResetCounts()
	eng.calls.Store(0)
	plan, err = Sync(ctx, eng, store, desired, opts)
	assert.NilError(t, err)
	assert.Equal(t, plan.String(), "unchanged "+p+"_db -> "+first.Name+"\n")
	assert.Check(t, is.Equal(vault.Count(kvtest.RouteListSecrets), 1))
	assert.Check(t, is.Equal(vault.Count(kvtest.RouteGetSecret), 0))
	assert.Check(t, is.Equal(eng.calls.Load(), int64(1)))

	// Rotate: a new secret, the service moved onto it with the same file
	// target, the old one pruned once nothing uses it.
	vault.SetSecret("db-password", "value-two-"+p)
	plan, err = Sync(ctx, eng, store, desired, opts)
	assert.NilError(t, err)
	assert.Equal(t, plan.Actions[0].Kind, ActionRotate)
	assert.DeepEqual(t, plan.Actions[0].Services, []string{p + "_web"})
	second := plan.Actions[0]
	insp, err := eng.ServiceInspect(ctx, svc.ID, client.ServiceInspectOptions{})
	assert.NilError(t, err)
	refs := insp.Service.Spec.TaskTemplate.ContainerSpec.Secrets
	assert.Assert(t, is.Len(refs, 1))
	assert.Check(t, is.Equal(refs[0].SecretID, second.ID))
	assert.Check(t, is.Equal(refs[0].File.Name, "db_password"))
	assert.Check(t, is.Equal(refs[0].File.Mode, os.FileMode(0o400)))

	// The old version goes once its task is gone (this sync, or the next).
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if _, err := Sync(ctx, eng, store, desired, opts); err != nil {
			return poll.Error(err)
		}
		if _, err := eng.SecretInspect(ctx, first.ID, client.SecretInspectOptions{}); err == nil {
			return poll.Continue("old version still present")
		}
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(time.Second))

	// Labels carry versions, never a value or its digest.
	sec, err := eng.SecretInspect(ctx, second.ID, client.SecretInspectOptions{})
	assert.NilError(t, err)
	sum := sha256.Sum256([]byte("value-two-" + p))
	for k, v := range sec.Secret.Spec.Labels {
		assert.Check(t, !strings.Contains(v, "value-two"), k)
		assert.Check(t, !strings.Contains(v, hex.EncodeToString(sum[:8])), k)
	}
	assert.Check(t, is.Equal(sec.Secret.Spec.Labels[LabelVersion], second.Version))
}

func TestSyncFailureHalfwayConverges(t *testing.T) {
	ctx := context.Background()
	eng := engineForTest(t)
	p := uniquePrefix()
	cleanupManaged(t, eng.Engine, p)
	vault, store := kvstore.New(t, kvtest.Options{})
	var desired []Desired
	for i := range 4 {
		kv := fmt.Sprintf("s%d", i)
		vault.SetSecret(kv, "v-"+kv+p)
		desired = append(desired, Desired{Name: fmt.Sprintf("%s_s%d", p, i), KVName: kv})
	}
	// One create at a time, so that "the third" is well defined; with more,
	// creates already sent when one fails are let finish.
	opts := SyncOptions{PlanOptions: PlanOptions{Source: store.VaultURL(), Keep: 1}, Parallel: 1}

	eng.failCreate = 3
	_, err := Sync(ctx, eng, store, desired, opts)
	assert.Check(t, is.ErrorContains(err, "injected failure"))

	eng.failCreate = 0
	var log bytes.Buffer
	opts.Log = &log
	plan, err := Sync(ctx, eng, store, desired, opts)
	assert.NilError(t, err)
	kinds := map[ActionKind]int{}
	for _, a := range plan.Actions {
		kinds[a.Kind]++
	}
	assert.DeepEqual(t, kinds, map[ActionKind]int{ActionUnchanged: 2, ActionCreate: 2})
	plan, err = Sync(ctx, eng, store, desired, opts)
	assert.NilError(t, err)
	assert.Equal(t, plan.Changes(), 0)
}

func TestSyncRefusesAValueOverTheSwarmLimit(t *testing.T) {
	ctx := context.Background()
	eng := engineForTest(t)
	p := uniquePrefix()
	cleanupManaged(t, eng.Engine, p)
	vault, kv := kvstore.New(t, kvtest.Options{})
	vault.SetSecret("small", "a-small-value-"+p)
	vault.SetSecret("big", "grows-past-the-limit-"+p)
	store := bigValueStore{Store: kv, name: "big"}
	desired := []Desired{{Name: p + "_small", KVName: "small"}, {Name: p + "_big", KVName: "big"}}

	plan, err := Sync(ctx, eng, store, desired, SyncOptions{PlanOptions: PlanOptions{Source: store.VaultURL(), Keep: 1}})
	assert.Check(t, is.Error(err, "1 of 2 secrets failed, the others were synced: "+p+"_big: value is 512001 bytes, over the swarm limit of 512000"))
	assert.Check(t, is.Equal(plan.Actions[1].Kind, ActionError))
	assert.Check(t, is.Equal(eng.creates.Load(), int64(1)), "the small one is synced all the same")
}

// bigValueStore reads a value over the swarm limit for one secret. Key
// Vault holds at most 25,600 characters, so the emulator cannot: the limit
// is checked all the same, since a Store is an interface.
type bigValueStore struct {
	keyvault.Store
	name string
}

func (s bigValueStore) Get(ctx context.Context, name, version string) (keyvault.Secret, error) {
	sec, err := s.Store.Get(ctx, name, version)
	if err == nil && name == s.name {
		sec.Value = bytes.Repeat([]byte("x"), MaxSecretSize+1)
	}
	return sec, err
}

// A create that an interrupted sync sent may land after that sync stopped
// looking; the next one finds the name taken by its own secret.
func TestCreateSecretAdoptsItsOwnVersionOnly(t *testing.T) {
	ctx := context.Background()
	eng := engineForTest(t)
	p := uniquePrefix()
	cleanupManaged(t, eng.Engine, p)
	a := &Action{Kind: ActionCreate, Secret: p + "_db", KVName: "db", Name: VersionedName(p+"_db", v1), Version: v1, Updated: t1.Unix()}
	landed, err := eng.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarmtypes.SecretSpec{
		Annotations: swarmtypes.Annotations{Name: a.Name, Labels: labels(a, "https://v.vault.azure.net")},
		Data:        []byte("landed-late-" + p),
	}})
	assert.NilError(t, err)
	existed, err := createSecret(ctx, eng, a, []byte("landed-late-"+p), "https://v.vault.azure.net")
	assert.NilError(t, err)
	assert.Check(t, existed, "found, not created")
	assert.Check(t, is.Equal(a.ID, landed.ID))

	// Same name, another version label: not ours to take.
	b := &Action{Kind: ActionCreate, Secret: p + "_db", KVName: "db", Name: a.Name, Version: v2}
	assert.Check(t, is.ErrorContains(createErr(createSecret(ctx, eng, b, []byte("x"), "https://v.vault.azure.net")), "already exists"))
	assert.Check(t, is.Equal(b.ID, ""))
	// Same name and version from another Key Vault secret or vault: not ours.
	c := &Action{Kind: ActionCreate, Secret: p + "_db", KVName: "other-db", Name: a.Name, Version: v1}
	assert.Check(t, is.ErrorContains(createErr(createSecret(ctx, eng, c, []byte("x"), "https://v.vault.azure.net")), "already exists"))
	d := &Action{Kind: ActionCreate, Secret: p + "_db", KVName: "db", Name: a.Name, Version: v1}
	assert.Check(t, is.ErrorContains(createErr(createSecret(ctx, eng, d, []byte("x"), "https://other.vault.azure.net")), "already exists"))

	// Unmanaged: never taken.
	u := &Action{Kind: ActionCreate, Secret: p + "_u", Name: VersionedName(p+"_u", v1), Version: v1}
	_, err = eng.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarmtypes.SecretSpec{
		Annotations: swarmtypes.Annotations{Name: u.Name}, Data: []byte("by hand"),
	}})
	assert.NilError(t, err)
	assert.Check(t, is.ErrorContains(createErr(createSecret(ctx, eng, u, []byte("x"), "https://v.vault.azure.net")), "already exists"))
}

func createErr(_ bool, err error) error { return err }

// --wait on a service scaled to 0 has no task to wait for.
func TestSyncWaitConvergesAServiceScaledToZero(t *testing.T) {
	ctx := context.Background()
	eng := engineForTest(t)
	p := uniquePrefix()
	cleanupManaged(t, eng.Engine, p)
	vault, store := kvstore.New(t, kvtest.Options{})
	vault.SetSecret("db-password", "zero-one-"+p)
	desired := []Desired{{Name: p + "_db", KVName: "db-password"}}
	opts := SyncOptions{PlanOptions: PlanOptions{Source: store.VaultURL(), Keep: 1}, ApplyOptions: ApplyOptions{Wait: true, Poll: 100 * time.Millisecond}}
	plan, err := Sync(ctx, eng, store, desired, opts)
	assert.NilError(t, err)
	zero := uint64(0)
	_, err = eng.Engine.(*client.Client).ServiceCreate(ctx, client.ServiceCreateOptions{Spec: swarmtypes.ServiceSpec{
		Annotations: swarmtypes.Annotations{Name: p + "_idle"},
		Mode:        swarmtypes.ServiceMode{Replicated: &swarmtypes.ReplicatedService{Replicas: &zero}},
		TaskTemplate: swarmtypes.TaskSpec{ContainerSpec: &swarmtypes.ContainerSpec{
			Image:   "docker-vault-test/busybox:1",
			Command: []string{"sleep", "600"},
			Secrets: []*swarmtypes.SecretReference{{SecretID: plan.Actions[0].ID, SecretName: plan.Actions[0].Name,
				File: &swarmtypes.SecretReferenceFileTarget{Name: "db", UID: "0", GID: "0", Mode: 0o400}}},
		}},
	}})
	assert.NilError(t, err)

	vault.SetSecret("db-password", "zero-two-"+p)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	plan, err = Sync(wctx, eng, store, desired, opts)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(plan.Actions[0].Services, []string{p + "_idle"}))
}

// Two versions written within one second list with the same "updated"
// time. A version read before its second was over is recorded unsettled,
// so the next sync reads the version again instead of trusting the list;
// once settled, a sync reads no value at all.
func TestSyncSameSecondRotation(t *testing.T) {
	ctx := context.Background()
	eng := engineForTest(t)
	p := uniquePrefix()
	cleanupManaged(t, eng.Engine, p)
	second := time.Now().Truncate(time.Second)
	vault, store := kvstore.New(t, kvtest.Options{Clock: func() time.Time { return second }})
	vault.SetSecret("db-password", "value-a-"+p)
	desired := []Desired{{Name: p + "_db", KVName: "db-password"}}
	at := func(d time.Duration) SyncOptions {
		return SyncOptions{PlanOptions: PlanOptions{Source: store.VaultURL(), Keep: 1},
			Now: func() time.Time { return second.Add(d) }}
	}

	plan, err := Sync(ctx, eng, store, desired, at(30*time.Millisecond))
	assert.NilError(t, err)
	assert.Equal(t, plan.Actions[0].Kind, ActionCreate)
	assert.Check(t, plan.Actions[0].Unsettled)
	sec, err := eng.SecretInspect(ctx, plan.Actions[0].ID, client.SecretInspectOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(sec.Secret.Spec.Labels[LabelUnsettled], "true"))

	// B lands in the same second: the list looks the same as before.
	b := vault.SetSecret("db-password", "value-b-"+p)
	plan, err = Sync(ctx, eng, store, desired, at(510*time.Millisecond))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(plan.Actions[0].Kind, ActionRotate))
	assert.Check(t, is.Equal(plan.Actions[0].Version, b))

	// Later: B is confirmed with one read, then no read is needed.
	vault.ResetCounts()
	plan, err = Sync(ctx, eng, store, desired, at(2*time.Second))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(plan.Actions[0].Kind, ActionUnchanged), plan.String())
	assert.Check(t, plan.Actions[0].Confirm)
	assert.Check(t, is.Equal(vault.Count(kvtest.RouteGetSecret), 1))
	sec, err = eng.SecretInspect(ctx, plan.Actions[0].ID, client.SecretInspectOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(sec.Secret.Spec.Labels[LabelUnsettled], ""), "the unsettled label must be gone")
	vault.ResetCounts()
	plan, err = Sync(ctx, eng, store, desired, at(3*time.Second))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(plan.Actions[0].Kind, ActionUnchanged), plan.String())
	assert.Check(t, is.Equal(vault.Count(kvtest.RouteGetSecret), 0), "a settled secret costs no value read")
}

// One disabled secret does not hold back the rotation of the others.
func TestSyncOneFailedSecretDoesNotBlockTheOthers(t *testing.T) {
	ctx := context.Background()
	eng := engineForTest(t)
	p := uniquePrefix()
	cleanupManaged(t, eng.Engine, p)
	vault, store := kvstore.New(t, kvtest.Options{})
	var desired []Desired
	for _, n := range []string{"a", "b", "c"} {
		vault.SetSecret(n, "value-1-"+n+p)
		desired = append(desired, Desired{Name: p + "_" + n, KVName: n})
	}
	opts := SyncOptions{PlanOptions: PlanOptions{Source: store.VaultURL(), Keep: 1}}
	_, err := Sync(ctx, eng, store, desired, opts)
	assert.NilError(t, err)

	for _, n := range []string{"a", "b", "c"} {
		vault.SetSecret(n, "value-2-"+n+p)
	}
	vault.SetEnabled("b", false)
	plan, err := Sync(ctx, eng, store, desired, opts)
	var partial *PartialError
	assert.Assert(t, errors.As(err, &partial), "%v", err)
	assert.Check(t, is.Error(err, `1 of 3 secrets failed, the others were synced: `+p+`_b: Key Vault secret "b" is disabled`))
	kinds := map[string]ActionKind{}
	for _, a := range plan.Actions {
		kinds[a.Secret] = a.Kind
	}
	assert.DeepEqual(t, kinds, map[string]ActionKind{p + "_a": ActionRotate, p + "_b": ActionError, p + "_c": ActionRotate})
	assert.Check(t, !strings.Contains(err.Error(), "value-"))

	// The next sync finds a and c current and still fails on b alone.
	plan, err = Sync(ctx, eng, store, desired, opts)
	assert.Check(t, errors.As(err, &partial))
	assert.Check(t, is.Equal(plan.Changes(), 0), plan.String())
}

// Two syncs of one project at once: each secret is created once, and only
// one of them says it created it.
func TestConcurrentSyncsCreateOnce(t *testing.T) {
	ctx := context.Background()
	eng := engineForTest(t)
	p := uniquePrefix()
	cleanupManaged(t, eng.Engine, p)
	vault, store := kvstore.New(t, kvtest.Options{})
	var desired []Desired
	for i := 0; i < 20; i++ {
		n := fmt.Sprintf("s%d", i)
		vault.SetSecret(n, "value-"+n+p)
		desired = append(desired, Desired{Name: p + "_" + n, KVName: n})
	}
	var logs [2]bytes.Buffer
	errs := make(chan error, 2)
	for i := range logs {
		go func() {
			_, err := Sync(ctx, eng, store, desired, SyncOptions{PlanOptions: PlanOptions{Source: store.VaultURL(), Keep: 1},
				ApplyOptions: ApplyOptions{Log: &logs[i]}})
			errs <- err
		}()
	}
	assert.NilError(t, <-errs)
	assert.NilError(t, <-errs)
	created := map[string]int{}
	for i := range logs {
		for _, l := range strings.Split(logs[i].String(), "\n") {
			if name, ok := strings.CutPrefix(l, "created "); ok {
				created[strings.Fields(name)[0]]++
			}
		}
	}
	assert.Check(t, is.Len(created, 20))
	for n, c := range created {
		assert.Check(t, is.Equal(c, 1), "%s logged as created %d times", n, c)
	}
}
