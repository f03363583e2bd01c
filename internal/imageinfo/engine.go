package imageinfo

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker-vault/docker-vault/internal/atomicfile"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"golang.org/x/sync/singleflight"
)

// Pull is when Read pulls an image, as compose's --pull.
type Pull string

const (
	// PullMissing pulls an image the engine does not have (the default).
	PullMissing Pull = "missing"
	// PullNever never pulls: an absent image cannot be read.
	PullNever Pull = "never"
	// PullAlways pulls every image before reading it.
	PullAlways Pull = "always"
)

// ParsePull reads a --pull value; "" is missing.
func ParsePull(s string) (Pull, error) {
	switch p := Pull(s); p {
	case "":
		return PullMissing, nil
	case PullMissing, PullNever, PullAlways:
		return p, nil
	}
	return "", fmt.Errorf("invalid --pull value %q: must be missing, never or always", s)
}

// EngineAPI is the part of the Engine API client the reader uses;
// *client.Client has it.
type EngineAPI interface {
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImagePull(ctx context.Context, ref string, opts client.ImagePullOptions) (client.ImagePullResponse, error)
	ContainerCreate(ctx context.Context, opts client.ContainerCreateOptions) (client.ContainerCreateResult, error)
	ContainerStatPath(ctx context.Context, id string, opts client.ContainerStatPathOptions) (client.ContainerStatPathResult, error)
	CopyFromContainer(ctx context.Context, id string, opts client.CopyFromContainerOptions) (client.CopyFromContainerResult, error)
	ContainerRemove(ctx context.Context, id string, opts client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
}

// EngineOptions tune an Engine.
type EngineOptions struct {
	// Pull is the pull policy; "" is PullMissing.
	Pull Pull
	// Progress receives the pulls' progress, as docker pull shows it (a
	// *streams.Out on a terminal gets the moving bars). nil discards it.
	Progress io.Writer
	// CacheDir holds what was learnt per image ID; "" is DefaultCacheDir.
	// With no cache directory at all (no home), nothing is cached.
	CacheDir string
	// RegistryAuth returns the encoded credentials to pull ref with
	// (docker/cli's command.RetrieveAuthTokenFromImage); nil pulls
	// anonymously.
	RegistryAuth func(ctx context.Context, ref string) (string, error)
}

// Engine reads images through the Engine API. It is safe for concurrent
// Reads: each reads its image with its own container, two Reads of one
// image ID share one reading, and pulls run one at a time so that their
// progress stays readable.
type Engine struct {
	api      EngineAPI
	opts     EngineOptions
	cacheDir string
	reads    singleflight.Group
	pullMu   sync.Mutex
}

// NewEngine returns a Reader over api.
func NewEngine(api EngineAPI, opts EngineOptions) *Engine {
	if opts.Pull == "" {
		opts.Pull = PullMissing
	}
	dir := opts.CacheDir
	if dir == "" {
		dir, _ = DefaultCacheDir()
	}
	return &Engine{api: api, opts: opts, cacheDir: dir}
}

// DefaultCacheDir is where what was learnt of images is kept:
// <user cache dir>/docker-vault/images.
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "docker-vault", "images"), nil
}

const (
	// inspectPrefix names the containers Read creates; none outlives Read.
	inspectPrefix = "docker-vault-inspect-"
	// maxScripts and maxScriptSize bound what is copied out of an image.
	maxScripts    = 16
	maxScriptSize = 1 << 20
	// maxLookups bounds the names looked up in the image: the scripts
	// name binaries too, which are looked up and left.
	maxLookups = 64
	// maxTotalSize bounds the text of all scripts read from one image.
	maxTotalSize = 4 << 20
	// cacheVersion is bumped whenever Scan or Read find something else
	// than before: older entries are then read again.
	cacheVersion = 3
	// removeTimeout bounds the removal of the container, which runs even
	// when the caller's context is done.
	removeTimeout = 30 * time.Second
)

// Read implements Reader.
func (e *Engine) Read(ctx context.Context, ref string, o ReadOptions) (*Image, error) {
	if ref == "" {
		return nil, errors.New("no image to read")
	}
	if e.opts.Pull == PullAlways && !o.NoPull {
		if err := e.pull(ctx, ref); err != nil {
			return nil, err
		}
	}
	res, err := e.api.ImageInspect(ctx, ref)
	if err != nil {
		if !cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("inspecting image %s: %w", ref, err)
		}
		switch {
		case o.NoPull:
			return nil, fmt.Errorf("image %s is not in the engine: the project builds it, build it first", ref)
		case e.opts.Pull == PullNever:
			return nil, fmt.Errorf("image %s is not in the engine and --pull=never", ref)
		case e.opts.Pull == PullAlways:
			return nil, fmt.Errorf("image %s is not in the engine after it was pulled", ref)
		}
		if err := e.pull(ctx, ref); err != nil {
			return nil, err
		}
		if res, err = e.api.ImageInspect(ctx, ref); err != nil {
			return nil, fmt.Errorf("inspecting image %s: %w", ref, err)
		}
	}
	if res.ID == "" {
		return nil, fmt.Errorf("inspecting image %s: the engine gave no image ID", ref)
	}
	v, err, _ := e.reads.Do(res.ID, func() (any, error) {
		return e.readID(ctx, res)
	})
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", ref, err)
	}
	// Each caller gets its own copy: two refs of one ID share the reading.
	img := v.(*Image).clone()
	img.Ref = ref
	return img, nil
}

// clone copies i deeply: a caller may change what it got.
func (i *Image) clone() *Image {
	c := *i
	c.Entrypoint = slices.Clone(i.Entrypoint)
	c.Cmd = slices.Clone(i.Cmd)
	c.Files.Vars = maps.Clone(i.Files.Vars)
	c.Files.Rules = slices.Clone(i.Files.Rules)
	c.Files.Scripts = slices.Clone(i.Files.Scripts)
	return &c
}

func (e *Engine) pull(ctx context.Context, ref string) error {
	e.pullMu.Lock()
	defer e.pullMu.Unlock()
	var opts client.ImagePullOptions
	if e.opts.RegistryAuth != nil {
		auth, err := e.opts.RegistryAuth(ctx, ref)
		if err != nil {
			return fmt.Errorf("pulling %s: %w", ref, err)
		}
		opts.RegistryAuth = auth
	}
	resp, err := e.api.ImagePull(ctx, ref, opts)
	if err != nil {
		return fmt.Errorf("pulling %s: %w", ref, err)
	}
	defer resp.Close()
	out := e.opts.Progress
	if out == nil {
		out = io.Discard
	}
	// As docker pull shows it: bars on a terminal, lines elsewhere.
	if t, ok := out.(interface {
		FD() uintptr
		IsTerminal() bool
	}); ok {
		err = jsonmessage.DisplayJSONMessagesStream(resp, out, t.FD(), t.IsTerminal(), nil)
	} else {
		err = jsonmessage.DisplayJSONMessagesStream(resp, out, 0, false, nil)
	}
	if err != nil {
		return fmt.Errorf("pulling %s: %w", ref, err)
	}
	return nil
}

var hexID = regexp.MustCompile(`^[0-9a-f]{12,128}$`)

// cacheEntry is one cache file.
type cacheEntry struct {
	Version int    `json:"version"`
	Image   *Image `json:"image"`
}

func (e *Engine) cachePath(id string) string {
	h := strings.TrimPrefix(id, "sha256:")
	if e.cacheDir == "" || !hexID.MatchString(h) {
		return ""
	}
	return filepath.Join(e.cacheDir, h+".json")
}

func (e *Engine) readID(ctx context.Context, res client.ImageInspectResult) (*Image, error) {
	img := &Image{ID: res.ID}
	var env []string
	var workDir string
	if cfg := res.Config; cfg != nil {
		img.Entrypoint, img.Cmd, img.User = cfg.Entrypoint, cfg.Cmd, cfg.User
		env, workDir = cfg.Env, cfg.WorkingDir
	}
	cache := e.cachePath(res.ID)
	if cache != "" {
		if b, err := os.ReadFile(cache); err == nil {
			var c cacheEntry
			// A broken or older entry is read again and rewritten.
			if json.Unmarshal(b, &c) == nil && c.Version == cacheVersion && c.Image != nil && c.Image.ID == res.ID {
				img.Shell, img.Files = c.Image.Shell, c.Image.Files
				return img, nil
			}
		}
	}
	if err := e.inspectFiles(ctx, img, env, workDir); err != nil {
		return nil, err
	}
	if cache != "" {
		// A cache that cannot be written costs the next run a container,
		// nothing else: the error is not the caller's.
		if b, err := json.Marshal(cacheEntry{Version: cacheVersion, Image: img}); err == nil {
			if os.MkdirAll(e.cacheDir, 0o700) == nil {
				_ = atomicfile.WriteFile(e.cacheDir, cache, b)
			}
		}
	}
	return img, nil
}

// inspectFiles creates a container of the image, never started, and reads
// /bin/sh and the entrypoint's scripts from it; the container is removed
// whatever happens.
func (e *Engine) inspectFiles(ctx context.Context, img *Image, env []string, workDir string) (err error) {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	name := inspectPrefix + hex.EncodeToString(rnd[:])
	cfg := &container.Config{
		Image:           img.ID,
		NetworkDisabled: true,
		Labels:          map[string]string{"com.docker.vault.inspect": "true"},
	}
	if len(img.Entrypoint) == 0 && len(img.Cmd) == 0 {
		// The engine refuses a container with no command, though this one
		// never starts.
		cfg.Cmd = []string{"/docker-vault-inspect-never-started"}
	}
	created, err := e.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Config:     cfg,
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	id := created.ID
	if err != nil {
		// A create cut short by ctx may still have made the container.
		if ctx.Err() != nil {
			e.remove(ctx, name)
		}
		return fmt.Errorf("creating a container to read it: %w", err)
	}
	defer func() {
		if rerr := e.remove(ctx, id); rerr != nil && !cerrdefs.IsNotFound(rerr) {
			err = errors.Join(err, fmt.Errorf("removing container %s: %w", name, rerr))
		}
	}()

	c := &containerFS{e: e, id: id}
	img.Shell, err = c.hasShell(ctx)
	if err != nil {
		return err
	}
	scripts, err := c.scripts(ctx, entrypointWords(img.Entrypoint, img.Cmd), env, workDir)
	if err != nil {
		return err
	}
	img.Files = Scan(scripts...)
	return nil
}

// remove removes a container with a context of its own: it must run when
// the caller's is done.
func (e *Engine) remove(ctx context.Context, id string) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	_, err := e.api.ContainerRemove(rctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	return err
}

// entrypointWords is what the container runs: the entrypoint and cmd, or
// the cmd alone.
func entrypointWords(entrypoint, cmd []string) []string {
	if len(entrypoint) > 0 {
		return append(append([]string{}, entrypoint...), cmd...)
	}
	return cmd
}

type containerFS struct {
	e  *Engine
	id string
}

// stat stats p in the container, following symlinks (the engine resolves
// a link's target in the container's root but does not follow it). ok is
// false when p, or the file a link leads to, does not exist.
func (c *containerFS) stat(ctx context.Context, p string) (st container.PathStat, resolved string, ok bool, err error) {
	for range 8 {
		res, err := c.e.api.ContainerStatPath(ctx, c.id, client.ContainerStatPathOptions{Path: p})
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				return st, "", false, nil
			}
			return st, "", false, fmt.Errorf("reading %s in the image: %w", p, err)
		}
		st = res.Stat
		if st.Mode&os.ModeSymlink == 0 {
			return st, p, true, nil
		}
		target := st.LinkTarget
		if target == "" || target == p {
			return st, "", false, nil
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		p = target
	}
	return st, "", false, nil // a loop of links
}

// hasShell reports whether /bin/sh is an executable file (a link to one,
// as busybox's, counts; a dangling one does not).
func (c *containerFS) hasShell(ctx context.Context) (bool, error) {
	st, _, ok, err := c.stat(ctx, "/bin/sh")
	return ok && st.Mode.IsRegular() && st.Mode.Perm()&0o111 != 0, err
}

// defaultPath is the PATH of an image that sets none (the engine's).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// scripts reads the entrypoint, when it is a script, and the scripts it
// names, breadth first, at most maxScripts of them.
func (c *containerFS) scripts(ctx context.Context, words []string, env []string, workDir string) ([]Script, error) {
	searchPath := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			searchPath = v
		}
	}
	var scripts []Script
	var queue []string
	seen := map[string]bool{}
	// A supervisor runs each service's run and setup scripts.
	services := func(dir string) error {
		if seen[dir] {
			return nil
		}
		seen[dir] = true
		svcs, err := c.subdirs(ctx, dir)
		for _, svc := range svcs {
			queue = append(queue, path.Join(dir, svc, "run"), path.Join(dir, svc, "setup"))
		}
		return err
	}
	first, queue, supervisors := startScripts(words)
	scripts = append(scripts, first...)
	for _, dir := range supervisors {
		if err := services(dir); err != nil {
			return nil, err
		}
	}
	total := 0
	for lookups := 0; len(queue) > 0 && len(scripts) < maxScripts && lookups < maxLookups && total < maxTotalSize; lookups++ {
		name := queue[0]
		queue = queue[1:]
		p, st, ok, err := c.resolve(ctx, name, searchPath, workDir)
		if err != nil {
			return nil, err
		}
		if !ok || seen[p] || !st.Mode.IsRegular() || st.Size > maxScriptSize {
			continue
		}
		seen[p] = true
		text, ok, err := c.readText(ctx, p)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		scripts = append(scripts, Script{Path: p, Text: text})
		total += len(text)
		queue = append(queue, References(text)...)
		for _, dir := range ServiceDirs(text) {
			if err := services(dir); err != nil {
				return nil, err
			}
		}
	}
	return scripts, nil
}

// startScripts is where reading an image's scripts starts from its
// entrypoint words: the inline script of a shell's -c (a script itself),
// the names to look up first, and the folders of the supervisors the words
// start.
func startScripts(words []string) (inline []Script, queue, supervisors []string) {
	// Unwrap tini, gosu, exec...; a shell's -c string is a script itself.
	all := words
	for range 8 {
		if len(words) == 0 {
			break
		}
		if text, ok := shellCommand(words); ok {
			inline = append(inline, Script{Path: "(entrypoint)", Text: text})
			queue = append(queue, References(text)...)
			supervisors = ServiceDirs(text)
			words = nil
			break
		}
		k := wrapped(words, 0)
		if k <= 0 {
			break
		}
		words = words[k:]
	}
	if len(words) > 0 {
		queue = append(queue, words[0])
		if path.Base(words[0]) == "init" {
			// s6-overlay's /init: linuxserver images read FILE__ variables
			// in an init service /init never names.
			queue = append(queue, "/etc/s6-overlay/s6-rc.d/init-envfile/run", "/etc/cont-init.d/01-envfile")
		}
	}
	// The image's own command may start a supervisor: gitea's CMD
	// ["/bin/s6-svscan", "/etc/s6"], which its entrypoint execs.
	for i := 0; i+1 < len(all); i++ {
		if b := path.Base(all[i]); (b == "s6-svscan" || b == "runsvdir") && path.IsAbs(all[i+1]) {
			supervisors = append(supervisors, all[i+1])
		}
	}
	return inline, queue, supervisors
}

// maxServices bounds the services read from one supervisor directory.
const maxServices = 8

// subdirs lists the directories in dir (at most maxServices), from the
// headers of the tar the engine makes of it.
func (c *containerFS) subdirs(ctx context.Context, dir string) ([]string, error) {
	res, err := c.e.api.CopyFromContainer(ctx, c.id, client.CopyFromContainerOptions{SourcePath: dir})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing %s in the image: %w", dir, err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(io.LimitReader(res.Content, maxScriptSize))
	var out []string
	for range 256 {
		hdr, err := tr.Next()
		if err != nil {
			// The end, or past the bound: what was listed is enough.
			break
		}
		// Entries are named from the directory's base: s6/gitea/.
		parts := strings.Split(strings.Trim(hdr.Name, "/"), "/")
		if hdr.Typeflag == tar.TypeDir && len(parts) == 2 && len(out) < maxServices {
			out = append(out, parts[1])
		}
	}
	return out, nil
}

// shellCommand returns the string a shell runs with -c.
func shellCommand(words []string) (string, bool) {
	if !shells[path.Base(words[0])] {
		return "", false
	}
	for i := 1; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "-") || strings.HasPrefix(w, "--") {
			return "", false
		}
		if strings.Contains(w, "c") {
			if i+1 < len(words) {
				return words[i+1], true
			}
			return "", false
		}
	}
	return "", false
}

// resolve finds a command as the container would: a bare name on PATH, a
// relative one in the working directory.
func (c *containerFS) resolve(ctx context.Context, name, searchPath, workDir string) (string, container.PathStat, bool, error) {
	var candidates []string
	switch {
	case path.IsAbs(name):
		candidates = []string{name}
	case strings.Contains(name, "/"):
		if workDir == "" {
			workDir = "/"
		}
		candidates = []string{path.Join(workDir, name)}
	default:
		for _, dir := range strings.Split(searchPath, ":") {
			if path.IsAbs(dir) {
				candidates = append(candidates, path.Join(dir, name))
			}
		}
	}
	for _, p := range candidates {
		st, resolved, ok, err := c.stat(ctx, p)
		if err != nil {
			return "", st, false, err
		}
		if ok && st.Mode.IsRegular() {
			return resolved, st, true, nil
		}
	}
	return "", container.PathStat{}, false, nil
}

// readText copies one file out of the container; ok is false when it is
// not text (a binary, or larger than maxScriptSize).
func (c *containerFS) readText(ctx context.Context, p string) (string, bool, error) {
	res, err := c.e.api.CopyFromContainer(ctx, c.id, client.CopyFromContainerOptions{SourcePath: p})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("copying %s out of the image: %w", p, err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content)
	hdr, err := tr.Next()
	if err != nil {
		return "", false, fmt.Errorf("copying %s out of the image: %w", p, err)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size > maxScriptSize {
		return "", false, nil
	}
	// The start says whether it is text: a binary is not read further.
	head := make([]byte, min(hdr.Size, textProbe))
	if _, err := io.ReadFull(tr, head); err != nil {
		return "", false, fmt.Errorf("copying %s out of the image: %w", p, err)
	}
	if !isText(head) {
		return "", false, nil
	}
	rest, err := io.ReadAll(io.LimitReader(tr, maxScriptSize))
	if err != nil {
		return "", false, fmt.Errorf("copying %s out of the image: %w", p, err)
	}
	return string(head) + string(rest), true, nil
}

// textProbe is how much of a file says whether it is text.
const textProbe = 8192

// isText: a script starts with #! or holds no NUL in its first 8 KiB.
func isText(b []byte) bool {
	if bytes.HasPrefix(b, []byte("#!")) {
		return true
	}
	return len(b) > 0 && !bytes.Contains(b, []byte{0})
}
