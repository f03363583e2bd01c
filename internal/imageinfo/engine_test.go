package imageinfo

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// fakeAPI is EngineAPI with one function field per method.
type fakeAPI struct {
	inspect func(ctx context.Context, ref string) (client.ImageInspectResult, error)
	pull    func(ctx context.Context, ref string, o client.ImagePullOptions) (client.ImagePullResponse, error)
	create  func(ctx context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error)
	stat    func(ctx context.Context, id string, o client.ContainerStatPathOptions) (client.ContainerStatPathResult, error)
	copy    func(ctx context.Context, id string, o client.CopyFromContainerOptions) (client.CopyFromContainerResult, error)
	remove  func(ctx context.Context, id string, o client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
}

func (f *fakeAPI) ImageInspect(ctx context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	return f.inspect(ctx, ref)
}
func (f *fakeAPI) ImagePull(ctx context.Context, ref string, o client.ImagePullOptions) (client.ImagePullResponse, error) {
	return f.pull(ctx, ref, o)
}
func (f *fakeAPI) ContainerCreate(ctx context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	return f.create(ctx, o)
}
func (f *fakeAPI) ContainerStatPath(ctx context.Context, id string, o client.ContainerStatPathOptions) (client.ContainerStatPathResult, error) {
	return f.stat(ctx, id, o)
}
func (f *fakeAPI) CopyFromContainer(ctx context.Context, id string, o client.CopyFromContainerOptions) (client.CopyFromContainerResult, error) {
	return f.copy(ctx, id, o)
}
func (f *fakeAPI) ContainerRemove(ctx context.Context, id string, o client.ContainerRemoveOptions) (client.ContainerRemoveResult, error) {
	return f.remove(ctx, id, o)
}

type fakeFile struct {
	mode os.FileMode
	data string
	link string // a symlink's target, absolute
}

// fakeImage is an image of the fake engine: its config and its files.
type fakeImage struct {
	id         string
	entrypoint []string
	cmd        []string
	user       string
	env        []string
	files      map[string]fakeFile
}

// fakeEngine holds images, counts what was asked of it, and gives a
// fakeAPI whose fields a test may replace.
type fakeEngine struct {
	mu         sync.Mutex
	images     map[string]*fakeImage // by ref and by ID
	pullable   map[string]*fakeImage // what a pull of a ref brings
	containers map[string]*fakeImage // live containers by ID
	created    []client.ContainerCreateOptions
	removed    []string
	pulls      []string
	copies     []string
	nextID     int
}

func newFakeEngine(imgs map[string]*fakeImage) *fakeEngine {
	e := &fakeEngine{images: map[string]*fakeImage{}, pullable: map[string]*fakeImage{}, containers: map[string]*fakeImage{}}
	for ref, img := range imgs {
		e.images[ref] = img
		e.images[img.id] = img
	}
	return e
}

func (e *fakeEngine) live() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.containers)
}

func (e *fakeEngine) api() *fakeAPI {
	return &fakeAPI{
		inspect: func(ctx context.Context, ref string) (client.ImageInspectResult, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			img, ok := e.images[ref]
			if !ok {
				return client.ImageInspectResult{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
			}
			cfg := &dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{
				Entrypoint: img.entrypoint, Cmd: img.cmd, User: img.user, Env: img.env,
			}}
			return client.ImageInspectResult{InspectResponse: image.InspectResponse{ID: img.id, Config: cfg}}, nil
		},
		pull: func(ctx context.Context, ref string, o client.ImagePullOptions) (client.ImagePullResponse, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.pulls = append(e.pulls, ref)
			img, ok := e.pullable[ref]
			if !ok {
				return nil, cerrdefs.ErrNotFound.WithMessage("pull access denied for " + ref + ", repository does not exist or may require 'docker login'")
			}
			e.images[ref], e.images[img.id] = img, img
			return pullStream(
				`{"status":"Pulling from x/y","id":"1"}`,
				`{"status":"Downloaded newer image for `+ref+`"}`,
			), nil
		},
		create: func(ctx context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.created = append(e.created, o)
			img, ok := e.images[o.Config.Image]
			if !ok {
				return client.ContainerCreateResult{}, cerrdefs.ErrNotFound.WithMessage("No such image")
			}
			e.nextID++
			id := fmt.Sprintf("c%d", e.nextID)
			e.containers[id] = img
			return client.ContainerCreateResult{ID: id}, nil
		},
		stat: func(ctx context.Context, id string, o client.ContainerStatPathOptions) (client.ContainerStatPathResult, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			f, ok := e.containers[id].files[o.Path]
			if !ok {
				return client.ContainerStatPathResult{}, cerrdefs.ErrNotFound.WithMessage("Could not find the file " + o.Path)
			}
			st := container.PathStat{Name: filepath.Base(o.Path), Mode: f.mode, Size: int64(len(f.data))}
			if f.link != "" {
				st.Mode, st.LinkTarget = os.ModeSymlink|0o777, f.link
			}
			return client.ContainerStatPathResult{Stat: st}, nil
		},
		copy: func(ctx context.Context, id string, o client.CopyFromContainerOptions) (client.CopyFromContainerResult, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.copies = append(e.copies, o.SourcePath)
			files := e.containers[id].files
			f, ok := files[o.SourcePath]
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			if !ok {
				// A directory: its entries, named from its base.
				var names []string
				for name := range files {
					if strings.HasPrefix(name, o.SourcePath+"/") {
						names = append(names, name)
					}
				}
				if len(names) == 0 {
					return client.CopyFromContainerResult{}, cerrdefs.ErrNotFound.WithMessage("Could not find the file")
				}
				sort.Strings(names)
				base := filepath.Base(o.SourcePath)
				_ = tw.WriteHeader(&tar.Header{Name: base + "/", Typeflag: tar.TypeDir, Mode: 0o755})
				dirs := map[string]bool{}
				for _, name := range names {
					rel := strings.TrimPrefix(name, o.SourcePath+"/")
					if d := filepath.Dir(rel); d != "." && !dirs[d] {
						dirs[d] = true
						_ = tw.WriteHeader(&tar.Header{Name: base + "/" + d + "/", Typeflag: tar.TypeDir, Mode: 0o755})
					}
					data := files[name].data
					_ = tw.WriteHeader(&tar.Header{Name: base + "/" + rel, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data))})
					_, _ = tw.Write([]byte(data))
				}
				_ = tw.Close()
				return client.CopyFromContainerResult{Content: io.NopCloser(&buf)}, nil
			}
			hdr := &tar.Header{Name: filepath.Base(o.SourcePath), Mode: int64(f.mode.Perm()), Size: int64(len(f.data)), Typeflag: tar.TypeReg}
			if f.link != "" {
				hdr.Typeflag, hdr.Size, hdr.Linkname = tar.TypeSymlink, 0, f.link
			}
			_ = tw.WriteHeader(hdr)
			if f.link == "" {
				_, _ = tw.Write([]byte(f.data))
			}
			_ = tw.Close()
			return client.CopyFromContainerResult{Content: io.NopCloser(&buf)}, nil
		},
		remove: func(ctx context.Context, id string, o client.ContainerRemoveOptions) (client.ContainerRemoveResult, error) {
			if ctx.Err() != nil {
				return client.ContainerRemoveResult{}, ctx.Err()
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			e.removed = append(e.removed, id)
			if !o.Force || !o.RemoveVolumes {
				return client.ContainerRemoveResult{}, errors.New("remove without force and volumes")
			}
			if _, ok := e.containers[id]; !ok {
				return client.ContainerRemoveResult{}, cerrdefs.ErrNotFound.WithMessage("No such container: " + id)
			}
			delete(e.containers, id)
			return client.ContainerRemoveResult{}, nil
		},
	}
}

type fakePullStream struct{ io.ReadCloser }

func (fakePullStream) JSONMessages(context.Context) iter.Seq2[jsonstream.Message, error] {
	panic("not used")
}
func (fakePullStream) Wait(context.Context) error { panic("not used") }

func pullStream(lines ...string) client.ImagePullResponse {
	return fakePullStream{io.NopCloser(strings.NewReader(strings.Join(lines, "\n") + "\n"))}
}

var busybox = map[string]fakeFile{
	"/bin/busybox": {mode: 0o755, data: "\x7fELF\x00\x00binary"},
	"/bin/sh":      {link: "/bin/busybox"},
}

func withFiles(base map[string]fakeFile, more map[string]fakeFile) map[string]fakeFile {
	out := map[string]fakeFile{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func scriptFile(t *testing.T, name string) fakeFile {
	return fakeFile{mode: 0o755, data: readScript(t, name).Text}
}

const pgID = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

func pgImage(t *testing.T) *fakeImage {
	return &fakeImage{
		id:         pgID,
		entrypoint: []string{"docker-entrypoint.sh"},
		cmd:        []string{"postgres"},
		user:       "postgres",
		env:        []string{"GOSU_VERSION=1.17", "PATH=/usr/local/bin:/usr/bin:/bin"},
		files: withFiles(busybox, map[string]fakeFile{
			"/usr/local/bin/docker-entrypoint.sh": scriptFile(t, "postgres-docker-entrypoint.sh"),
			"/docker-entrypoint.sh":               {link: "/usr/local/bin/docker-entrypoint.sh"},
		}),
	}
}

func TestParsePull(t *testing.T) {
	for in, want := range map[string]Pull{"": PullMissing, "missing": PullMissing, "never": PullNever, "always": PullAlways} {
		got, err := ParsePull(in)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(got, want))
	}
	_, err := ParsePull("sometimes")
	assert.Check(t, is.Error(err, `invalid --pull value "sometimes": must be missing, never or always`))
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/tmp/xdg-cache")
	dir, err := DefaultCacheDir()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(dir, "/tmp/xdg-cache/docker-vault/images"))
}

func TestReadAndCache(t *testing.T) {
	cacheDir := filepath.Join(t.TempDir(), "images")
	fe := newFakeEngine(map[string]*fakeImage{"dvtest/pg:1": pgImage(t)})
	r := NewEngine(fe.api(), EngineOptions{CacheDir: cacheDir})

	img, err := r.Read(context.Background(), "dvtest/pg:1", ReadOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(img.Ref, "dvtest/pg:1"))
	assert.Check(t, is.Equal(img.ID, pgID))
	assert.Check(t, is.DeepEqual(img.Entrypoint, []string{"docker-entrypoint.sh"}))
	assert.Check(t, is.DeepEqual(img.Cmd, []string{"postgres"}))
	assert.Check(t, is.Equal(img.User, "postgres"))
	assert.Check(t, img.Shell, "/bin/sh is a link to busybox")
	assert.Check(t, is.DeepEqual(img.Files.Vars, fileVars("POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_INITDB_ARGS")))
	assert.Check(t, is.DeepEqual(img.Files.Scripts, []string{"/usr/local/bin/docker-entrypoint.sh"}))

	// One container, never started, no network, the image's own command,
	// removed with its volumes.
	assert.Assert(t, is.Len(fe.created, 1))
	c := fe.created[0]
	assert.Check(t, strings.HasPrefix(c.Name, "docker-vault-inspect-"), c.Name)
	assert.Check(t, is.Equal(c.Config.Image, pgID))
	assert.Check(t, c.Config.NetworkDisabled)
	assert.Check(t, is.Equal(c.HostConfig.NetworkMode, container.NetworkMode("none")))
	assert.Check(t, is.Len(c.Config.Cmd, 0))
	assert.Check(t, is.Len(c.Config.Entrypoint, 0))
	assert.Check(t, is.Equal(fe.live(), 0))
	assert.Check(t, is.DeepEqual(fe.removed, []string{"c1"}))

	// The cache file: 0600, by image ID.
	cacheFile := filepath.Join(cacheDir, strings.TrimPrefix(pgID, "sha256:")+".json")
	st, err := os.Stat(cacheFile)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Mode().Perm(), os.FileMode(0o600)))
	entries, err := os.ReadDir(cacheDir)
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 1), "no work folder left")

	// Another reader, another ref of the same image: the cache answers,
	// no container is created.
	fe.images["dvtest/pg:latest"] = fe.images["dvtest/pg:1"]
	r2 := NewEngine(fe.api(), EngineOptions{CacheDir: cacheDir})
	img2, err := r2.Read(context.Background(), "dvtest/pg:latest", ReadOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(fe.created, 1))
	assert.Check(t, is.Equal(img2.Ref, "dvtest/pg:latest"))
	img.Ref = img2.Ref
	assert.Check(t, is.DeepEqual(img2, img))

	// A broken cache file is read again and rewritten.
	img.Ref = "dvtest/pg:1"
	for _, broken := range []string{"{not json", `{"version":0,"image":{"id":"` + pgID + `"}}`, `{"version":1,"image":{"id":"sha256:other"}}`} {
		assert.NilError(t, os.WriteFile(cacheFile, []byte(broken), 0o600))
		n := len(fe.created)
		img3, err := r2.Read(context.Background(), "dvtest/pg:1", ReadOptions{})
		assert.NilError(t, err)
		assert.Check(t, is.Len(fe.created, n+1), broken)
		assert.Check(t, is.DeepEqual(img3, img))
		b, err := os.ReadFile(cacheFile)
		assert.NilError(t, err)
		var entry cacheEntry
		assert.Check(t, json.Unmarshal(b, &entry))
		assert.Check(t, is.Equal(entry.Version, cacheVersion))
		assert.Check(t, is.Equal(entry.Image.ID, pgID))
	}
	assert.Check(t, is.Equal(fe.live(), 0))
}

func TestReadPullPolicies(t *testing.T) {
	const ref = "dvtest/pg:1"
	tests := []struct {
		name     string
		pull     Pull
		noPull   bool
		present  bool
		pullable bool
		wantErr  string
		wantPull bool
	}{
		{name: "missing, present", pull: PullMissing, present: true},
		{name: "missing, absent: pulled", pull: PullMissing, pullable: true, wantPull: true},
		{name: "default is missing", pull: "", pullable: true, wantPull: true},
		{name: "missing, pull fails", pull: PullMissing, wantPull: true,
			wantErr: "pulling dvtest/pg:1: pull access denied for dvtest/pg:1, repository does not exist or may require 'docker login'"},
		{name: "never, absent", pull: PullNever, pullable: true, wantErr: "image dvtest/pg:1 is not in the engine and --pull=never"},
		{name: "never, present", pull: PullNever, present: true},
		{name: "always, present: pulled anyway", pull: PullAlways, present: true, pullable: true, wantPull: true},
		{name: "always, pull fails", pull: PullAlways, present: true, wantPull: true,
			wantErr: "pulling dvtest/pg:1: pull access denied for dvtest/pg:1, repository does not exist or may require 'docker login'"},
		{name: "built, absent", pull: PullMissing, noPull: true, pullable: true,
			wantErr: "image dvtest/pg:1 is not in the engine: the project builds it, build it first"},
		{name: "built, always, present: not pulled", pull: PullAlways, noPull: true, present: true, pullable: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fe := newFakeEngine(nil)
			img := pgImage(t)
			if tc.present {
				fe.images[ref], fe.images[img.id] = img, img
			}
			if tc.pullable {
				fe.pullable[ref] = img
			}
			var progress bytes.Buffer
			r := NewEngine(fe.api(), EngineOptions{Pull: tc.pull, Progress: &progress, CacheDir: t.TempDir()})
			got, err := r.Read(context.Background(), ref, ReadOptions{NoPull: tc.noPull})
			if tc.wantPull {
				assert.Check(t, is.DeepEqual(fe.pulls, []string{ref}))
			} else {
				assert.Check(t, is.Len(fe.pulls, 0))
			}
			if tc.wantErr != "" {
				assert.Check(t, is.Error(err, tc.wantErr))
				assert.Check(t, is.Len(fe.created, 0))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(got.ID, pgID))
			if tc.wantPull {
				assert.Check(t, is.Contains(progress.String(), "Downloaded newer image for dvtest/pg:1"))
			}
		})
	}
}

func TestReadPullStreamError(t *testing.T) {
	fe := newFakeEngine(nil)
	api := fe.api()
	var gotAuth string
	api.pull = func(ctx context.Context, ref string, o client.ImagePullOptions) (client.ImagePullResponse, error) {
		gotAuth = o.RegistryAuth
		return pullStream(
			`{"status":"Pulling from x/y"}`,
			`{"errorDetail":{"message":"manifest for dvtest/pg:9 not found: manifest unknown"},"error":"manifest for dvtest/pg:9 not found: manifest unknown"}`,
		), nil
	}
	var progress bytes.Buffer
	r := NewEngine(api, EngineOptions{Progress: &progress, CacheDir: t.TempDir(),
		RegistryAuth: func(ctx context.Context, ref string) (string, error) { return "auth-for-" + ref, nil }})
	_, err := r.Read(context.Background(), "dvtest/pg:9", ReadOptions{})
	assert.Check(t, is.Error(err, "pulling dvtest/pg:9: manifest for dvtest/pg:9 not found: manifest unknown"))
	assert.Check(t, is.Equal(gotAuth, "auth-for-dvtest/pg:9"))
	assert.Check(t, is.Contains(progress.String(), "Pulling from x/y"))
}

func TestReadNoRef(t *testing.T) {
	fe := newFakeEngine(nil)
	_, err := NewEngine(fe.api(), EngineOptions{CacheDir: t.TempDir()}).Read(context.Background(), "", ReadOptions{})
	assert.Check(t, is.Error(err, "no image to read"))
	assert.Check(t, is.Len(fe.pulls, 0))
}

func TestReadInspectError(t *testing.T) {
	api := newFakeEngine(nil).api()
	api.inspect = func(ctx context.Context, ref string) (client.ImageInspectResult, error) {
		return client.ImageInspectResult{}, errors.New("Cannot connect to the Docker daemon")
	}
	_, err := NewEngine(api, EngineOptions{CacheDir: t.TempDir()}).Read(context.Background(), "x:1", ReadOptions{})
	assert.Check(t, is.Error(err, "inspecting image x:1: Cannot connect to the Docker daemon"))
}

// The container is removed whatever goes wrong, and a removal that fails
// is said.
func TestReadAlwaysRemoves(t *testing.T) {
	t.Run("stat fails", func(t *testing.T) {
		fe := newFakeEngine(map[string]*fakeImage{"dvtest/pg:1": pgImage(t)})
		api := fe.api()
		api.stat = func(ctx context.Context, id string, o client.ContainerStatPathOptions) (client.ContainerStatPathResult, error) {
			return client.ContainerStatPathResult{}, errors.New("engine hiccup")
		}
		_, err := NewEngine(api, EngineOptions{CacheDir: t.TempDir()}).Read(context.Background(), "dvtest/pg:1", ReadOptions{})
		assert.Check(t, is.ErrorContains(err, "reading /bin/sh in the image: engine hiccup"))
		assert.Check(t, is.Equal(fe.live(), 0))
		assert.Check(t, is.Len(fe.removed, 1))
	})
	t.Run("context cancelled while copying", func(t *testing.T) {
		fe := newFakeEngine(map[string]*fakeImage{"dvtest/pg:1": pgImage(t)})
		api := fe.api()
		ctx, cancel := context.WithCancel(context.Background())
		api.copy = func(c context.Context, id string, o client.CopyFromContainerOptions) (client.CopyFromContainerResult, error) {
			cancel()
			return client.CopyFromContainerResult{}, c.Err()
		}
		cacheDir := t.TempDir()
		_, err := NewEngine(api, EngineOptions{CacheDir: cacheDir}).Read(ctx, "dvtest/pg:1", ReadOptions{})
		assert.Check(t, errors.Is(err, context.Canceled), "%v", err)
		assert.Check(t, is.Equal(fe.live(), 0), "removed with a context of its own")
		entries, _ := os.ReadDir(cacheDir)
		assert.Check(t, is.Len(entries, 0), "a failed read is not cached")
	})
	t.Run("create cut short", func(t *testing.T) {
		fe := newFakeEngine(map[string]*fakeImage{"dvtest/pg:1": pgImage(t)})
		api := fe.api()
		create := api.create
		ctx, cancel := context.WithCancel(context.Background())
		var removedName string
		api.create = func(c context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
			_, _ = create(c, o) // made, but the answer is lost
			cancel()
			return client.ContainerCreateResult{}, c.Err()
		}
		api.remove = func(c context.Context, id string, o client.ContainerRemoveOptions) (client.ContainerRemoveResult, error) {
			assert.Check(t, c.Err())
			removedName = id
			return client.ContainerRemoveResult{}, nil
		}
		_, err := NewEngine(api, EngineOptions{CacheDir: t.TempDir()}).Read(ctx, "dvtest/pg:1", ReadOptions{})
		assert.Check(t, errors.Is(err, context.Canceled))
		assert.Check(t, strings.HasPrefix(removedName, "docker-vault-inspect-"), "removed by name: %q", removedName)
	})
	t.Run("removal fails", func(t *testing.T) {
		fe := newFakeEngine(map[string]*fakeImage{"dvtest/pg:1": pgImage(t)})
		api := fe.api()
		api.remove = func(c context.Context, id string, o client.ContainerRemoveOptions) (client.ContainerRemoveResult, error) {
			return client.ContainerRemoveResult{}, errors.New("device busy")
		}
		_, err := NewEngine(api, EngineOptions{CacheDir: t.TempDir()}).Read(context.Background(), "dvtest/pg:1", ReadOptions{})
		assert.Check(t, is.ErrorContains(err, "device busy"))
		assert.Check(t, is.ErrorContains(err, "removing container docker-vault-inspect-"))
	})
}

func TestReadShell(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]fakeFile
		want  bool
	}{
		{name: "busybox link", files: busybox, want: true},
		{name: "a file", files: map[string]fakeFile{"/bin/sh": {mode: 0o755, data: "\x7fELF\x00"}}, want: true},
		{name: "chained links", files: map[string]fakeFile{"/bin/sh": {link: "/bin/dash"}, "/bin/dash": {link: "/usr/bin/dash"}, "/usr/bin/dash": {mode: 0o755, data: "x"}}, want: true},
		{name: "dangling link", files: map[string]fakeFile{"/bin/sh": {link: "/bin/busybox"}}},
		{name: "link loop", files: map[string]fakeFile{"/bin/sh": {link: "/bin/a"}, "/bin/a": {link: "/bin/sh"}}},
		{name: "not executable", files: map[string]fakeFile{"/bin/sh": {mode: 0o644, data: "x"}}},
		{name: "a directory", files: map[string]fakeFile{"/bin/sh": {mode: os.ModeDir | 0o755}}},
		{name: "absent", files: map[string]fakeFile{"/app": {mode: 0o755, data: "\x7fELF\x00"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fe := newFakeEngine(map[string]*fakeImage{"dvtest/x:1": {id: "sha256:22222222222222", entrypoint: []string{"/app"}, files: tc.files}})
			img, err := NewEngine(fe.api(), EngineOptions{CacheDir: t.TempDir()}).Read(context.Background(), "dvtest/x:1", ReadOptions{})
			assert.NilError(t, err)
			assert.Check(t, is.Equal(img.Shell, tc.want))
		})
	}
}

func TestReadEntrypoints(t *testing.T) {
	lib := fakeFile{mode: 0o644, data: "load_secret() {\n\tlocal name=\"$1\"\n\tlocal f=\"${name}_FILE\"\n\t[ -n \"${!f:-}\" ] && export \"$name\"=\"$(cat \"${!f}\")\"\n}\n"}
	entry := fakeFile{mode: 0o755, data: "#!/bin/bash\n. /usr/lib/app/secrets.sh\nload_secret APP_PASSWORD\nexec \"$@\"\n"}
	tests := []struct {
		name        string
		entrypoint  []string
		cmd         []string
		env         []string
		workDir     string
		files       map[string]fakeFile
		wantVars    map[string]string
		wantRules   []Rule
		wantScripts []string
		wantCmd     []string // the create's Cmd
	}{
		{
			name:        "tini, then a script that sources a library",
			entrypoint:  []string{"/sbin/tini", "-g", "--", "/entrypoint.sh"},
			cmd:         []string{"app"},
			files:       map[string]fakeFile{"/sbin/tini": {mode: 0o755, data: "\x7fELF\x00"}, "/entrypoint.sh": entry, "/usr/lib/app/secrets.sh": lib},
			wantVars:    fileVars("APP_PASSWORD"),
			wantScripts: []string{"/entrypoint.sh", "/usr/lib/app/secrets.sh"},
		},
		{
			name:        "shell form",
			entrypoint:  []string{"/bin/sh", "-c", "exec /entrypoint.sh app"},
			files:       map[string]fakeFile{"/entrypoint.sh": entry, "/usr/lib/app/secrets.sh": lib},
			wantVars:    fileVars("APP_PASSWORD"),
			wantScripts: []string{"(entrypoint)", "/entrypoint.sh", "/usr/lib/app/secrets.sh"},
		},
		{
			name:        "only a cmd, found on the image's PATH through a link",
			cmd:         []string{"run.sh", "--serve"},
			env:         []string{"PATH=/opt/app/bin:/usr/bin"},
			files:       map[string]fakeFile{"/opt/app/bin/run.sh": {link: "/opt/app/libexec/run.sh"}, "/opt/app/libexec/run.sh": scriptFile(t, "grafana-run.sh")},
			wantRules:   []Rule{{Prefix: "GF_", Suffix: "__FILE"}},
			wantScripts: []string{"/opt/app/libexec/run.sh"},
		},
		{
			name:        "relative to the working directory, run by bash",
			entrypoint:  []string{"bash", "./start.sh"},
			workDir:     "/srv",
			files:       map[string]fakeFile{"/srv/start.sh": entry, "/usr/lib/app/secrets.sh": lib},
			wantVars:    fileVars("APP_PASSWORD"),
			wantScripts: []string{"/srv/start.sh", "/usr/lib/app/secrets.sh"},
		},
		{
			name:        "s6-overlay's /init",
			entrypoint:  []string{"/init"},
			files:       map[string]fakeFile{"/init": {mode: 0o755, data: "#!/bin/sh -e\nexec /package/admin/s6-overlay/libexec/preinit\n"}, "/etc/s6-overlay/s6-rc.d/init-envfile/run": scriptFile(t, "linuxserver-init-envfile-run")},
			wantRules:   []Rule{{FilePrefix: "FILE__"}},
			wantScripts: []string{"/init", "/etc/s6-overlay/s6-rc.d/init-envfile/run"},
		},
		{
			name:       "wordpress: the entrypoint names the PHP file that reads the files",
			entrypoint: []string{"docker-entrypoint.sh"},
			cmd:        []string{"apache2-foreground"},
			files: map[string]fakeFile{
				"/usr/local/bin/docker-entrypoint.sh":     scriptFile(t, "wordpress-docker-entrypoint.sh"),
				"/usr/src/wordpress/wp-config-docker.php": {mode: 0o644, data: readScript(t, "wp-config-docker.php").Text},
			},
			wantVars: fileVars("WORDPRESS_DB_NAME", "WORDPRESS_DB_USER", "WORDPRESS_DB_PASSWORD", "WORDPRESS_DB_HOST",
				"WORDPRESS_AUTH_KEY", "WORDPRESS_NONCE_SALT", "WORDPRESS_TABLE_PREFIX"),
			wantScripts: []string{"/usr/local/bin/docker-entrypoint.sh", "/usr/src/wordpress/wp-config-docker.php"},
		},
		{
			name:       "gitea: the command starts s6-svscan, a service's setup runs environment-to-ini",
			entrypoint: []string{"/usr/bin/entrypoint"},
			cmd:        []string{"/bin/s6-svscan", "/etc/s6"},
			files: map[string]fakeFile{
				"/usr/bin/entrypoint":  {mode: 0o755, data: "#!/bin/sh\nif [ $# -gt 0 ]; then\n\texec \"$@\"\nelse\n\texec /bin/s6-svscan /etc/s6\nfi\n"},
				"/etc/s6/gitea/run":    {mode: 0o755, data: "#!/bin/bash\n[[ -f ./setup ]] && source ./setup\nexec su-exec $USER /app/gitea/gitea web\n"},
				"/etc/s6/gitea/setup":  scriptFile(t, "gitea-setup.sh"),
				"/etc/s6/openssh/run":  {mode: 0o755, data: "#!/bin/bash\nexec /usr/sbin/sshd -D -e\n"},
				"/etc/s6/.s6-svscan/x": {mode: 0o755, data: "#!/bin/sh\n"},
			},
			wantRules:   []Rule{{Prefix: "GITEA__", Suffix: "__FILE"}},
			wantScripts: []string{"/usr/bin/entrypoint", "/etc/s6/gitea/run", "/etc/s6/gitea/setup", "/etc/s6/openssh/run"},
		},
		{
			name:       "a binary",
			entrypoint: []string{"/app"},
			files:      map[string]fakeFile{"/app": {mode: 0o755, data: "\x7fELF\x02\x01\x01\x00\x00\x00export X=$(cat $X_FILE)"}},
		},
		{
			name:       "an entrypoint that is not there",
			entrypoint: []string{"missing.sh"},
		},
		{
			name:    "no entrypoint, no cmd",
			wantCmd: []string{"/docker-vault-inspect-never-started"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := &fakeImage{id: "sha256:3333333333333333", entrypoint: tc.entrypoint, cmd: tc.cmd, env: tc.env, files: withFiles(busybox, tc.files)}
			fe := newFakeEngine(map[string]*fakeImage{"dvtest/x:1": img})
			api := fe.api()
			inspect := api.inspect
			api.inspect = func(ctx context.Context, ref string) (client.ImageInspectResult, error) {
				res, err := inspect(ctx, ref)
				if res.Config != nil {
					res.Config.WorkingDir = tc.workDir
				}
				return res, err
			}
			got, err := NewEngine(api, EngineOptions{CacheDir: t.TempDir()}).Read(context.Background(), "dvtest/x:1", ReadOptions{})
			assert.NilError(t, err)
			if len(tc.wantVars) == 0 {
				assert.Check(t, is.Len(got.Files.Vars, 0))
			} else {
				assert.Check(t, is.DeepEqual(got.Files.Vars, tc.wantVars))
			}
			assert.Check(t, is.DeepEqual(got.Files.Rules, tc.wantRules))
			assert.Check(t, is.DeepEqual(got.Files.Scripts, tc.wantScripts))
			assert.Check(t, is.DeepEqual(fe.created[0].Config.Cmd, tc.wantCmd))
			assert.Check(t, is.Equal(fe.live(), 0))
		})
	}
}

// What is copied out of an image is bounded: 16 scripts, 1 MiB each.
func TestReadBounds(t *testing.T) {
	files := map[string]fakeFile{}
	var entry strings.Builder
	entry.WriteString("#!/bin/sh\n. /big.sh\n")
	for i := range 30 {
		fmt.Fprintf(&entry, ". /lib/%d.sh\n", i)
		files[fmt.Sprintf("/lib/%d.sh", i)] = fakeFile{mode: 0o644, data: "true\n"}
	}
	files["/entrypoint.sh"] = fakeFile{mode: 0o755, data: entry.String()}
	files["/big.sh"] = fakeFile{mode: 0o644, data: strings.Repeat("#", maxScriptSize+1)}
	fe := newFakeEngine(map[string]*fakeImage{"dvtest/x:1": {id: "sha256:44444444444444", entrypoint: []string{"/entrypoint.sh"}, files: withFiles(busybox, files)}})
	img, err := NewEngine(fe.api(), EngineOptions{CacheDir: t.TempDir()}).Read(context.Background(), "dvtest/x:1", ReadOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(img.Files.Scripts, maxScripts))
	assert.Check(t, is.Len(fe.copies, maxScripts), "the big file is not copied")
	for _, c := range fe.copies {
		assert.Check(t, c != "/big.sh")
	}
}

// All the scripts read from one image hold at most maxTotalSize.
func TestReadBoundsTotal(t *testing.T) {
	files := map[string]fakeFile{}
	var entry strings.Builder
	entry.WriteString("#!/bin/sh\n")
	for i := range 8 {
		fmt.Fprintf(&entry, ". /lib/%d.sh\n", i)
		files[fmt.Sprintf("/lib/%d.sh", i)] = fakeFile{mode: 0o644, data: "#!/bin/sh\n# " + strings.Repeat("x", 900<<10)}
	}
	files["/entrypoint.sh"] = fakeFile{mode: 0o755, data: entry.String()}
	fe := newFakeEngine(map[string]*fakeImage{"dvtest/x:1": {id: "sha256:77777777777777", entrypoint: []string{"/entrypoint.sh"}, files: withFiles(busybox, files)}})
	img, err := NewEngine(fe.api(), EngineOptions{CacheDir: t.TempDir()}).Read(context.Background(), "dvtest/x:1", ReadOptions{})
	assert.NilError(t, err)
	// The entrypoint, then 900 KiB scripts until 4 MiB are passed.
	assert.Check(t, is.Len(img.Files.Scripts, 6))
}

// Concurrent Reads of one image ID, under several refs, create one
// container.
func TestReadConcurrent(t *testing.T) {
	fe := newFakeEngine(map[string]*fakeImage{"dvtest/pg:1": pgImage(t)})
	for i := range 8 {
		fe.images[fmt.Sprintf("dvtest/pg:alias%d", i)] = fe.images["dvtest/pg:1"]
	}
	other := &fakeImage{id: "sha256:5555555555555555", entrypoint: []string{"/app"}, files: busybox}
	fe.images["dvtest/other:1"], fe.images[other.id] = other, other
	var creates atomic.Int32
	api := fe.api()
	create := api.create
	api.create = func(ctx context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
		creates.Add(1)
		return create(ctx, o)
	}
	r := NewEngine(api, EngineOptions{CacheDir: t.TempDir()})
	var wg sync.WaitGroup
	errs := make([]error, 9)
	imgs := make([]*Image, 9)
	for i := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := fmt.Sprintf("dvtest/pg:alias%d", i)
			if i == 8 {
				ref = "dvtest/other:1"
			}
			imgs[i], errs[i] = r.Read(context.Background(), ref, ReadOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		assert.NilError(t, err)
		if i < 8 {
			assert.Check(t, is.Equal(imgs[i].Ref, fmt.Sprintf("dvtest/pg:alias%d", i)))
			assert.Check(t, is.Equal(imgs[i].Files.Vars["POSTGRES_PASSWORD"], "POSTGRES_PASSWORD_FILE"))
		}
	}
	assert.Check(t, is.Equal(creates.Load(), int32(2)))
	assert.Check(t, is.Equal(fe.live(), 0))
	// What one caller got is its own.
	imgs[0].Files.Vars["POSTGRES_PASSWORD"] = "changed"
	imgs[0].Cmd[0] = "changed"
	assert.Check(t, is.Equal(imgs[1].Files.Vars["POSTGRES_PASSWORD"], "POSTGRES_PASSWORD_FILE"))
	assert.Check(t, is.Equal(imgs[1].Cmd[0], "postgres"))
}

// With no cache directory at all, Read still works and caches nothing.
func TestReadNoCacheDir(t *testing.T) {
	fe := newFakeEngine(map[string]*fakeImage{"dvtest/pg:1": pgImage(t)})
	r := NewEngine(fe.api(), EngineOptions{})
	r.cacheDir = ""
	for range 2 {
		_, err := r.Read(context.Background(), "dvtest/pg:1", ReadOptions{})
		assert.NilError(t, err)
	}
	assert.Check(t, is.Len(fe.created, 2))
}

// The names looked up are bounded too: a script naming a hundred
// programs costs at most maxLookups lookups, and a binary is not read
// past its start.
func TestReadBoundsLookups(t *testing.T) {
	var entry strings.Builder
	entry.WriteString("#!/bin/sh\n/usr/bin/big-binary\n")
	for i := range 100 {
		fmt.Fprintf(&entry, "/usr/bin/tool%d --flag\n", i)
	}
	files := withFiles(busybox, map[string]fakeFile{
		"/entrypoint.sh":      {mode: 0o755, data: entry.String()},
		"/usr/bin/big-binary": {mode: 0o755, data: "\x7fELF\x00" + strings.Repeat("x", 512<<10)},
	})
	fe := newFakeEngine(map[string]*fakeImage{"dvtest/x:1": {id: "sha256:66666666666666", entrypoint: []string{"/entrypoint.sh"}, files: files}})
	api := fe.api()
	var stats atomic.Int32
	stat := api.stat
	api.stat = func(ctx context.Context, id string, o client.ContainerStatPathOptions) (client.ContainerStatPathResult, error) {
		stats.Add(1)
		return stat(ctx, id, o)
	}
	var read atomic.Int64
	copyFrom := api.copy
	api.copy = func(ctx context.Context, id string, o client.CopyFromContainerOptions) (client.CopyFromContainerResult, error) {
		res, err := copyFrom(ctx, id, o)
		if err == nil {
			res.Content = countingReader{res.Content, &read}
		}
		return res, err
	}
	img, err := NewEngine(api, EngineOptions{CacheDir: t.TempDir()}).Read(context.Background(), "dvtest/x:1", ReadOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(img.Files.Scripts, []string{"/entrypoint.sh"}))
	// /bin/sh and its link, then at most maxLookups names.
	assert.Check(t, stats.Load() <= int32(2+maxLookups), "%d stats", stats.Load())
	assert.Check(t, read.Load() < 64<<10, "%d bytes read", read.Load())
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
