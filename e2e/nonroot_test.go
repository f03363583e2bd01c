//go:build e2e

package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// nonRootProject is a service that runs as uid 999 on the base image and
// reads its password from the file $APP_PASSWORD_FILE names (x-vault says
// the image does). It exits 0 only when it runs as 999 and the sha256 of
// what it read is digest: under plain Compose the secret file is a bind
// mount of the host file, with the host's owner and mode. The project's
// file secrets are Key Vault-backed (files: true), for the sync below.
// user is the service's user: line, empty for none (the image's USER).
func nonRootProject(image, user, value, digest string) string {
	return fmt.Sprintf(`x-vault:
  files: true
  file-variables:
    %[1]s:
      APP_PASSWORD: APP_PASSWORD_FILE

services:
  app:
    image: %[1]s
%[4]s    environment:
      APP_PASSWORD: %[2]s
    command:
      - sh
      - -c
      - 'test "$$(id -u)" = 999 && test -n "$$APP_PASSWORD_FILE" && test "$$(sha256sum < "$$APP_PASSWORD_FILE" | cut -d " " -f 1)" = %[3]s'
`, image, value, digest, user)
}

// migratedApp is migrate's table row of the app's migrated variable.
const migratedApp = `(?m)^app +APP_PASSWORD -> APP_PASSWORD_FILE +literal +migrated +(file-variable +)?app_password `

// nonRootUp runs the project's app once and returns its exit code.
func nonRootUp(t *testing.T, dir, project string, values map[string]string) int {
	t.Helper()
	res := dockerIn(t, dir, nil, "compose", "-p", project, "up", "--no-color", "--exit-code-from", "app")
	assertNoValue(t, res, values)
	ps := dockerIn(t, dir, nil, "compose", "-p", project, "ps", "-a", "-q", "app")
	ps.Assert(t, icmd.Success)
	id := strings.TrimSpace(ps.Stdout())
	assert.Assert(t, id != "", "no app container: %s", res.Combined())
	inspect := docker(t, nil, "inspect", id)
	inspect.Assert(t, icmd.Success)
	assertNoValue(t, inspect, values)
	code := docker(t, nil, "inspect", "--format", "{{.State.ExitCode}}", id)
	code.Assert(t, icmd.Success)
	var n int
	_, err := fmt.Sscan(strings.TrimSpace(code.Stdout()), &n)
	assert.NilError(t, err)
	return n
}

// readAs tells whether the host user uid can read path (run as root only:
// cat with that uid's credentials).
func readAs(t *testing.T, uid uint32, path string) bool {
	t.Helper()
	cmd := exec.Command("cat", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	return cmd.Run() == nil
}

// TestNonRootReadsMigratedSecret: after `docker vault migrate`, a service
// that runs as uid 999 starts under `docker compose up` and reads its
// secret (0444), while no other host user can (its folder is 0700); with
// the file 0600 the same service fails, so the mode is what makes it work.
// A `docker vault sync` that rotates the value keeps the file readable:
// the service's next start reads the new value; one that creates the file
// (a fresh checkout) makes it readable too.
func TestNonRootReadsMigratedSecret(t *testing.T) {
	values := map[string]string{"v1": newSecretValue("nonroot1"), "v2": newSecretValue("nonroot2")}
	root := t.TempDir()
	dir := filepath.Join(root, "project")
	assert.NilError(t, os.Mkdir(dir, 0o755))
	// Every folder above the secrets folder lets others through, so that
	// only the secrets folder keeps them out.
	assert.NilError(t, os.Chmod(root, 0o755))
	assert.NilError(t, os.Chmod(filepath.Dir(root), 0o755))
	compose := filepath.Join(dir, "compose.yaml")
	assert.NilError(t, os.WriteFile(compose, []byte(nonRootProject(env.baseImage, "    user: \"999\"\n", values["v1"], sum(values["v1"]))), 0o644))
	project := fmt.Sprintf("dvtest-nonroot-%d", os.Getpid())
	t.Cleanup(func() {
		dockerIn(t, dir, nil, "compose", "-p", project, "down", "-v", "--remove-orphans")
	})

	// A secrets folder others may enter is refused, and changed by no one.
	secrets := filepath.Join(dir, "secrets")
	assert.NilError(t, os.Mkdir(secrets, 0o755))
	assert.NilError(t, os.Chmod(secrets, 0o755))
	res := dockerIn(t, dir, nil, "vault", "migrate")
	assertNoValue(t, res, values)
	assert.Check(t, is.Equal(res.ExitCode, 1), res.Combined())
	assert.Check(t, is.Contains(res.Stderr(), "service app runs as user 999: secrets folder "+secrets+" is mode 0755"))
	assert.Check(t, is.Contains(res.Stderr(), "run chmod 700 "+secrets))
	c, err := os.ReadFile(compose)
	assert.NilError(t, err)
	assert.Check(t, strings.Contains(string(c), values["v1"]), "compose.yaml was written")
	entries, err := os.ReadDir(secrets)
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 0))
	st, err := os.Stat(secrets)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Mode().Perm(), fs.FileMode(0o755)), "migrate changed the folder")
	assert.NilError(t, os.Chmod(secrets, 0o700))

	res = dockerIn(t, dir, nil, "vault", "migrate")
	res.Assert(t, icmd.Success)
	assertNoValue(t, res, values)
	assert.Check(t, is.Regexp(migratedApp, res.Stdout()))

	c, err = os.ReadFile(compose)
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(c), values["v1"]), "compose.yaml still holds the value")

	secret := filepath.Join(secrets, "app_password")
	st, err = os.Stat(secrets)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Mode().Perm(), fs.FileMode(0o700)), "the secrets folder")
	st, err = os.Stat(secret)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Mode().Perm(), fs.FileMode(0o444)), "the secret file of a non-root service")
	assertNoOpenWrite(t, root)
	if os.Geteuid() == 0 {
		const nobody = 65534
		assert.Check(t, readAs(t, nobody, compose), "control: another user reads the project's compose file")
		assert.Check(t, !readAs(t, nobody, secret), "another host user reads the secret file")
	}

	assert.Check(t, is.Equal(nonRootUp(t, dir, project, values), 0), "uid 999 did not read the secret")

	// Control: the same file 0600 is not readable by the container's user.
	assert.NilError(t, os.Chmod(secret, 0o600))
	assert.Check(t, nonRootUp(t, dir, project, values) != 0, "uid 999 read a 0600 file: the mode check proves nothing")
	assert.NilError(t, os.Chmod(secret, 0o444))

	// A sync that rotates the value keeps the file readable by all, in
	// its 0700 folder. Migrate wrote the file, so sync takes it over once.
	em := startEmulator(t, map[string]string{"app-password": values["v2"]})
	res = vaultDocker(t, em.Env, dir, "vault", "sync", "--force-file", secret)
	res.Assert(t, icmd.Success)
	assertNoValue(t, res, values)
	assert.Check(t, is.Regexp(`(?m)^app_password +update +`, res.Stdout()))
	b, err := os.ReadFile(secret)
	assert.NilError(t, err)
	assert.Check(t, string(b) == values["v2"], "sync did not write the new value")
	st, err = os.Stat(secret)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Mode().Perm(), fs.FileMode(0o444)), "sync changed the mode")
	st, err = os.Stat(secrets)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Mode().Perm(), fs.FileMode(0o700)), "the secrets folder after sync")
	assertNoOpenWrite(t, root)

	c, err = os.ReadFile(compose)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(compose, []byte(strings.ReplaceAll(string(c), sum(values["v1"]), sum(values["v2"]))), 0o644))
	assert.Check(t, is.Equal(nonRootUp(t, dir, project, values), 0), "uid 999 did not read the synced secret")

	// A secrets folder loosened by hand: sync refuses to put the value
	// where others can read it, and says what to run.
	assert.NilError(t, os.Chmod(secrets, 0o755))
	rotateLater(t, em, "app-password", values["v1"])
	res = vaultDocker(t, em.Env, dir, "vault", "sync")
	assertNoValue(t, res, values)
	assert.Check(t, is.Equal(res.ExitCode, 1), res.Combined())
	assert.Check(t, is.Contains(res.Stderr(), "chmod 700 "+secrets))
	b, err = os.ReadFile(secret)
	assert.NilError(t, err)
	assert.Check(t, string(b) == values["v2"], "sync wrote into a folder others can enter")

	// A fresh checkout: the git-ignored secrets folder is not there, and
	// sync creates the file (user: 999) readable, in a new 0700 folder.
	assert.NilError(t, os.RemoveAll(secrets))
	res = vaultDocker(t, em.Env, dir, "vault", "sync")
	res.Assert(t, icmd.Success)
	assertNoValue(t, res, values)
	assert.Check(t, is.Regexp(`(?m)^app_password +create +`, res.Stdout()))
	st, err = os.Stat(secret)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Mode().Perm(), fs.FileMode(0o444)), "the file sync created")
	st, err = os.Stat(secrets)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Mode().Perm(), fs.FileMode(0o700)), "the folder sync created")
	assertNoOpenWrite(t, root)
	c, err = os.ReadFile(compose)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(compose, []byte(strings.ReplaceAll(string(c), sum(values["v2"]), sum(values["v1"]))), 0o644))
	assert.Check(t, is.Equal(nonRootUp(t, dir, project, values), 0), "uid 999 did not read the file sync created")
}

// assertNoOpenWrite checks that no file or folder under root is writable
// by its group or by others.
func assertNoOpenWrite(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		assert.Check(t, fi.Mode().Perm()&0o022 == 0, "%s is mode %04o", path, fi.Mode().Perm())
		return nil
	})
	assert.NilError(t, err)
}

// TestNonRootImageUser: a service with no user: of its own, whose image
// runs as uid 999 (its USER, which migrate reads through the engine), gets
// its secret readable too; the same project with user: "0" over that image
// runs as root, and its file stays 0600.
func TestNonRootImageUser(t *testing.T) {
	ref := fmt.Sprintf("docker-vault-test/nonroot-user:%d", os.Getpid())
	id := importImage(t, ref, rootfs(t, exportBase(t)), "USER 999")
	t.Cleanup(func() { icmd.RunCmd(dockerCmd("image", "rm", "-f", id)) })
	for _, tc := range []struct {
		name, user string
		mode       fs.FileMode
	}{
		{"image-user", "", 0o444},
		{"root-over-image-user", "    user: \"0\"\n", 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			values := map[string]string{"v": newSecretValue("imageuser")}
			dir := t.TempDir()
			project := fmt.Sprintf("dvtest-nonroot-%s-%d", tc.name, os.Getpid())
			t.Cleanup(func() {
				dockerIn(t, dir, nil, "compose", "-p", project, "down", "-v", "--remove-orphans")
			})
			content := nonRootProject(ref, tc.user, values["v"], sum(values["v"]))
			if tc.user != "" {
				content = strings.Replace(content, `"$$(id -u)" = 999`, `"$$(id -u)" = 0`, 1)
			}
			assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(content), 0o644))

			res := dockerIn(t, dir, nil, "vault", "migrate", "--pull", "never")
			res.Assert(t, icmd.Success)
			assertNoValue(t, res, values)
			assert.Check(t, is.Regexp(migratedApp, res.Stdout()))
			secrets := filepath.Join(dir, "secrets")
			st, err := os.Stat(secrets)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(st.Mode().Perm(), fs.FileMode(0o700)), "the secrets folder")
			st, err = os.Stat(filepath.Join(secrets, "app_password"))
			assert.NilError(t, err)
			assert.Check(t, is.Equal(st.Mode().Perm(), tc.mode), "the secret file")
			assertNoOpenWrite(t, dir)
			assert.Check(t, is.Equal(nonRootUp(t, dir, project, values), 0), "the service did not read its secret")
		})
	}
}
