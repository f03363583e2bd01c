package swarm

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	swarmtypes "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	Source string        // vault URL, for the source label
	Wait   bool          // wait for rotated services to converge
	Poll   time.Duration // how often to check while waiting
	Log    io.Writer     // one line per change; never a value
	// Progress, when not nil, is a terminal: while waiting, it shows each
	// rotated service's tasks on the new secret out of its total, one line
	// per service rewritten in place, as `docker service update` does.
	Progress io.Writer
	// Parallel bounds the Engine API calls that run at once (secret
	// creation). Default 8. Against a local engine a create costs about a
	// millisecond, but through ssh:// or tcp:// contexts each one is a
	// network round trip, and 500 of them one after another take minutes.
	Parallel int
}

// Apply carries out a plan. values holds the fetched value of every secret
// the plan creates, by compose secret name. The order makes a failure at
// any point safe: secrets are created before any service points at them,
// and old ones are removed last, only when nothing uses them any more.
func Apply(ctx context.Context, eng Engine, plan *Plan, services []Service, values map[string][]byte, opts ApplyOptions) error {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Poll == 0 {
		opts.Poll = 500 * time.Millisecond
	}
	if opts.Parallel < 1 {
		opts.Parallel = 8
	}
	if err := createAll(ctx, eng, plan, values, opts); err != nil {
		return err
	}
	for i := range plan.Actions {
		a := &plan.Actions[i]
		if a.Kind != ActionRelabel && !a.Confirm {
			continue
		}
		if err := relabel(ctx, eng, a); err != nil {
			return err
		}
		if !a.Confirm {
			fmt.Fprintf(opts.Log, "relabelled %s\n", a.Name)
		}
	}
	var rotated []rotatedService
	for _, a := range plan.Actions {
		if a.Kind != ActionRotate {
			continue
		}
		for _, name := range a.Services {
			id := serviceID(services, name)
			if id == "" {
				return fmt.Errorf("service %s disappeared during the sync; run it again", name)
			}
			if err := repoint(ctx, eng, id, a); err != nil {
				return err
			}
			fmt.Fprintf(opts.Log, "updated service %s to %s\n", name, a.Name)
			rotated = addRotated(rotated, id, name, a.ID)
		}
	}
	if opts.Wait && len(rotated) > 0 {
		display := newWaitDisplay(opts.Progress)
		err := waitConverged(ctx, eng, rotated, opts.Poll, display)
		display.close()
		if err != nil {
			return err
		}
	}
	return prune(ctx, eng, plan, opts)
}

// createAll creates the new secrets of the plan, at most opts.Parallel at
// once. A failure stops the sync before any service is touched: the secrets
// already created are managed and unused, and the next sync finds them
// current. Creates already sent are let finish rather than cancelled: a
// cancelled request may still land in the swarm after the sync gave up.
func createAll(ctx context.Context, eng Engine, plan *Plan, values map[string][]byte, opts ApplyOptions) error {
	var g errgroup.Group
	g.SetLimit(opts.Parallel)
	var mu sync.Mutex
	var failed atomic.Bool
	for i := range plan.Actions {
		a := &plan.Actions[i]
		if (a.Kind != ActionCreate && a.Kind != ActionRotate) || a.ID != "" {
			continue
		}
		g.Go(func() error {
			if failed.Load() {
				return nil
			}
			existed, err := createSecret(ctx, eng, a, values[a.Secret], opts.Source)
			if err != nil {
				failed.Store(true)
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if existed {
				fmt.Fprintf(opts.Log, "found %s already created (by another sync)\n", a.Name)
			} else {
				fmt.Fprintf(opts.Log, "created %s (version %s)\n", a.Name, a.Version)
			}
			return nil
		})
	}
	return g.Wait()
}

// prune removes the old versions the plan prunes, checking first, against
// one fresh list of services and tasks, that nothing uses them any more.
// One still in use becomes ActionKeep: a later sync removes it.
func prune(ctx context.Context, eng Engine, plan *Plan, opts ApplyOptions) error {
	var users *secretUsers
	for i := range plan.Actions {
		a := &plan.Actions[i]
		if a.Kind != ActionPrune {
			continue
		}
		if users == nil {
			var err error
			if users, err = observeUsers(ctx, eng); err != nil {
				return err
			}
		}
		if user := users.of(a.ID); user != "" {
			a.Kind, a.Reason = ActionKeep, "still used by "+user+"; a later sync removes it"
			fmt.Fprintf(opts.Log, "kept %s: still used by %s\n", a.Name, user)
			continue
		}
		if _, err := eng.SecretRemove(ctx, a.ID, client.SecretRemoveOptions{}); err != nil {
			if cerrdefs.IsNotFound(err) {
				continue // removed by someone else meanwhile: the goal is met
			}
			return fmt.Errorf("failed to remove swarm secret %s: %w", a.Name, err)
		}
		fmt.Fprintf(opts.Log, "removed %s\n", a.Name)
	}
	return nil
}

func labels(a *Action, source string) map[string]string {
	l := map[string]string{
		LabelManaged:     "true",
		LabelSecret:      a.Secret,
		LabelVersion:     a.Version,
		LabelSource:      source,
		LabelVaultSecret: a.KVName,
		LabelUpdated:     strconv.FormatInt(a.Updated, 10),
	}
	if a.Unsettled {
		l[LabelUnsettled] = "true"
	}
	return l
}

// createSecret creates the swarm secret of a, or finds it already made by
// another sync of the same version (existed).
func createSecret(ctx context.Context, eng Engine, a *Action, value []byte, source string) (existed bool, err error) {
	if value == nil {
		return false, fmt.Errorf("internal error: no value was read for %s", a.Secret)
	}
	res, err := eng.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarmtypes.SecretSpec{
		Annotations: swarmtypes.Annotations{Name: a.Name, Labels: labels(a, source)},
		Data:        value,
	}})
	if cerrdefs.IsAlreadyExists(err) || cerrdefs.IsConflict(err) { // the engine answers 409
		// An earlier sync that was interrupted (Ctrl-C, --timeout) may have
		// had this create land after it stopped looking, or a concurrent
		// sync created it first. Ours if it carries
		// our labels for this very version: Key Vault versions are
		// immutable, so it holds this value.
		if id, ok := existingManaged(ctx, eng, a, source); ok {
			a.ID = id
			return true, nil
		}
	}
	if err != nil {
		// The engine's error names the secret, never its data.
		return false, fmt.Errorf("failed to create swarm secret %s: %w", a.Name, err)
	}
	a.ID = res.ID
	return false, nil
}

// existingManaged returns the id of the swarm secret named a.Name if it is
// the managed secret of a's identity at a.Version.
func existingManaged(ctx context.Context, eng Engine, a *Action, source string) (string, bool) {
	res, err := eng.SecretInspect(ctx, a.Name, client.SecretInspectOptions{})
	if err != nil {
		return "", false
	}
	l := res.Secret.Spec.Labels
	m := Managed{Secret: l[LabelSecret], Source: l[LabelSource], KVName: l[LabelVaultSecret]}
	id := Identity{Secret: a.Secret, Vault: source, KVName: a.KVName}
	if res.Secret.Spec.Name != a.Name || l[LabelManaged] != "true" || !id.Of(m) || !strings.EqualFold(l[LabelVersion], a.Version) {
		return "", false
	}
	return res.Secret.ID, true
}

func relabel(ctx context.Context, eng Engine, a *Action) error {
	cur, err := eng.SecretInspect(ctx, a.ID, client.SecretInspectOptions{})
	if err != nil {
		return fmt.Errorf("failed to inspect swarm secret %s: %w", a.Name, err)
	}
	spec := cur.Secret.Spec
	spec.Labels[LabelUpdated] = strconv.FormatInt(a.Updated, 10)
	if a.Unsettled {
		spec.Labels[LabelUnsettled] = "true"
	} else {
		delete(spec.Labels, LabelUnsettled)
	}
	if _, err := eng.SecretUpdate(ctx, a.ID, client.SecretUpdateOptions{Version: cur.Secret.Version, Spec: spec}); err != nil {
		return fmt.Errorf("failed to update the labels of swarm secret %s: %w", a.Name, err)
	}
	return nil
}

// repoint moves a service's references from the secrets a replaces to the
// new one, keeping each reference's target, uid, gid and mode. The update
// goes through the service's own update config.
func repoint(ctx context.Context, eng Engine, serviceID string, a Action) error {
	old := map[string]bool{}
	for _, id := range a.Replaces {
		old[id] = true
	}
	for attempt := 0; ; attempt++ {
		res, err := eng.ServiceInspect(ctx, serviceID, client.ServiceInspectOptions{})
		if err != nil {
			return fmt.Errorf("failed to inspect service %s: %w", serviceID, err)
		}
		spec := res.Service.Spec
		cs := spec.TaskTemplate.ContainerSpec
		if cs == nil {
			return nil
		}
		changed := false
		for _, r := range cs.Secrets {
			if old[r.SecretID] {
				r.SecretID, r.SecretName = a.ID, a.Name
				changed = true
			}
		}
		if !changed {
			return nil
		}
		_, err = eng.ServiceUpdate(ctx, serviceID, client.ServiceUpdateOptions{Version: res.Service.Version, Spec: spec})
		if err == nil {
			return nil
		}
		// Another writer updated the service between inspect and update:
		// read it again, a few times.
		if attempt >= 3 || !strings.Contains(err.Error(), "out of sequence") {
			return fmt.Errorf("failed to update service %s: %w", spec.Name, err)
		}
	}
}

// addRotated records that the service id now uses the secret newID: one
// entry per service, however many of its secrets rotated.
func addRotated(rotated []rotatedService, id, name, newID string) []rotatedService {
	for i := range rotated {
		if rotated[i].id == id {
			rotated[i].secrets = append(rotated[i].secrets, newID)
			return rotated
		}
	}
	return append(rotated, rotatedService{id: id, name: name, secrets: []string{newID}})
}

func serviceID(services []Service, name string) string {
	for _, s := range services {
		if s.Name == name {
			return s.ID
		}
	}
	return ""
}
