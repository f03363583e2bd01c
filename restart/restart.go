// Package restart finds (and restarts) the Compose containers that
// bind-mount a changed secret file.
//
// Compose mounts a `file:` secret into /run/secrets/<name> as a bind mount
// of the file. A bind mount holds the inode it was made with, and a secret
// file is replaced by an atomic rename, so a running container keeps seeing
// the old value until it is restarted: restarting mounts the new file.
package restart

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/moby/client"
)

// Engine is the part of the Engine API this package uses.
type Engine interface {
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerRestart(ctx context.Context, containerID string, options client.ContainerRestartOptions) (client.ContainerRestartResult, error)
}

// Containers returns the names of the running containers of the compose
// project that mount one of paths, and restarts them when do is set.
func Containers(ctx context.Context, eng Engine, project string, paths []string, do bool) ([]string, error) {
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
		if real, err := filepath.EvalSymlinks(p); err == nil {
			want[real] = true
		}
	}
	res, err := eng.ContainerList(ctx, client.ContainerListOptions{
		Filters: make(client.Filters).Add("label", "com.docker.compose.project="+project),
	})
	if err != nil {
		return nil, fmt.Errorf("failed to list the containers of project %s: %w", project, err)
	}
	type hit struct{ id, name string }
	var hits []hit
	for _, c := range res.Items {
		for _, m := range c.Mounts {
			if want[m.Source] {
				name := c.ID[:12]
				if len(c.Names) > 0 {
					name = strings.TrimPrefix(c.Names[0], "/")
				}
				hits = append(hits, hit{c.ID, name})
				break
			}
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].name < hits[j].name })
	names := make([]string, 0, len(hits))
	for _, h := range hits {
		names = append(names, h.name)
		if !do {
			continue
		}
		if _, err := eng.ContainerRestart(ctx, h.id, client.ContainerRestartOptions{}); err != nil {
			return names, fmt.Errorf("failed to restart container %s: %w", h.name, err)
		}
	}
	return names, nil
}
