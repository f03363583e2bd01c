package scan

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const layerValue = "layer-secret-0123"

// The layers of the test image, bottom first: the base's holds the value
// too, but is never read.
var testLayers = []map[string]string{
	{"etc/base-copy": layerValue},
	{"app/raw.txt": "x=" + layerValue + "\n", "app/clean": "nothing"},
	{"app/b64": base64.StdEncoding.EncodeToString([]byte(layerValue)), "app/hex": hex.EncodeToString([]byte(layerValue))},
}

func diffID(i int) string {
	sum := sha256.Sum256([]byte{byte(i)})
	return "sha256:" + hex.EncodeToString(sum[:])
}

// layerStore lays out the test layers as the engine's overlay driver and
// layer store keep them under root, and returns the GraphDriver data of
// the image.
func layerStore(t *testing.T, root, driver string) *storage.DriverData {
	var dirs []string
	chain := ""
	for i, files := range testLayers {
		d := diffID(i)
		if i == 0 {
			chain = d
		} else {
			sum := sha256.Sum256([]byte(chain + " " + d))
			chain = "sha256:" + hex.EncodeToString(sum[:])
		}
		cacheID := strings.Repeat(string(rune('a'+i)), 8)
		dir := filepath.Join(root, driver, cacheID, "diff")
		for name, body := range files {
			assert.NilError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
			assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
		}
		db := filepath.Join(root, "image", driver, "layerdb", "sha256", strings.TrimPrefix(chain, "sha256:"))
		assert.NilError(t, os.MkdirAll(db, 0o755))
		assert.NilError(t, os.WriteFile(filepath.Join(db, "cache-id"), []byte(cacheID), 0o600))
		assert.NilError(t, os.WriteFile(filepath.Join(db, "diff"), []byte(d), 0o600))
		dirs = append([]string{dir}, dirs...) // top first
	}
	return &storage.DriverData{Name: driver, Data: map[string]string{"UpperDir": dirs[0], "LowerDir": strings.Join(dirs[1:], ":")}}
}

func testImage(gd *storage.DriverData) image.InspectResponse {
	img := withLayers("sha256:app", map[string]string{labelBaseName: "base:1"}, diffID(0), diffID(1), diffID(2))
	img.GraphDriver = gd
	return img
}

func layerSummary(res *Result) []string {
	var out []string
	for _, f := range res.Findings {
		out = append(out, f.Rule+" "+f.Layer+" "+f.Path+" "+f.Secret+"/"+f.Encoding)
	}
	return out
}

var wantLayerFindings = []string{
	"image-layer " + diffID(1) + " app/raw.txt kv/raw",
	"image-layer " + diffID(2) + " app/b64 kv/base64",
	"image-layer " + diffID(2) + " app/hex kv/hex",
}

func scanTestImage(t *testing.T, api *fakeImages) *Result {
	t.Helper()
	vs := NewValues([]Value{{Name: "kv", Value: []byte(layerValue)}})
	defer vs.Close()
	res, err := ScanImage(context.Background(), api, "app:1", ImageOptions{Values: vs})
	assert.NilError(t, err)
	assertNoValue(t, res, layerValue)
	return res
}

// A local engine with an overlay driver: the added layers are read from
// their directories, the base's never.
func TestLayersFromDriverDirectories(t *testing.T) {
	gd := layerStore(t, t.TempDir(), "fuse-overlayfs")
	api := &fakeImages{host: "unix:///var/run/docker.sock", images: map[string]image.InspectResponse{
		"app:1":  testImage(gd),
		"base:1": withLayers("sha256:base", nil, diffID(0)),
	}}
	res := scanTestImage(t, api)
	assert.DeepEqual(t, sortedStrings(layerSummary(res)), wantLayerFindings)
	assert.Check(t, is.Equal(res.Files, 4))
	assert.Check(t, is.Contains(strings.Join(res.Notes, "\n"), "the 2 added layers read from the fuse-overlayfs storage driver's directories: 4 files, 0.0 MB searched"))
}

// Directories the layer store does not confirm, and remote engines, are
// not trusted: the export stream is searched instead.
func TestLayersExportFallback(t *testing.T) {
	for name, tc := range map[string]struct {
		host   string
		tamper func(gd *storage.DriverData)
		oci    bool
		why    string
	}{
		"remote engine, OCI layout": {host: "tcp://127.0.0.1:2375", oci: true, why: "the engine is not local"},
		"remote engine, legacy":     {host: "tcp://127.0.0.1:2375", why: "the engine is not local"},
		"directories swapped": {host: "unix:///run/docker.sock", tamper: func(gd *storage.DriverData) {
			lower := strings.Split(gd.Data["LowerDir"], ":")
			gd.Data["UpperDir"], lower[0] = lower[0], gd.Data["UpperDir"]
			gd.Data["LowerDir"] = strings.Join(lower, ":")
		}, why: "the layer store does not give"},
		"a directory missing": {host: "unix:///run/docker.sock", tamper: func(gd *storage.DriverData) {
			gd.Data["LowerDir"] = strings.Split(gd.Data["LowerDir"], ":")[0]
		}, why: "the engine names 2 layer directories for 3 layers"},
	} {
		t.Run(name, func(t *testing.T) {
			gd := layerStore(t, t.TempDir(), "overlay2")
			if tc.tamper != nil {
				tc.tamper(gd)
			}
			api := &fakeImages{host: tc.host, images: map[string]image.InspectResponse{
				"app:1":  testImage(gd),
				"base:1": withLayers("sha256:base", nil, diffID(0)),
			}}
			api.save = func(id string) ([]byte, error) {
				assert.Check(t, is.Equal(id, "sha256:app"))
				return saveArchive(t, tc.oci), nil
			}
			res := scanTestImage(t, api)
			assert.DeepEqual(t, sortedStrings(layerSummary(res)), wantLayerFindings)
			notes := strings.Join(res.Notes, "\n")
			assert.Check(t, is.Contains(notes, tc.why))
			assert.Check(t, is.Contains(notes, "the 2 added layers searched in the image export, which streams every layer"))
			if tc.oci {
				// The base layer is named by its diff id: read, not searched.
				assert.Check(t, is.Equal(res.Files, 4+2)) // the layers' files, the config and manifest
			}
		})
	}
}

func saveArchive(t *testing.T, oci bool) []byte {
	var names []string
	files := map[string][]byte{"cfg.json": []byte(`{"config":{}}`)}
	for i, l := range testLayers {
		name := "l" + string(rune('0'+i)) + "/layer.tar"
		if oci {
			name = "blobs/sha256/" + strings.TrimPrefix(diffID(i), "sha256:")
		}
		files[name] = tarFiles(t, l)
		names = append(names, `"`+name+`"`)
	}
	files["manifest.json"] = []byte(`[{"Config":"cfg.json","Layers":[` + strings.Join(names, ",") + `]}]`)
	var order []string
	for name := range files {
		order = append(order, name)
	}
	return tarOrdered(t, sortedStrings(order), files)
}

func tarFiles(t *testing.T, files map[string]string) []byte {
	var names []string
	b := map[string][]byte{}
	for name, body := range files {
		names = append(names, name)
		b[name] = []byte(body)
	}
	return tarOrdered(t, sortedStrings(names), b)
}

func tarOrdered(t *testing.T, names []string, files map[string][]byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range names {
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}))
		_, err := tw.Write(files[name])
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return buf.Bytes()
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
