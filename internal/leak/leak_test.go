package leak

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/docker-vault/docker-vault/internal/redact"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func newSearch(values ...string) (*Search, *[]string) {
	var ns []redact.Needle
	for i, v := range values {
		ns = append(ns, redact.Needles(i, []byte(v))...)
	}
	var hits []string
	s := New(redact.NewMatcher(ns), func(h Hit) {
		hits = append(hits, fmt.Sprintf("%d %s %s %s", h.Tag, h.Encoding, h.Blob, h.Path))
	})
	return s, &hits
}

func sorted(s []string) []string { slices.Sort(s); return s }

// A value split across two chunks is found, once per file.
func TestReaderOverlap(t *testing.T) {
	value := "tok-" + strings.Repeat("Q", 20) + "-end"
	big := bytes.Repeat([]byte("x"), 3*chunk)
	copy(big[chunk-5:], value)
	copy(big[2*chunk+7:], value)
	s, hits := newSearch(value)
	assert.NilError(t, s.Reader(bytes.NewReader(big), "blob", "f"))
	assert.DeepEqual(t, *hits, []string{"0 raw blob f"})
	assert.Check(t, is.Equal(s.Bytes, int64(len(big))))
	assert.Check(t, is.Equal(s.Files, 1))
}

// A layer directory: files and names are searched, links never followed,
// names holding a value masked.
func TestDir(t *testing.T) {
	value := "dir-value-1234"
	outside := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(outside, "target"), []byte(value), 0o600))
	dir := t.TempDir()
	assert.NilError(t, os.MkdirAll(filepath.Join(dir, "app", "conf"), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "app", "conf", "b64"), []byte("k="+base64.StdEncoding.EncodeToString([]byte(value))), 0o600))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "app", "hex"), []byte(hex.EncodeToString([]byte(value))), 0o600))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "app", "clean"), []byte("nothing"), 0o600))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, value+".txt"), nil, 0o600))
	assert.NilError(t, os.Symlink(filepath.Join(outside, "target"), filepath.Join(dir, "link")))
	s, hits := newSearch(value)
	assert.NilError(t, s.Dir(context.Background(), dir, "sha256:abc"))
	assert.DeepEqual(t, sorted(*hits), []string{
		"0 base64 sha256:abc app/conf/b64",
		"0 hex sha256:abc app/hex",
		"0 raw sha256:abc ***.txt (file name)",
	})
	assert.Check(t, is.Equal(s.Files, 4))
}

func tarOf(t *testing.T, names []string, files map[string][]byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range names {
		b := files[name]
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(b)
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return buf.Bytes()
}

// A skipped blob is read, not searched; ImageLayers maps hits to layers.
func TestArchiveSkip(t *testing.T) {
	value := "archive-value-99"
	layer := tarOf(t, []string{"etc/v"}, map[string][]byte{"etc/v": []byte(value)})
	archive := tarOf(t, []string{"blobs/sha256/aa", "blobs/sha256/bb", "cfg.json", "manifest.json"}, map[string][]byte{
		"blobs/sha256/aa": layer,
		"blobs/sha256/bb": layer,
		"cfg.json":        []byte(`{}`),
		"manifest.json":   []byte(`[{"Config":"cfg.json","Layers":["blobs/sha256/aa","blobs/sha256/bb"]}]`),
	})
	s, hits := newSearch(value)
	a, err := s.Archive(bytes.NewReader(archive), func(b string) bool { return b == "blobs/sha256/aa" })
	assert.NilError(t, err)
	assert.DeepEqual(t, *hits, []string{"0 raw blobs/sha256/bb etc/v"})
	assert.DeepEqual(t, a.ImageLayers, []string{"blobs/sha256/aa", "blobs/sha256/bb"})
	assert.Check(t, is.Equal(a.Layers, 2))
	assert.Check(t, is.Equal(a.Read, int64(len(archive))))
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// A read error names the file masked, never with the path an
// *fs.PathError quotes, which can hold a value.
func TestReaderErrorMasked(t *testing.T) {
	value := "path-value-5678"
	s, _ := newSearch(value)
	err := s.Reader(failingReader{&fs.PathError{Op: "read", Path: "/layer/" + value + ".txt", Err: syscall.EIO}}, "sha256:abc", value+".txt")
	assert.Check(t, errors.Is(err, ErrUnreadable), "%v", err)
	assert.Check(t, errors.Is(err, syscall.EIO), "%v", err)
	assert.Check(t, !strings.Contains(err.Error(), value), "%v", err)
	assert.Check(t, is.Equal(err.Error(), "the image could not be read: sha256:abc: ***.txt: read: input/output error"))
}
