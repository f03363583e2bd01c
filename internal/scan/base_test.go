package scan

import (
	"context"
	"testing"

	"github.com/moby/moby/api/types/image"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func withLayers(id string, labels map[string]string, layers ...string) image.InspectResponse {
	return image.InspectResponse{ID: id, Config: config(nil, labels), RootFS: image.RootFS{Type: "layers", Layers: layers}, Created: "2026-01-02T00:00:00Z"}
}

func summaryOf(id string, size int64, tags ...string) image.Summary {
	return image.Summary{ID: id, Size: size, RepoTags: tags, Created: 1767225600} // 2026-01-01
}

// (1) The label names a local image whose layers start the image's.
func TestFindBaseByLabel(t *testing.T) {
	app := withLayers("sha256:app", map[string]string{labelBaseName: "base:1"}, "l0", "l1", "l2")
	api := &fakeImages{images: map[string]image.InspectResponse{"base:1": withLayers("sha256:base", nil, "l0", "l1")}}
	b := findBase(context.Background(), api, app)
	assert.Check(t, is.Equal(b.layers, 2))
	assert.Check(t, is.Equal(b.note("app:1", 3), "image app:1: base base:1, named by its label org.opencontainers.image.base.name: 1 of its 3 layers read"))
}

// The label's name is not local, its digest is.
func TestFindBaseByLabelDigest(t *testing.T) {
	app := withLayers("sha256:app", map[string]string{labelBaseName: "docker.io/library/base:2", labelBaseDigest: "sha256:dd"}, "l0", "l1")
	api := &fakeImages{images: map[string]image.InspectResponse{"docker.io/library/base@sha256:dd": withLayers("sha256:base", nil, "l0")}}
	b := findBase(context.Background(), api, app)
	assert.Check(t, is.Equal(b.how, baseByLabel))
	assert.Check(t, is.Equal(b.layers, 1))
}

// (2) The longest proper prefix among the local images; the label's
// image is not the base (its layers differ), and the note says so.
func TestFindBaseByPrefix(t *testing.T) {
	app := withLayers("sha256:app", map[string]string{labelBaseName: "stale:1"}, "l0", "l1", "l2")
	app.Size = 100
	api := &fakeImages{
		images: map[string]image.InspectResponse{
			"stale:1":    withLayers("sha256:stale", nil, "x0"),
			"sha256:a":   withLayers("sha256:a", nil, "l0"),
			"sha256:b":   withLayers("sha256:b", nil, "l0", "l1"),
			"sha256:c":   withLayers("sha256:c", nil, "l0", "l1", "l2"), // the same layers: a retag
			"sha256:oth": withLayers("sha256:oth", nil, "l0", "z1"),
		},
		list: []image.Summary{
			summaryOf("sha256:app", 100, "app:1"),
			summaryOf("sha256:big", 500, "big:1"),
			summaryOf("sha256:a", 10, "a:1"),
			summaryOf("sha256:oth", 60, "oth:1"),
			summaryOf("sha256:b", 40, "b:1"),
			summaryOf("sha256:c", 100, "c:1"),
			summaryOf("sha256:dangling", 40, "<none>:<none>"),
		},
	}
	b := findBase(context.Background(), api, app)
	assert.Check(t, is.Equal(b.how, baseByPrefix))
	assert.Check(t, is.Equal(b.name, "b:1"))
	assert.Check(t, is.Equal(b.note("app:1", 3), "image app:1: base b:1, the local image whose layers are the longest proper prefix of its own: 1 of its 3 layers read (the local stale:1 its label names is not its base: the layers differ)"))
	// Cheap: larger images, the image itself, unnamed ones and those
	// smaller than the base found are never inspected.
	for _, id := range []string{"sha256:big", "sha256:app", "sha256:dangling", "sha256:a"} {
		assert.Check(t, is.Equal(api.inspected[id], 0), id)
	}
}

// (3) No label and no local image whose layers start the image's.
func TestFindBaseUnknown(t *testing.T) {
	app := withLayers("sha256:app", nil, "l0", "l1")
	api := &fakeImages{
		images: map[string]image.InspectResponse{"sha256:oth": withLayers("sha256:oth", nil, "z0")},
		list:   []image.Summary{summaryOf("sha256:oth", 1, "oth:1")},
	}
	b := findBase(context.Background(), api, app)
	assert.Check(t, is.Equal(b.layers, 0))
	assert.Check(t, is.Equal(b.note("app:1", 2), "image app:1: base unknown: every layer read (2) (no label org.opencontainers.image.base.name and no local image whose layers start its own)"))
}

func TestRepository(t *testing.T) {
	for in, want := range map[string]string{
		"alpine:3.20":                        "alpine",
		"localhost:5000/team/app:1@sha256:x": "localhost:5000/team/app",
		"localhost:5000/team/app":            "localhost:5000/team/app",
	} {
		assert.Check(t, is.Equal(repository(in), want), in)
	}
}
