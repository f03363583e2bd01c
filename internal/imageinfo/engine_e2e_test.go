//go:build e2e

package imageinfo

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// The images of this test: made with docker import from the test bed's
// base image, never pulled, named with the test prefix.
const (
	e2eBase    = "docker-vault-test/busybox:1"
	e2eFileEnv = "docker-vault-test/imageinfo-fileenv:1"
	e2ePlain   = "docker-vault-test/imageinfo-plain:1"
	e2eNoShell = "docker-vault-test/imageinfo-noshell:1"
	e2eAbsent  = "docker-vault-test/imageinfo-absent:1"
	// e2eUnpullable names a registry on 127.0.0.1 where nothing listens:
	// its pull fails in the engine without reaching any other host.
	e2eUnpullable = "127.0.0.1:1/docker-vault-test/imageinfo-absent:1"
	// e2eDangling's /bin/sh is a link to a busybox that is not there; it
	// has no entrypoint and no cmd.
	e2eDangling = "docker-vault-test/imageinfo-dangling:1"
	// e2eMergedUsr has Debian's merged /usr: /bin is a link to usr/bin,
	// /usr/bin/sh a link to busybox, and its entrypoint is found on PATH
	// through /bin.
	e2eMergedUsr = "docker-vault-test/imageinfo-mergedusr:1"
	// e2eS6 is gitea-shaped: its CMD starts s6-svscan /etc/s6, and a
	// service's setup script runs environment-to-ini.
	e2eS6 = "docker-vault-test/imageinfo-s6:1"
)

// The fileenv image's entrypoint, found on PATH by its bare name, sources
// a library holding a file_env function written for busybox sh.
const (
	e2eEntrypoint = `#!/bin/sh
set -eu
. /usr/local/lib/file-env.sh
file_env 'APP_PASSWORD'
exec "$@"
`
	e2eFileEnvLib = `# usage: file_env VAR [DEFAULT]
file_env() {
	var="$1"
	fileVar="${var}_FILE"
	def="${2:-}"
	eval "val=\"\${$var:-}\" fileVal=\"\${$fileVar:-}\""
	if [ -n "$fileVal" ]; then
		val="$(cat "$fileVal")"
	elif [ -z "$val" ]; then
		val="$def"
	fi
	export "$var"="$val"
	unset "$fileVar"
}
`
	e2ePlainEntrypoint = `#!/bin/sh
set -e
[ -n "${APP_PASSWORD:-}" ] || { echo >&2 "APP_PASSWORD is not set"; exit 1; }
exec "$@"
`
)

// countingAPI records the containers Read creates.
type countingAPI struct {
	EngineAPI
	engine  *client.Client
	mu      sync.Mutex
	created []string
	volumes []string // the anonymous volumes of the created containers
	onStat  func()
}

func (c *countingAPI) ContainerCreate(ctx context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	res, err := c.EngineAPI.ContainerCreate(ctx, o)
	var volumes []string
	if err == nil && c.engine != nil {
		if ins, ierr := c.engine.ContainerInspect(ctx, res.ID, client.ContainerInspectOptions{}); ierr == nil {
			for _, m := range ins.Container.Mounts {
				if m.Type == "volume" {
					volumes = append(volumes, m.Name)
				}
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.created = append(c.created, o.Name)
	c.volumes = append(c.volumes, volumes...)
	return res, err
}

func (c *countingAPI) ContainerStatPath(ctx context.Context, id string, o client.ContainerStatPathOptions) (client.ContainerStatPathResult, error) {
	if c.onStat != nil {
		c.onStat()
	}
	return c.EngineAPI.ContainerStatPath(ctx, id, o)
}

func (c *countingAPI) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.created...)
}

func docker(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	assert.NilError(t, err, "docker %s: %s", strings.Join(args, " "), stderr.String())
	return stdout.String()
}

// baseFS is the base image's file system as a tar.
func baseFS(t *testing.T) []byte {
	cid := strings.TrimSpace(docker(t, nil, "create", e2eBase, "true"))
	defer docker(t, nil, "rm", "-f", cid)
	cmd := exec.Command("docker", "export", cid)
	out, err := cmd.Output()
	assert.NilError(t, err)
	return out
}

// rootfs copies the entries of base that keep says to keep (renamed as it
// says) and adds files.
func rootfs(t *testing.T, base []byte, keep func(name string) (string, bool), files map[string]string) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(base))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		assert.NilError(t, err)
		name, ok := keep(hdr.Name)
		if !ok {
			continue
		}
		hdr.Name = name
		assert.NilError(t, tw.WriteHeader(hdr))
		_, err = io.Copy(tw, tr)
		assert.NilError(t, err)
	}
	for name, data := range files {
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}))
		_, err := tw.Write([]byte(data))
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return &buf
}

func importImage(t *testing.T, ref string, fs io.Reader, changes ...string) {
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	docker(t, fs, append(args, "-", ref)...)
}

func e2eImages(t *testing.T) {
	base := baseFS(t)
	all := func(name string) (string, bool) { return name, name != ".dockerenv" }
	t.Cleanup(func() {
		exec.Command("docker", "rmi", e2eFileEnv, e2ePlain, e2eNoShell, e2eDangling, e2eMergedUsr, e2eS6).Run()
	})
	importImage(t, e2eFileEnv, rootfs(t, base, all, map[string]string{
		"usr/local/bin/docker-entrypoint.sh": e2eEntrypoint,
		"usr/local/lib/file-env.sh":          e2eFileEnvLib,
	}),
		`ENV PATH=/usr/local/bin:/bin`,
		`ENTRYPOINT ["docker-entrypoint.sh"]`,
		`CMD ["sh", "-c", "test -n \"$APP_PASSWORD\""]`)
	importImage(t, e2ePlain, rootfs(t, base, all, map[string]string{"entrypoint.sh": e2ePlainEntrypoint}),
		`ENTRYPOINT ["/entrypoint.sh"]`,
		`CMD ["true"]`,
		`USER 999`,
		`VOLUME /data`)
	importImage(t, e2eNoShell, rootfs(t, base, func(name string) (string, bool) {
		return "app", name == "bin/busybox"
	}, nil),
		`ENTRYPOINT ["/app"]`,
		`CMD ["true"]`)
	importImage(t, e2eDangling, rootfs(t, base, func(name string) (string, bool) {
		switch name {
		case "bin/busybox":
			return "app", true
		case "bin/", "bin/sh":
			return name, true
		}
		return "", false
	}, nil))
	importImage(t, e2eS6, rootfs(t, base, all, map[string]string{
		"usr/bin/entrypoint":    "#!/bin/sh\nexec \"$@\"\n",
		"etc/s6/app/run":        "#!/bin/sh\n[ -f ./setup ] && . ./setup\nexec /bin/app\n",
		"etc/s6/app/setup":      "#!/bin/sh\nenvironment-to-ini --config /data/app.ini\n",
		"etc/s6/.s6-svscan/fin": "#!/bin/sh\n",
	}),
		`ENTRYPOINT ["/usr/bin/entrypoint"]`,
		`CMD ["/bin/s6-svscan", "/etc/s6"]`)
	importImage(t, e2eMergedUsr, mergedUsr(t, base),
		`ENV PATH=/bin`,
		`ENTRYPOINT ["docker-entrypoint.sh"]`)
}

// mergedUsr is a root file system with /bin -> usr/bin holding busybox,
// sh -> busybox and the fileenv image's entrypoint and library.
func mergedUsr(t *testing.T, base []byte) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(base))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		assert.NilError(t, err)
		if hdr.Name != "bin/busybox" {
			continue
		}
		hdr.Name = "usr/bin/busybox"
		assert.NilError(t, tw.WriteHeader(hdr))
		_, err = io.Copy(tw, tr)
		assert.NilError(t, err)
	}
	for _, l := range []*tar.Header{
		{Name: "bin", Linkname: "usr/bin", Typeflag: tar.TypeSymlink, Mode: 0o777},
		{Name: "usr/bin/sh", Linkname: "busybox", Typeflag: tar.TypeSymlink, Mode: 0o777},
	} {
		assert.NilError(t, tw.WriteHeader(l))
	}
	for name, data := range map[string]string{
		"usr/bin/docker-entrypoint.sh": e2eEntrypoint,
		"usr/local/lib/file-env.sh":    e2eFileEnvLib,
	} {
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(data))
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return &buf
}

func TestEngineE2E(t *testing.T) {
	c, err := client.New(client.FromEnv)
	assert.NilError(t, err)
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	e2eImages(t)

	api := &countingAPI{EngineAPI: c, engine: c}
	cacheDir := filepath.Join(t.TempDir(), "images")
	var progress bytes.Buffer
	r := NewEngine(api, EngineOptions{CacheDir: cacheDir, Progress: &progress})

	// Read all three at once, as migrate does.
	refs := []string{e2eFileEnv, e2ePlain, e2eNoShell}
	imgs := make([]*Image, len(refs))
	errs := make([]error, len(refs))
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			imgs[i], errs[i] = r.Read(ctx, ref, ReadOptions{})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		assert.NilError(t, err)
	}
	fileEnv, plain, noShell := imgs[0], imgs[1], imgs[2]

	assert.Check(t, is.Equal(fileEnv.Ref, e2eFileEnv))
	assert.Check(t, strings.HasPrefix(fileEnv.ID, "sha256:"))
	assert.Check(t, is.DeepEqual(fileEnv.Entrypoint, []string{"docker-entrypoint.sh"}))
	assert.Check(t, is.DeepEqual(fileEnv.Cmd, []string{"sh", "-c", `test -n "$APP_PASSWORD"`}))
	assert.Check(t, is.Equal(fileEnv.User, ""))
	assert.Check(t, fileEnv.Shell)
	assert.Check(t, is.DeepEqual(fileEnv.Files.Vars, map[string]string{"APP_PASSWORD": "APP_PASSWORD_FILE"}))
	assert.Check(t, is.DeepEqual(fileEnv.Files.Scripts, []string{"/usr/local/bin/docker-entrypoint.sh", "/usr/local/lib/file-env.sh"}))

	assert.Check(t, plain.Shell)
	assert.Check(t, is.Equal(plain.User, "999"))
	assert.Check(t, plain.NonRoot())
	assert.Check(t, is.Len(plain.Files.Vars, 0))
	assert.Check(t, is.Len(plain.Files.Rules, 0))
	assert.Check(t, is.DeepEqual(plain.Files.Scripts, []string{"/entrypoint.sh"}))

	assert.Check(t, !noShell.Shell, "no /bin/sh")
	assert.Check(t, is.DeepEqual(noShell.Entrypoint, []string{"/app"}))
	assert.Check(t, is.Len(noShell.Files.Scripts, 0), "a binary is not a script")

	dangling, err := r.Read(ctx, e2eDangling, ReadOptions{})
	assert.NilError(t, err)
	assert.Check(t, !dangling.Shell, "/bin/sh leads nowhere")
	assert.Check(t, is.Len(dangling.Cmd, 0))
	assert.Check(t, is.Len(dangling.Entrypoint, 0))

	merged, err := r.Read(ctx, e2eMergedUsr, ReadOptions{})
	assert.NilError(t, err)
	assert.Check(t, merged.Shell, "/bin/sh through /bin -> usr/bin and sh -> busybox")
	assert.Check(t, is.DeepEqual(merged.Files.Vars, map[string]string{"APP_PASSWORD": "APP_PASSWORD_FILE"}))
	// The path the container runs it by, found on PATH=/bin.
	assert.Check(t, is.DeepEqual(merged.Files.Scripts, []string{"/bin/docker-entrypoint.sh", "/usr/local/lib/file-env.sh"}))

	s6, err := r.Read(ctx, e2eS6, ReadOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(s6.Files.Rules, []Rule{{Prefix: "GITEA__", Suffix: "__FILE"}}))
	assert.Check(t, is.DeepEqual(s6.Files.Scripts, []string{"/usr/bin/entrypoint", "/etc/s6/app/run", "/etc/s6/app/setup"}))

	// Six containers, all gone.
	created := api.names()
	assert.Check(t, is.Len(created, 6))
	assertGone(t, c, created)
	// The plain image's VOLUME made an anonymous volume: removed with it.
	assert.Check(t, is.Len(api.volumes, 1))
	for _, v := range api.volumes {
		_, err := c.VolumeInspect(ctx, v, client.VolumeInspectOptions{})
		assert.Check(t, cerrdefs.IsNotFound(err), "volume %s is left: %v", v, err)
	}

	// The cache: one 0600 file per image, and a second reader creates no
	// container.
	entries, err := os.ReadDir(cacheDir)
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 6))
	for _, e := range entries {
		st, err := e.Info()
		assert.NilError(t, err)
		assert.Check(t, is.Equal(st.Mode().Perm(), os.FileMode(0o600)), e.Name())
	}
	api2 := &countingAPI{EngineAPI: c}
	r2 := NewEngine(api2, EngineOptions{CacheDir: cacheDir, Pull: PullNever})
	for i, ref := range refs {
		img, err := r2.Read(ctx, ref, ReadOptions{})
		assert.NilError(t, err)
		assert.Check(t, is.DeepEqual(img, imgs[i]))
	}
	assert.Check(t, is.Len(api2.names(), 0), "served from the cache")

	// An absent image and --pull=never.
	_, err = r2.Read(ctx, e2eAbsent, ReadOptions{})
	assert.Check(t, is.Error(err, "image "+e2eAbsent+" is not in the engine and --pull=never"))
	_, err = r.Read(ctx, e2eAbsent, ReadOptions{NoPull: true})
	assert.Check(t, is.ErrorContains(err, "is not in the engine: the project builds it"))
	assert.Check(t, is.Equal(progress.Len(), 0), "nothing was pulled")

	// An image that cannot be pulled (its registry is a closed port on
	// 127.0.0.1): the engine's error, after the ref.
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n := len(api.names())
	_, err = r.Read(pctx, e2eUnpullable, ReadOptions{})
	assert.Check(t, is.ErrorContains(err, "pulling "+e2eUnpullable+": "))
	assert.Check(t, is.Len(api.names(), n), "no container for an image that is not there")
	t.Logf("pull error: %v", err)
}

// A Read cancelled while it reads the container still removes it.
func TestEngineE2ECancel(t *testing.T) {
	c, err := client.New(client.FromEnv)
	assert.NilError(t, err)
	t.Cleanup(func() { c.Close() })
	e2eImages(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api := &countingAPI{EngineAPI: c, onStat: cancel}
	_, err = NewEngine(api, EngineOptions{CacheDir: t.TempDir()}).Read(ctx, e2eFileEnv, ReadOptions{})
	assert.Check(t, is.ErrorContains(err, "context canceled"))
	created := api.names()
	assert.Check(t, is.Len(created, 1))
	assertGone(t, c, created)
}

func assertGone(t *testing.T, c *client.Client, names []string) {
	t.Helper()
	for _, name := range names {
		assert.Check(t, strings.HasPrefix(name, inspectPrefix), name)
		_, err := c.ContainerInspect(context.Background(), name, client.ContainerInspectOptions{})
		assert.Check(t, cerrdefs.IsNotFound(err), "container %s is left: %v", name, err)
	}
}
