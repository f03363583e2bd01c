// Package restart finds (and restarts) the Compose containers that still
// see an old value of a secret file.
//
// Compose mounts a `file:` secret into /run/secrets/<name> as a bind mount
// of the file. A bind mount holds the inode it was made with, and a secret
// file is replaced by an atomic rename, so a running container keeps seeing
// the old value until it is restarted: restarting mounts the new file.
//
// Which containers are stale is decided from the engine and the files, not
// from what one sync changed: a container started before its file was last
// replaced holds the old inode. So `sync` names them, and a later
// `sync --restart`, which has nothing left to write, still restarts them.
package restart

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// Engine is the part of the Engine API this package uses.
type Engine interface {
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, containerID string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerRestart(ctx context.Context, containerID string, options client.ContainerRestartOptions) (client.ContainerRestartResult, error)
}

// composeProjectLabel marks the containers Compose made. Any project counts,
// not only the one loaded: `docker compose -p other up` mounts the same file.
const composeProjectLabel = "com.docker.compose.project"

// Container is a running Compose container that mounts a secret file.
type Container struct {
	ID   string
	Name string
}

// Stale returns, sorted by name, the running Compose containers that
// bind-mount one of paths and see an old value: the file was replaced after
// the container started or, for a path in pending (a dry run's planned
// writes), is about to be.
func Stale(ctx context.Context, eng Engine, paths, pending []string) ([]Container, error) {
	// A mount's source is the path Compose was given; the file may be
	// reached through a symlink either way.
	files := map[string]string{} // mount source -> path to stat
	for _, p := range paths {
		files[p] = p
		if real, err := filepath.EvalSymlinks(p); err == nil {
			files[real] = p
		}
	}
	soon := map[string]bool{}
	for _, p := range pending {
		soon[p] = true
	}
	res, err := eng.ContainerList(ctx, client.ContainerListOptions{
		Filters: make(client.Filters).Add("label", composeProjectLabel),
	})
	if err != nil {
		return nil, fmt.Errorf("failed to list Compose containers: %w", err)
	}
	var out []Container
	for _, c := range res.Items {
		var mounted []string
		for _, m := range c.Mounts {
			if p, ok := files[m.Source]; ok {
				mounted = append(mounted, p)
			}
		}
		if len(mounted) == 0 {
			continue
		}
		stale, err := isStale(ctx, eng, c.ID, mounted, soon)
		if err != nil {
			return nil, err
		}
		if !stale {
			continue
		}
		name := c.ID[:min(12, len(c.ID))]
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = append(out, Container{ID: c.ID, Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// isStale tells whether the container started before one of its files was
// last written (the list does not say when a container started).
func isStale(ctx context.Context, eng Engine, id string, mounted []string, soon map[string]bool) (bool, error) {
	for _, p := range mounted {
		if soon[p] {
			return true, nil
		}
	}
	insp, err := eng.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return false, fmt.Errorf("failed to inspect container %s: %w", id[:min(12, len(id))], err)
	}
	if insp.Container.State == nil {
		return false, nil
	}
	started, err := time.Parse(time.RFC3339Nano, insp.Container.State.StartedAt)
	if err != nil {
		return false, nil // not started: nothing mounted yet
	}
	for _, p := range mounted {
		fi, err := os.Stat(p)
		if err != nil {
			continue // gone: a sync recreates it, and says so
		}
		if fi.ModTime().After(started) {
			return true, nil
		}
	}
	return false, nil
}

// Restart restarts the containers one by one and returns the names of those
// it restarted.
func Restart(ctx context.Context, eng Engine, cs []Container) ([]string, error) {
	var done []string
	for _, c := range cs {
		if _, err := eng.ContainerRestart(ctx, c.ID, client.ContainerRestartOptions{}); err != nil {
			return done, fmt.Errorf("failed to restart container %s: %w", c.Name, err)
		}
		done = append(done, c.Name)
	}
	return done, nil
}

// Names returns the containers' names.
func Names(cs []Container) []string {
	names := make([]string, 0, len(cs))
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}
