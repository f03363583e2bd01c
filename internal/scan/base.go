package scan

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
)

// The OCI annotations (labels, for an image config) that name the image
// an image was built from; BuildKit and many CI builders set them.
const (
	labelBaseName   = "org.opencontainers.image.base.name"
	labelBaseDigest = "org.opencontainers.image.base.digest"
)

// maxBaseCandidates bounds the local images findBase inspects when no
// label names the base: the search stays cheap on an engine with
// thousands of images.
const maxBaseCandidates = 64

// How a base was determined.
const (
	baseByLabel  = "label"
	baseByPrefix = "prefix"
)

// base is what an image was built on: its first layers are the base's.
type base struct {
	name   string // as the engine names it (a tag, a digest, else its short id)
	how    string // baseByLabel, baseByPrefix, or "" when unknown
	layers int    // the number of the image's layers that are the base's
	why    string // why the label did not settle it, when it did not
	// layersSize is the base's size, to stop the search among smaller
	// candidates.
	layersSize int64
}

// note says, without a value, how the base was found and what is read.
func (b base) note(ref string, total int) string {
	read := fmt.Sprintf("%d of its %d layers read", total-b.layers, total)
	switch b.how {
	case baseByLabel:
		return fmt.Sprintf("image %s: base %s, named by its label %s: %s", ref, b.name, labelBaseName, read)
	case baseByPrefix:
		s := fmt.Sprintf("image %s: base %s, the local image whose layers are the longest proper prefix of its own: %s", ref, b.name, read)
		if b.why != "" {
			s += " (" + b.why + ")"
		}
		return s
	}
	s := fmt.Sprintf("image %s: base unknown: every layer read (%d)", ref, total)
	if b.why != "" {
		s += " (" + b.why + ")"
	}
	return s
}

// findBase determines the base of img, so that only the layers img adds
// are read:
//
//  1. the image its label org.opencontainers.image.base.name names (by
//     org.opencontainers.image.base.digest when the name is not local),
//     if the engine has it and its layers (RootFS diff ids) start img's;
//  2. else the local image whose layers are the longest proper prefix of
//     img's, among the named images no larger than img (at most
//     maxBaseCandidates inspected, largest first: a longer prefix is never
//     smaller, so the first found is the longest). Creation times are not
//     compared: a reproducible build (SOURCE_DATE_EPOCH) dates an image
//     before its base;
//  3. else none: every layer is read.
//
// It never pulls, and an error on the way only makes the base unknown.
func findBase(ctx context.Context, api ImageAPI, img image.InspectResponse) base {
	layers := img.RootFS.Layers
	var why string
	if img.Config != nil {
		if name := img.Config.Labels[labelBaseName]; name != "" {
			b, err := baseFromLabel(ctx, api, img, name, img.Config.Labels[labelBaseDigest])
			if err == nil {
				return b
			}
			why = err.Error()
		}
	}
	list, err := api.ImageList(ctx, client.ImageListOptions{})
	if err != nil {
		return base{why: joinWhy(why, "listing the local images failed: "+oneLine(err))}
	}
	var cands []image.Summary
	for _, s := range list.Items {
		if s.ID == img.ID || imageName(s.RepoTags, s.RepoDigests, "") == "" {
			continue
		}
		if img.Size > 0 && s.Size > img.Size {
			continue
		}
		cands = append(cands, s)
	}
	slices.SortStableFunc(cands, func(a, b image.Summary) int { return int(b.Size - a.Size) })
	best := base{}
	for i, c := range cands {
		if i == maxBaseCandidates {
			break
		}
		if best.how != "" && c.Size < best.layersSize {
			break
		}
		res, err := api.ImageInspect(ctx, c.ID)
		if err != nil {
			continue
		}
		n := len(res.RootFS.Layers)
		if n < len(layers) && n > best.layers && isPrefix(res.RootFS.Layers, layers) {
			best = base{name: imageName(c.RepoTags, c.RepoDigests, c.ID), how: baseByPrefix, layers: n, why: why, layersSize: c.Size}
		}
	}
	if best.how == "" {
		if why == "" {
			why = "no label " + labelBaseName + " and no local image whose layers start its own"
		} else {
			why = joinWhy(why, "and no local image whose layers start its own")
		}
		return base{why: why}
	}
	return best
}

func joinWhy(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// baseFromLabel checks the image the label names.
func baseFromLabel(ctx context.Context, api ImageAPI, img image.InspectResponse, name, digest string) (base, error) {
	refs := []string{name}
	if digest != "" {
		refs = append(refs, repository(name)+"@"+digest)
	}
	var res client.ImageInspectResult
	var err error
	for _, r := range refs {
		if res, err = api.ImageInspect(ctx, r); err == nil {
			break
		}
	}
	if err != nil {
		return base{}, fmt.Errorf("the base its label names, %s, is not a local image", name)
	}
	if !isPrefix(res.RootFS.Layers, img.RootFS.Layers) {
		return base{}, fmt.Errorf("the local %s its label names is not its base: the layers differ", name)
	}
	return base{name: name, how: baseByLabel, layers: len(res.RootFS.Layers)}, nil
}

// repository strips the tag and digest from a reference.
func repository(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}

func isPrefix(prefix, of []string) bool {
	return len(prefix) <= len(of) && slices.Equal(prefix, of[:len(prefix)])
}

// imageName is how a note names an image: a tag, else a digest, else
// fallback (a short id, or "" for an image without a name).
func imageName(tags, digests []string, id string) string {
	for _, t := range tags {
		if t != "<none>:<none>" {
			return t
		}
	}
	for _, d := range digests {
		if d != "<none>@<none>" {
			return d
		}
	}
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
