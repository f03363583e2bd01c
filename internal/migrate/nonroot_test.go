package migrate

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/imageinfo"
)

// nonRootProject: app runs as 999 (user:), db as root, and both use one
// value; web's image runs as its own USER (when the image is read), and
// cache sets user: root over an image that would not.
const nonRootProject = `x-vault:
  file-variables:
    myorg/web:
      WEB_DB_PASSWORD: WEB_DB_PASSWORD_FILE
    myorg/cache:
      CACHE_PASSWORD: CACHE_PASSWORD_FILE
services:
  app:
    image: postgres:16
    user: "999"
    environment:
      POSTGRES_PASSWORD: Shared-Pg-Pw-4242
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: Shared-Pg-Pw-4242
  root:
    image: mariadb:11
    environment:
      MARIADB_ROOT_PASSWORD: Root-Only-Pw-7171
  web:
    image: myorg/web:1
    environment:
      WEB_DB_PASSWORD: Web-Image-User-Pw-3131
  cache:
    image: myorg/cache:1
    user: "0:0"
    environment:
      CACHE_PASSWORD: Cache-As-Root-Pw-5151
`

var nonRootValues = []string{"Shared-Pg-Pw-4242", "Root-Only-Pw-7171", "Web-Image-User-Pw-3131", "Cache-As-Root-Pw-5151"}

// nonRootImages is what the engine would say of the images: web's and
// cache's run as a user of their own (and read their password from a file,
// as x-vault says too).
func nonRootImages() map[string]compose.ImageInfo {
	web := &imageinfo.Image{Ref: "myorg/web:1", User: "www-data", Shell: true, Files: imageinfo.Conventions{Vars: map[string]string{"WEB_DB_PASSWORD": "WEB_DB_PASSWORD_FILE"}}}
	cache := &imageinfo.Image{Ref: "myorg/cache:1", User: "1000:1000", Shell: true, Files: imageinfo.Conventions{Vars: map[string]string{"CACHE_PASSWORD": "CACHE_PASSWORD_FILE"}}}
	return map[string]compose.ImageInfo{"web": {Image: web}, "cache": {Image: cache}}
}

func planNonRoot(t *testing.T, dir string, images map[string]compose.ImageInfo) (*Plan, error) {
	t.Helper()
	p, err := compose.Load(context.Background(), compose.LoadOptions{WorkingDir: dir, Environ: []string{}})
	assert.NilError(t, err)
	r, err := compose.Detect(p, compose.DetectOptions{Images: images})
	assert.NilError(t, err)
	return Make(context.Background(), p, r, Options{})
}

func modeOf(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	assert.NilError(t, err)
	return fi.Mode().Perm()
}

// TestSecretFileModes: a secret a non-root service uses (its user:, or
// its image's USER) is written 0444, one only root services use 0600, in a
// secrets folder created 0700; no file is group or other writable.
func TestSecretFileModes(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": nonRootProject})
	plan, err := planNonRoot(t, dir, nonRootImages())
	assert.NilError(t, err)
	assert.NilError(t, Write(plan.Files, WriteOptions{}))
	secrets := filepath.Join(dir, "secrets")
	assert.Check(t, is.Equal(modeOf(t, secrets), fs.FileMode(0o700)))
	want := map[string]fs.FileMode{
		"postgres_password":     0o444, // app runs as 999; db, as root, reads it too
		"mariadb_root_password": 0o600,
		"web_db_password":       0o444, // the image's USER
		"cache_password":        0o600, // user: 0:0 over the image's USER
	}
	entries, err := os.ReadDir(secrets)
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, len(want)))
	for name, mode := range want {
		assert.Check(t, is.Equal(modeOf(t, filepath.Join(secrets, name)), mode), name)
	}
	for _, f := range plan.Files {
		assert.Check(t, modeOf(t, f.Path)&0o022 == 0, "%s is group or other writable", f.Path)
	}

	// The second run changes nothing.
	plan, err = planNonRoot(t, dir, nonRootImages())
	assert.NilError(t, err)
	assert.Check(t, !plan.Changed())
}

// TestSecretFileModeUnreadImage: an image that was not read counts as
// root, as without an image reader at all.
func TestSecretFileModeUnreadImage(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": nonRootProject})
	plan, err := planNonRoot(t, dir, nil)
	assert.NilError(t, err)
	modes := map[string]fs.FileMode{}
	for _, f := range plan.Files {
		if f.Kind == "secret" {
			modes[filepath.Base(f.Path)] = f.Mode
		}
	}
	assert.Check(t, is.Equal(modes["postgres_password"], fs.FileMode(0o444)))
	assert.Check(t, is.Equal(modes["mariadb_root_password"], fs.FileMode(0o600)))
	assert.Check(t, is.Equal(modes["web_db_password"], fs.FileMode(0o600)))
}

// TestSecretsFolderOthersCanEnter: a readable secret file is never planned
// in a folder other host users can enter: the error names the chmod, holds
// no value, and nothing is written; the same folder is fine for root
// services' 0600 files.
func TestSecretsFolderOthersCanEnter(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": nonRootProject})
	secrets := filepath.Join(dir, "secrets")
	assert.NilError(t, os.Mkdir(secrets, 0o755))
	before := readTree(t, dir)
	_, err := planNonRoot(t, dir, nonRootImages())
	assert.ErrorContains(t, err, "service app runs as user 999: secrets folder "+secrets+" is mode 0755")
	assert.ErrorContains(t, err, "run chmod 700 "+secrets)
	assertNoValueIn(t, err.Error(), nonRootValues, "the error")
	assert.Check(t, is.DeepEqual(readTree(t, dir), before))
	assert.Check(t, is.Equal(modeOf(t, secrets), fs.FileMode(0o755)), "the folder was changed")

	// Root services alone: their 0600 files may go in that folder.
	rootOnly := writeProject(t, map[string]string{"compose.yaml": "services:\n  root:\n    image: mariadb:11\n    environment:\n      MARIADB_ROOT_PASSWORD: Root-Only-Pw-7171\n"})
	assert.NilError(t, os.Mkdir(filepath.Join(rootOnly, "secrets"), 0o755))
	plan, err := planNonRoot(t, rootOnly, nil)
	assert.NilError(t, err)
	assert.NilError(t, Write(plan.Files, WriteOptions{}))
	assert.Check(t, is.Equal(modeOf(t, filepath.Join(rootOnly, "secrets", "mariadb_root_password")), fs.FileMode(0o600)))

	// Once the folder is closed, the plan goes through.
	assert.NilError(t, os.Chmod(secrets, 0o700))
	plan, err = planNonRoot(t, dir, nonRootImages())
	assert.NilError(t, err)
	assert.NilError(t, Write(plan.Files, WriteOptions{}))
	assert.Check(t, is.Equal(modeOf(t, filepath.Join(secrets, "postgres_password")), fs.FileMode(0o444)))
}

// TestExistingSecretFileNotReadable: a file that already holds the value
// is reused, not rewritten; when a non-root service could not read it, the
// error says which chmod to run.
func TestExistingSecretFileNotReadable(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": nonRootProject})
	secrets := filepath.Join(dir, "secrets")
	assert.NilError(t, os.Mkdir(secrets, 0o700))
	path := filepath.Join(secrets, "postgres_password")
	assert.NilError(t, os.WriteFile(path, []byte("Shared-Pg-Pw-4242"), 0o600))
	_, err := planNonRoot(t, dir, nonRootImages())
	assert.ErrorContains(t, err, "secret file "+path+" is mode 0600, but service app runs as user 999")
	assert.ErrorContains(t, err, "run chmod 444 "+path)
	assertNoValueIn(t, err.Error(), nonRootValues, "the error")

	assert.NilError(t, os.Chmod(path, 0o444))
	plan, err := planNonRoot(t, dir, nonRootImages())
	assert.NilError(t, err)
	for _, f := range plan.Files {
		assert.Check(t, f.Path != path, "the same value is written again")
	}
}

// TestSecretFileModeWrapped: a variable the image only reads from its
// environment is moved through the entrypoint wrapper, which reads the
// secret file as the service's user: its file is readable too.
func TestSecretFileModeWrapped(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": `services:
  api:
    image: myorg/api:1
    environment:
      API_TOKEN: Wrapped-Api-Token-6262
`})
	api := &imageinfo.Image{Ref: "myorg/api:1", User: "10001", Shell: true, Entrypoint: []string{"/app/api"}}
	plan, err := planNonRoot(t, dir, map[string]compose.ImageInfo{"api": {Image: api}})
	assert.NilError(t, err)
	assert.Assert(t, is.Len(plan.Items, 1))
	assert.Check(t, is.Equal(plan.Items[0].Action, Migrated), plan.Items[0].Reason)
	var modes []fs.FileMode
	for _, f := range plan.Files {
		if f.Kind == "secret" {
			modes = append(modes, f.Mode)
		}
	}
	assert.Check(t, is.DeepEqual(modes, []fs.FileMode{0o444}))
}
