package e2e

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// The images of issue 13's end-to-end tests. They are made with `docker
// import` from the base image's filesystem, never pulled, and carry the
// test prefix docker-vault-test/: a developer's own images are never
// touched. The tag is the test process's: two runs at once (two
// developers' `go test` on one engine) never remove each other's images.
var (
	// imgFileEnv has an official-image-style entrypoint script: its
	// file_env function reads APP_PASSWORD from $APP_PASSWORD_FILE.
	imgFileEnv = fmt.Sprintf("docker-vault-test/wrap-fileenv:%d", os.Getpid())
	// imgPlain has an entrypoint script that only reads the environment.
	imgPlain = fmt.Sprintf("docker-vault-test/wrap-plain:%d", os.Getpid())
	// imgNoShell has no /bin/sh: only a static busybox at /opt/busybox.
	imgNoShell = fmt.Sprintf("docker-vault-test/wrap-noshell:%d", os.Getpid())
)

// fileEnvEntrypoint is the wrap-fileenv image's docker-entrypoint.sh: the
// file_env function of the official images (postgres, mysql, mariadb),
// written for busybox sh (no ${!var}). As there, the file is read with
// $(cat): trailing newlines of the file are not part of the value.
const fileEnvEntrypoint = `#!/bin/sh
set -eu

# usage: file_env VAR [DEFAULT]
#    ie: file_env 'APP_PASSWORD' 'example'
# (will allow for "$APP_PASSWORD_FILE" to fill in the value of
#  "$APP_PASSWORD" from a file, especially for Docker's secrets feature)
file_env() {
	var="$1"
	fileVar="${var}_FILE"
	def="${2:-}"
	eval "val=\"\${$var:-}\" fileVal=\"\${$fileVar:-}\""
	if [ -n "$val" ] && [ -n "$fileVal" ]; then
		echo >&2 "error: both $var and $fileVar are set (but are exclusive)"
		exit 1
	fi
	if [ -n "$fileVal" ]; then
		val="$(cat "$fileVal")"
	elif [ -z "$val" ]; then
		val="$def"
	fi
	export "$var"="$val"
	unset "$fileVar"
}

file_env 'APP_PASSWORD'

exec "$@"
`

// plainEntrypoint is the wrap-plain image's entrypoint: it reads its
// settings from the environment only, as most images do.
const plainEntrypoint = `#!/bin/sh
set -e
if [ -z "${APP_MODE:-}" ]; then
	echo >&2 "plain-entrypoint: APP_MODE is not set"
	exit 1
fi
exec "$@"
`

// checkDigests is the checker every test container runs: FILE holds lines
// "VAR SHA256"; it exits 0 only when each VAR is set and the sha256 of its
// exact bytes (trailing newlines included) is the one expected. It prints
// names, never values. bb is the busybox to call sha256sum and cut with
// ("" where they are on PATH).
func checkDigests(shebang, bb string) string {
	return shebang + `
# check-digests FILE: every line of FILE is "VAR SHA256".
status=0
while read -r name want; do
	[ -n "$name" ] || continue
	eval "isset=\${$name+x}"
	if [ -z "$isset" ]; then
		echo "check-digests: $name is not set"
		status=1
		continue
	fi
	eval "val=\"\${$name}\""
	got=$(printf %s "$val" | ` + bb + `sha256sum | ` + bb + `cut -d' ' -f1)
	if [ "$got" = "$want" ]; then
		echo "check-digests: $name ok"
	else
		echo "check-digests: $name does not hold the expected value"
		status=1
	fi
done < "$1"
exit $status
`
}

// baseExport is the exported filesystem of the base image, read once per
// test binary.
var baseExport struct {
	sync.Mutex
	tar []byte
}

// exportBase returns a tarball of the base image's filesystem: `docker
// create` (never started) and `docker export`.
func exportBase(t testing.TB) []byte {
	t.Helper()
	baseExport.Lock()
	defer baseExport.Unlock()
	if baseExport.tar != nil {
		return baseExport.tar
	}
	res := icmd.RunCmd(dockerCmd("create", env.baseImage))
	assert.Assert(t, res.ExitCode == 0, "docker create %s: %s", env.baseImage, res.Combined())
	id := strings.TrimSpace(res.Stdout())
	defer icmd.RunCmd(dockerCmd("rm", "-f", id))
	res = icmd.RunCmd(dockerCmd("export", id))
	assert.Assert(t, res.ExitCode == 0, "docker export: %s", res.Stderr())
	baseExport.tar = []byte(res.Stdout())
	return baseExport.tar
}

// dockerCmd is a docker command with the test config, for helpers that
// also serve benchmarks (docker takes a *testing.T).
func dockerCmd(args ...string) icmd.Cmd {
	cmd := icmd.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+env.configDir)
	return cmd
}

// tarFile is a file to add to an image's filesystem.
type tarFile struct {
	name string
	mode int64
	body string
}

// baseFile returns the content of one regular file of the base tarball.
func baseFile(t testing.TB, base []byte, name string) string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(base))
	for {
		h, err := tr.Next()
		assert.NilError(t, err, "%s is not in the base image", name)
		if strings.TrimPrefix(path.Clean(h.Name), "./") == name && h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			assert.NilError(t, err)
			return string(b)
		}
	}
}

// rootfs copies the entries of the base tarball (nil: none; docker
// export's own .dockerenv is left out) and appends files, with the
// folders they need. A name ending in / is a folder.
func rootfs(t testing.TB, base []byte, files ...tarFile) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	dirs := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(base))
	for base != nil {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		assert.NilError(t, err)
		name := strings.TrimPrefix(path.Clean(h.Name), "./")
		if name == ".dockerenv" || name == "." {
			continue
		}
		if h.Typeflag == tar.TypeDir {
			dirs[name] = true
		}
		assert.NilError(t, tw.WriteHeader(h))
		_, err = io.Copy(tw, tr)
		assert.NilError(t, err)
	}
	now := time.Now()
	for _, f := range files {
		name := strings.TrimSuffix(f.name, "/")
		var parents []string
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if !dirs[d] {
				dirs[d] = true
				assert.NilError(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: now}))
			}
		}
		if strings.HasSuffix(f.name, "/") {
			if !dirs[name] {
				dirs[name] = true
				assert.NilError(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: f.name, Mode: f.mode, ModTime: now}))
			}
			continue
		}
		assert.NilError(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.body)), ModTime: now}))
		_, err := tw.Write([]byte(f.body))
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return out.Bytes()
}

// importImage runs `docker import` of the tarball as ref with the given
// --change instructions, and returns the image ID.
func importImage(t testing.TB, ref string, tarball []byte, changes ...string) string {
	t.Helper()
	assert.Assert(t, strings.HasPrefix(ref, "docker-vault-test/"), "test images carry the docker-vault-test/ prefix: %s", ref)
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	cmd := dockerCmd(append(args, "-", ref)...)
	cmd.Stdin = bytes.NewReader(tarball)
	res := icmd.RunCmd(cmd)
	assert.Assert(t, res.ExitCode == 0, "docker import %s: %s", ref, res.Combined())
	return strings.TrimSpace(res.Stdout())
}

// wrapImages makes the three images of issue 13 (imgFileEnv, imgPlain,
// imgNoShell) and removes them, by ID, when the test or benchmark ends:
// each test gets images of its own, with IDs no earlier run has cached. It
// returns the IDs by reference.
func wrapImages(t testing.TB) map[string]string {
	t.Helper()
	removeStaleWrapImages()
	base := exportBase(t)
	ids := map[string]string{}
	t.Cleanup(func() {
		for _, id := range ids {
			icmd.RunCmd(dockerCmd("image", "rm", "-f", id))
		}
	})
	envPath := "ENV PATH=/usr/local/bin:/bin"
	ids[imgFileEnv] = importImage(t, imgFileEnv, rootfs(t, base,
		tarFile{"usr/local/bin/docker-entrypoint.sh", 0o755, fileEnvEntrypoint},
		tarFile{"usr/local/bin/check-digests", 0o755, checkDigests("#!/bin/sh", "")},
	), envPath, `ENTRYPOINT ["docker-entrypoint.sh"]`, `CMD ["check-digests", "/expect/fileenv"]`)
	ids[imgPlain] = importImage(t, imgPlain, rootfs(t, base,
		tarFile{"usr/local/bin/plain-entrypoint.sh", 0o755, plainEntrypoint},
		tarFile{"usr/local/bin/check-digests", 0o755, checkDigests("#!/bin/sh", "")},
	), envPath, `ENTRYPOINT ["/usr/local/bin/plain-entrypoint.sh"]`, `CMD ["check-digests", "/expect/plain"]`)
	// No /bin at all: the busybox binary (called through its name, which
	// must start with "busybox") and a checker whose interpreter is it.
	ids[imgNoShell] = importImage(t, imgNoShell, rootfs(t, nil,
		tarFile{"opt/busybox", 0o755, baseFile(t, base, "bin/busybox")},
		tarFile{"etc/passwd", 0o644, "root:x:0:0:root:/root:/opt/busybox\n"},
		tarFile{"etc/group", 0o644, "root:x:0:\n"},
		tarFile{"tmp/", 0o1777, ""},
		tarFile{"run/secrets/", 0o755, ""},
		tarFile{"opt/check-digests", 0o755, checkDigests("#!/opt/busybox sh", "/opt/busybox ")},
	), `ENTRYPOINT ["/opt/check-digests"]`, `CMD ["/expect/noshell"]`)
	for ref, id := range ids {
		assert.Assert(t, strings.HasPrefix(id, "sha256:"), "docker import %s printed %q", ref, id)
	}
	return ids
}

// removeStaleWrapImages removes the wrap images a killed test process left
// behind: their tag is the pid of a process that no longer runs.
func removeStaleWrapImages() {
	res := icmd.RunCmd(dockerCmd("image", "ls", "--filter", "reference=docker-vault-test/wrap-*", "--format", "{{.Repository}}:{{.Tag}}"))
	for _, ref := range strings.Fields(res.Stdout()) {
		_, tag, _ := strings.Cut(ref, ":")
		pid, err := strconv.Atoi(tag)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			icmd.RunCmd(dockerCmd("image", "rm", "-f", ref))
		}
	}
}

// expectFile is the content of a check-digests file: "VAR SHA256" lines
// for the given variables and values.
func expectFile(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(&b, "%s %s\n", pairs[i], sum(pairs[i+1]))
	}
	return b.String()
}

// redact replaces every value in text by its name, so that a failure
// message can quote what a container or command printed without leaking.
func redact(text string, values map[string]string) string {
	for name, v := range values {
		if v != "" {
			text = strings.ReplaceAll(text, v, "<value of "+name+">")
		}
	}
	return text
}

// testWrapImages checks the test images themselves, so that a failure of
// the migrate tests is never theirs (the control run of ComposeUp checks
// that the right bytes pass): check-digests fails on other bytes, file_env
// reads the file without its trailing newline, and the no-shell image has
// no /bin/sh.
func testWrapImages(t *testing.T) {
	dir := t.TempDir()
	value := "v 'q' \"d\" $x \\ " + newSecretValue("img") + "\n"
	assert.NilError(t, os.WriteFile(dir+"/digests", []byte(expectFile("APP_PASSWORD", value)), 0o644))
	assert.NilError(t, os.WriteFile(dir+"/pw", []byte(value), 0o644))
	assert.NilError(t, os.WriteFile(dir+"/trimmed", []byte(expectFile("APP_PASSWORD", strings.TrimSuffix(value, "\n"))), 0o644))
	mount := dir + ":/expect:ro"

	res := docker(t, nil, "run", "--rm", "-v", mount, "-e", "APP_MODE=x", "-e", "APP_PASSWORD="+strings.TrimSuffix(value, "\n"), imgPlain, "check-digests", "/expect/digests")
	assert.Check(t, is.Equal(res.ExitCode, 1), "check-digests accepts a value without its trailing newline: %s", res.Combined())
	assert.Check(t, is.Contains(res.Stdout(), "APP_PASSWORD does not hold the expected value"))
	res = docker(t, nil, "run", "--rm", "-v", mount, "-e", "APP_PASSWORD_FILE=/expect/pw", imgFileEnv, "check-digests", "/expect/trimmed")
	assert.Check(t, is.Equal(res.ExitCode, 0), "file_env: %s", res.Combined())
	res = docker(t, nil, "run", "--rm", "--entrypoint", "/bin/sh", imgNoShell, "-c", "true")
	assert.Check(t, res.ExitCode != 0, "the no-shell image has /bin/sh")
}
