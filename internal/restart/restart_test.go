package restart

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// fakeEngine has one function field per method.
type fakeEngine struct {
	listFunc    func(client.ContainerListOptions) (client.ContainerListResult, error)
	inspectFunc func(id string) (client.ContainerInspectResult, error)
	restartFunc func(id string) error
}

func (f *fakeEngine) ContainerList(_ context.Context, o client.ContainerListOptions) (client.ContainerListResult, error) {
	return f.listFunc(o)
}

func (f *fakeEngine) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	return f.inspectFunc(id)
}

func (f *fakeEngine) ContainerRestart(_ context.Context, id string, _ client.ContainerRestartOptions) (client.ContainerRestartResult, error) {
	return client.ContainerRestartResult{}, f.restartFunc(id)
}

func summary(id, name string, sources ...string) container.Summary {
	s := container.Summary{ID: id, Names: []string{"/" + name}}
	for _, src := range sources {
		s.Mounts = append(s.Mounts, container.MountPoint{Type: "bind", Source: src, Destination: "/run/secrets/x"})
	}
	return s
}

func TestStaleIsStartedBeforeTheFileWasReplaced(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	other := filepath.Join(dir, "other")
	assert.NilError(t, os.WriteFile(token, []byte("x"), 0o600))
	assert.NilError(t, os.WriteFile(other, []byte("y"), 0o600))
	written := time.Now().Add(-time.Minute)
	assert.NilError(t, os.Chtimes(token, written, written))
	assert.NilError(t, os.Chtimes(other, written, written))
	link := filepath.Join(dir, "link")
	assert.NilError(t, os.Symlink(token, link))

	started := map[string]time.Time{
		"old":    written.Add(-time.Hour), // started before the write: old inode
		"new":    written.Add(time.Second),
		"linked": written.Add(-time.Hour), // mounts the file through the symlink's target
	}
	var filters client.Filters
	eng := &fakeEngine{
		listFunc: func(o client.ContainerListOptions) (client.ContainerListResult, error) {
			filters = o.Filters
			return client.ContainerListResult{Items: []container.Summary{
				summary("old0000000000000", "p-old-1", token),
				summary("new0000000000000", "p-new-1", token),
				summary("linked0000000000", "p-linked-1", token),
				summary("unrelated0000000", "p-unrelated-1", "/elsewhere"),
			}}, nil
		},
		inspectFunc: func(id string) (client.ContainerInspectResult, error) {
			name := map[string]string{"old0000000000000": "old", "new0000000000000": "new", "linked0000000000": "linked"}[id]
			assert.Check(t, name != "", "inspected %s, which mounts no secret file", id)
			return client.ContainerInspectResult{Container: container.InspectResponse{
				State: &container.State{StartedAt: started[name].Format(time.RFC3339Nano)},
			}}, nil
		},
	}

	stale, err := Stale(context.Background(), eng, []string{link, other}, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(Names(stale), []string{"p-linked-1", "p-old-1"}))
	assert.Check(t, is.DeepEqual(filters, make(client.Filters).Add("label", "com.docker.compose.project")))

	// A dry run: the file is about to change, so every user is stale.
	stale, err = Stale(context.Background(), eng, []string{token}, []string{token})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(Names(stale), []string{"p-linked-1", "p-new-1", "p-old-1"}))
}

func TestRestartStopsAtTheFirstFailure(t *testing.T) {
	var restarted []string
	eng := &fakeEngine{restartFunc: func(id string) error {
		if id == "b" {
			return errors.New("boom")
		}
		restarted = append(restarted, id)
		return nil
	}}
	done, err := Restart(context.Background(), eng, []Container{{ID: "a", Name: "p-a-1"}, {ID: "b", Name: "p-b-1"}, {ID: "c", Name: "p-c-1"}})
	assert.Check(t, is.Error(err, "failed to restart container p-b-1: boom"))
	assert.Check(t, is.DeepEqual(done, []string{"p-a-1"}))
	assert.Check(t, is.DeepEqual(restarted, []string{"a"}))
}
