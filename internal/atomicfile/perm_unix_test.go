//go:build unix

package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestWriteFilePerm: the mode is the one asked for whatever the umask and
// whatever the file had, and a read-only file (0444, a secret a non-root
// container reads) is replaced like any other.
func TestWriteFilePerm(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets", "x")
	assert.NilError(t, WriteFilePerm(dir, path, []byte("one"), 0o444))
	assert.Check(t, is.Equal(mode(t, path), os.FileMode(0o444)))
	assert.Check(t, is.Equal(mode(t, filepath.Dir(path)), os.FileMode(0o700)))
	assert.NilError(t, WriteFilePerm(dir, path, []byte("two"), 0o444))
	assert.Check(t, is.Equal(mode(t, path), os.FileMode(0o444)))
	assert.NilError(t, WriteFilePerm(dir, path, []byte("three"), 0o600))
	assert.Check(t, is.Equal(mode(t, path), os.FileMode(0o600)))
	assert.Check(t, is.DeepEqual(tree(t, dir), map[string]string{"secrets": "<dir>", "secrets/x": "three"}))
}
