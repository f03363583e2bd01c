package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/poll"
)

func engineClient(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.New(client.FromEnv)
	assert.NilError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSwarmSmoke proves the test bed end to end: a swarm secret created
// through the Engine API reaches a service task, started from the base image,
// at /run/secrets/<name>. The task compares digests itself and exits 0 only
// on a match, so the value is never printed.
func TestSwarmSmoke(t *testing.T) {
	ctx := context.Background()
	c := engineClient(t)

	value := make([]byte, 32)
	_, _ = rand.Read(value)
	sum := sha256.Sum256(value)
	digest := hex.EncodeToString(sum[:])
	name := fmt.Sprintf("vault-e2e-smoke-%d", time.Now().UnixNano())

	sec, err := c.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarm.SecretSpec{
		Annotations: swarm.Annotations{Name: name, Labels: map[string]string{"com.docker.vault.e2e": "true"}},
		Data:        value,
	}})
	assert.NilError(t, err)
	t.Cleanup(func() { _, _ = c.SecretRemove(context.Background(), sec.ID, client.SecretRemoveOptions{}) })

	svc, err := c.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:   env.baseImage,
				Command: []string{"sh", "-c", `test "$(sha256sum /run/secrets/` + name + ` | cut -c1-64)" = "$WANT"`},
				Env:     []string{"WANT=" + digest},
				Secrets: []*swarm.SecretReference{{
					SecretID:   sec.ID,
					SecretName: name,
					File:       &swarm.SecretReferenceFileTarget{Name: name, UID: "0", GID: "0", Mode: 0o400},
				}},
			},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone},
		},
	}})
	assert.NilError(t, err)
	t.Cleanup(func() { _, _ = c.ServiceRemove(context.Background(), svc.ID, client.ServiceRemoveOptions{}) })

	var final swarm.Task
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		tasks, err := c.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", svc.ID)})
		if err != nil {
			return poll.Error(err)
		}
		for _, task := range tasks.Items {
			switch task.Status.State {
			case swarm.TaskStateComplete, swarm.TaskStateFailed, swarm.TaskStateRejected:
				final = task
				return poll.Success()
			}
		}
		return poll.Continue("waiting for the task to finish")
	}, poll.WithTimeout(90*time.Second), poll.WithDelay(250*time.Millisecond))

	assert.Equal(t, final.Status.State, swarm.TaskStateComplete,
		"task ended %s (%s, %s): the secret the task read does not match", final.Status.State, final.Status.Message, final.Status.Err)
	assert.Equal(t, final.Status.ContainerStatus.ExitCode, 0)
}
