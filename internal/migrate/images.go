package migrate

import (
	"context"
	"sort"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/imageinfo"
)

// maxImageReads bounds the images read at once: each may create a
// container (or pull) in the engine.
const maxImageReads = 4

// ImageRef is the image a service runs: its image:, or for a service that
// only builds, the name docker compose gives the image it builds
// (<project>-<service>), which is never pulled.
func ImageRef(p *types.Project, svc types.ServiceConfig) (ref string, build bool) {
	if svc.Image != "" {
		return svc.Image, false
	}
	if svc.Build != nil {
		return p.Name + "-" + svc.Name, true
	}
	return "", false
}

// ReadImages reads the image of every service of the project through r,
// each image once, a few at a time, and returns what it learnt by service
// name. A service whose image cannot be read gets the error, which Detect
// puts in the reason of its findings.
func ReadImages(ctx context.Context, r imageinfo.Reader, p *types.Project) map[string]compose.ImageInfo {
	type job struct {
		ref   string
		build bool
	}
	byRef := map[string][]string{}
	var jobs []job
	names := make([]string, 0, len(p.Services))
	for name := range p.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ref, build := ImageRef(p, p.Services[name])
		if ref == "" {
			continue
		}
		if _, ok := byRef[ref]; !ok {
			// A ref one service pulls is pulled, even when another only builds it.
			jobs = append(jobs, job{ref: ref, build: build})
		}
		byRef[ref] = append(byRef[ref], name)
	}
	results := make([]compose.ImageInfo, len(jobs))
	sem := make(chan struct{}, maxImageReads)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			img, err := r.Read(ctx, j.ref, imageinfo.ReadOptions{NoPull: j.build})
			results[i] = compose.ImageInfo{Image: img, Err: err}
		}()
	}
	wg.Wait()
	out := make(map[string]compose.ImageInfo, len(names))
	for i, j := range jobs {
		for _, name := range byRef[j.ref] {
			out[name] = results[i]
		}
	}
	return out
}
