package swarm

import (
	"context"
	"fmt"
	"strconv"
	"time"

	swarmtypes "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Engine is the part of the Engine API a sync uses.
type Engine interface {
	SecretList(ctx context.Context, options client.SecretListOptions) (client.SecretListResult, error)
	SecretCreate(ctx context.Context, options client.SecretCreateOptions) (client.SecretCreateResult, error)
	SecretInspect(ctx context.Context, id string, options client.SecretInspectOptions) (client.SecretInspectResult, error)
	SecretUpdate(ctx context.Context, id string, options client.SecretUpdateOptions) (client.SecretUpdateResult, error)
	SecretRemove(ctx context.Context, id string, options client.SecretRemoveOptions) (client.SecretRemoveResult, error)
	ServiceList(ctx context.Context, options client.ServiceListOptions) (client.ServiceListResult, error)
	ServiceInspect(ctx context.Context, serviceID string, options client.ServiceInspectOptions) (client.ServiceInspectResult, error)
	ServiceUpdate(ctx context.Context, serviceID string, options client.ServiceUpdateOptions) (client.ServiceUpdateResult, error)
	TaskList(ctx context.Context, options client.TaskListOptions) (client.TaskListResult, error)
}

// ObserveSecrets lists the swarm's secrets once and sorts them into managed
// and unmanaged.
func ObserveSecrets(ctx context.Context, eng Engine) (Observed, error) {
	res, err := eng.SecretList(ctx, client.SecretListOptions{})
	if err != nil {
		return Observed{}, fmt.Errorf("failed to list swarm secrets: %w", err)
	}
	obs := Observed{Unmanaged: map[string]string{}}
	for _, s := range res.Items {
		l := s.Spec.Labels
		if l[LabelManaged] != "true" {
			obs.Unmanaged[s.Spec.Name] = s.ID
			continue
		}
		updated, _ := strconv.ParseInt(l[LabelUpdated], 10, 64)
		obs.Managed = append(obs.Managed, Managed{
			ID:        s.ID,
			Name:      s.Spec.Name,
			Secret:    l[LabelSecret],
			Version:   l[LabelVersion],
			Source:    l[LabelSource],
			KVName:    l[LabelVaultSecret],
			Updated:   updated,
			Unsettled: l[LabelUnsettled] == "true",
			Created:   s.CreatedAt,
		})
	}
	return obs, nil
}

// ObserveServices lists the services and the secrets their specs reference.
func ObserveServices(ctx context.Context, eng Engine) ([]Service, error) {
	res, err := eng.ServiceList(ctx, client.ServiceListOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to list services: %w", err)
	}
	var out []Service
	for _, s := range res.Items {
		svc := Service{ID: s.ID, Name: s.Spec.Name, Stack: s.Spec.Labels[LabelStack]}
		if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil {
			for _, r := range cs.Secrets {
				svc.Secrets = append(svc.Secrets, SecretRef{SecretID: r.SecretID, SecretName: r.SecretName})
			}
		}
		out = append(out, svc)
	}
	return out, nil
}

// secretUsers is who references which secret: service specs, and tasks
// that are not yet shut down (a task keeps its secret mounted until its
// container is gone, even after its service moved on).
type secretUsers struct {
	services []Service
	tasks    []swarmtypes.Task
}

// observeUsers lists services and tasks once, for every prune of a sync.
func observeUsers(ctx context.Context, eng Engine) (*secretUsers, error) {
	services, err := ObserveServices(ctx, eng)
	if err != nil {
		return nil, err
	}
	tasks, err := eng.TaskList(ctx, client.TaskListOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to list tasks: %w", err)
	}
	return &secretUsers{services: services, tasks: tasks.Items}, nil
}

// SecretUsers lists services and tasks once, as a sync does before it
// prunes, and names who uses each of ids: "service NAME" (a service of any
// stack) or "task ID" (a task not yet shut down). An id nothing uses is
// absent.
func SecretUsers(ctx context.Context, eng Engine, ids []string) (map[string]string, error) {
	users, err := observeUsers(ctx, eng)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, id := range ids {
		if u := users.of(id); u != "" {
			out[id] = u
		}
	}
	return out, nil
}

// of names a service or task that uses the secret id, or returns "".
func (u *secretUsers) of(id string) string {
	if users := usedBy(u.services, id, PlanOptions{AllStacks: true}); len(users) > 0 {
		return "service " + users[0]
	}
	for _, t := range u.tasks {
		switch t.Status.State {
		case swarmtypes.TaskStateComplete, swarmtypes.TaskStateShutdown, swarmtypes.TaskStateFailed,
			swarmtypes.TaskStateRejected, swarmtypes.TaskStateRemove, swarmtypes.TaskStateOrphaned:
			continue // its container is gone or going: the secret is no longer mounted
		}
		if cs := t.Spec.ContainerSpec; cs != nil {
			for _, r := range cs.Secrets {
				if r.SecretID == id {
					return "task " + shortID(t.ID)
				}
			}
		}
	}
	return ""
}

// waitConverged waits until every service of services runs on its new
// secrets (see checkConverged), polling them together every poll; display,
// when not nil, shows how far each one is. A rollback or a pause is an
// error.
func waitConverged(ctx context.Context, eng Engine, services []rotatedService, poll time.Duration, display *waitDisplay) error {
	pending := services
	for {
		var left []rotatedService
		for _, s := range pending {
			st, err := checkConverged(ctx, eng, s.id, s.secrets)
			if err != nil {
				return err
			}
			display.show(st)
			if st.failure != "" {
				return fmt.Errorf("update of service %s %s", st.name, st.failure)
			}
			if !st.converged {
				left = append(left, s)
			}
		}
		if len(left) == 0 {
			return nil
		}
		pending = left
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for service %s to converge: %w", pending[0].name, context.Cause(ctx))
		case <-time.After(poll):
		}
	}
}

// rotatedService is a service a sync moved, and the new secrets it moved
// it to.
type rotatedService struct {
	id, name string
	secrets  []string
}

// checkConverged tells whether a service runs on the secrets newIDs: its
// update completed (a rollback or a pause is a failure), every task meant to
// run is running with all of newIDs, and no older task is still running.
// Right after an update the engine may not have set UpdateStatus yet, so the
// tasks decide.
func checkConverged(ctx context.Context, eng Engine, serviceID string, newIDs []string) (serviceState, error) {
	res, err := eng.ServiceInspect(ctx, serviceID, client.ServiceInspectOptions{})
	if err != nil {
		return serviceState{}, fmt.Errorf("failed to inspect service %s: %w", serviceID, err)
	}
	st := serviceState{name: res.Service.Spec.Name}
	updating := false
	if us := res.Service.UpdateStatus; us != nil {
		switch us.State {
		case swarmtypes.UpdateStateRollbackStarted, swarmtypes.UpdateStateRollbackCompleted, swarmtypes.UpdateStateRollbackPaused:
			st.failure = "rolled back: " + us.Message
			return st, nil
		case swarmtypes.UpdateStatePaused:
			st.failure = "paused: " + us.Message
			return st, nil
		case swarmtypes.UpdateStateUpdating:
			updating = true
		}
	}
	mode := res.Service.Spec.Mode
	tasks, err := eng.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", serviceID)})
	if err != nil {
		return serviceState{}, fmt.Errorf("failed to list tasks: %w", err)
	}
	want := wantRunning(mode)
	c := countTasks(tasks.Items, newIDs)
	st.updated, st.total = c.updated, want
	if mode.Global != nil {
		st.total = max(want, c.meant) // one task per eligible node
	}
	st.converged = !updating && !c.stale && c.updated >= want
	return st, nil
}

// taskCount is what a service's tasks say of its move to new secrets.
type taskCount struct {
	updated int  // meant to run, running (or starting) with every new secret
	meant   int  // meant to run
	stale   bool // a task meant to run is not yet on the new secrets and running, or an old one still runs
}

func countTasks(tasks []swarmtypes.Task, newIDs []string) taskCount {
	var c taskCount
	for _, t := range tasks {
		uses := true
		for _, id := range newIDs {
			uses = uses && usesSecret(t, id)
		}
		active := t.Status.State == swarmtypes.TaskStateRunning || t.Status.State == swarmtypes.TaskStateStarting
		switch {
		case t.DesiredState == swarmtypes.TaskStateRunning && (!active || !uses):
			if t.Status.State == swarmtypes.TaskStateFailed || t.Status.State == swarmtypes.TaskStateRejected {
				continue // replaced by a new task; the update status reports real failures
			}
			c.meant++
			c.stale = true
		case t.DesiredState != swarmtypes.TaskStateRunning && active:
			c.stale = true // an old task is still stopping
		case active:
			c.meant++
			c.updated++
		}
	}
	return c
}

func usesSecret(t swarmtypes.Task, id string) bool {
	if cs := t.Spec.ContainerSpec; cs != nil {
		for _, r := range cs.Secrets {
			if r.SecretID == id {
				return true
			}
		}
	}
	return false
}

// wantRunning is how many tasks must run on the new secret: the replicas of
// a replicated service (a service scaled to 0 converges with none), at
// least one of a global service, none of a job, whose tasks complete.
func wantRunning(mode swarmtypes.ServiceMode) int {
	switch {
	case mode.Replicated != nil && mode.Replicated.Replicas != nil:
		return int(*mode.Replicated.Replicas)
	case mode.ReplicatedJob != nil, mode.GlobalJob != nil:
		return 0
	}
	return 1
}
