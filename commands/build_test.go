package commands

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker-vault/docker-vault/internal/build"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/redact"
	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli-plugins/manager"
	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// buildSeed is what the vault holds in the build tests. No argv, output or
// error of a test may contain one of the values.
var buildSeed = map[string]string{
	"token":        "build-unit-token-5b1d9e",
	"npm-token":    "build-unit-npm-c4a7f2",
	"prod-api-key": "build-unit-api-0e8b33",
}

// startBuildEmulator points the environment at an in-process emulator
// holding buildSeed, as a user's shell would: the command takes its
// production path (DefaultAzureCredential, TLS verified against
// SSL_CERT_FILE, challenge check on).
func startBuildEmulator(t *testing.T, opts kvtest.Options) *kvtest.Server {
	t.Helper()
	if opts.Seed == nil {
		opts.Seed = buildSeed
	}
	s := kvtest.NewServer(t, opts)
	return useEmulator(t, s)
}

// recordingRunner stands for the docker CLI child: it records what it was
// asked to run, prints what print does and does what run says.
type recordingRunner struct {
	calls []recordedRun
	print func(stdout, stderr io.Writer)
	run   func(inv build.Invocation) error
}

type recordedRun struct {
	bin string
	inv build.Invocation
	// maskedStdout tells whether the child's stdout went through the
	// filter that masks values.
	maskedStdout bool
}

func (r *recordingRunner) Run(_ context.Context, c runner.Cmd) error {
	_, masked := c.Stdout.(*redact.Writer)
	inv := build.Invocation{Args: c.Args, Env: c.Env}
	r.calls = append(r.calls, recordedRun{bin: c.Path, inv: inv, maskedStdout: masked})
	if r.print != nil {
		r.print(c.Stdout, c.Stderr)
	}
	if r.run != nil {
		return r.run(inv)
	}
	return nil
}

// saveClient is the Engine API of the leak check: ImageSave and
// ImageInspect.
type saveClient struct {
	fakeClient
	imageSaveFunc    func(ctx context.Context, refs []string) (client.ImageSaveResult, error)
	imageInspectFunc func(ctx context.Context, ref string) (client.ImageInspectResult, error)
}

func (f *saveClient) ImageInspect(ctx context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	return f.imageInspectFunc(ctx, ref)
}

func (f *saveClient) ImageSave(ctx context.Context, refs []string, _ ...client.ImageSaveOption) (client.ImageSaveResult, error) {
	return f.imageSaveFunc(ctx, refs)
}

// fakeBuildxPlugin writes a docker-buildx plugin that answers the CLI's
// metadata call with version, and returns its folder.
func fakeBuildxPlugin(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	script := `#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"Docker Inc.","Version":"` + version + `","ShortDescription":"Docker Buildx"}'
  exit 0
fi
echo "fake buildx must not run" >&2
exit 99
`
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "docker-buildx"), []byte(script), 0o755))
	return dir
}

// pluginArgs makes os.Args what the docker CLI gives a plugin it runs:
// the global options, then the plugin's name and its arguments.
func pluginArgs(t *testing.T, global ...string) {
	t.Helper()
	saved := os.Args
	t.Cleanup(func() { os.Args = saved })
	os.Args = append(append([]string{"/usr/libexec/docker/cli-plugins/docker-vault"}, global...), "vault", "build")
}

type buildRun struct {
	out    string // stdout and stderr
	err    error
	runner *recordingRunner
}

// runBuildCommand runs `docker vault build ARGS` on a real DockerCli whose
// plugin search finds a buildx of buildxVersion ("" for none), with a
// recording runner, and checks that no value of buildSeed reached argv,
// the child's arguments, the output or the error.
func runBuildCommand(t *testing.T, api client.APIClient, buildxVersion string, runner *recordingRunner, args ...string) buildRun {
	t.Helper()
	if api == nil {
		api = &fakeClient{}
	}
	if runner == nil {
		runner = &recordingRunner{}
	}
	dockerCLI, out := newTestCLI(t, api)
	find := func(name string) (*manager.Plugin, error) {
		return manager.GetPlugin(name, dockerCLI, &cobra.Command{})
	}
	if buildxVersion != "" {
		dockerCLI.ConfigFile().CLIPluginsExtraDirs = []string{fakeBuildxPlugin(t, buildxVersion)}
	} else {
		// The host may have a buildx of its own in the system plugin
		// folders: look up a name nothing provides, through the same
		// manager, to get its real "not found".
		find = func(string) (*manager.Plugin, error) {
			return manager.GetPlugin("docker-vault-test-no-such-plugin", dockerCLI, &cobra.Command{})
		}
	}
	cmd := newBuildCommandWith(dockerCLI, runner.Run, find)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	res := buildRun{out: out.String(), err: err, runner: runner}
	for name, v := range buildSeed {
		assert.Check(t, !strings.Contains(res.out, v), "output leaks the value of %s", name)
		if err != nil {
			assert.Check(t, !strings.Contains(err.Error(), v), "error leaks the value of %s", name)
		}
		for _, c := range runner.calls {
			for _, a := range c.inv.Args {
				assert.Check(t, !strings.Contains(a, v), "argv leaks the value of %s: %q", name, a)
			}
		}
	}
	return res
}

func writeDockerfile(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(text), 0o600))
	return dir
}

// envValue returns the value of key in a child environment.
func envValue(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

func TestBuildArgvCarriesNoValue(t *testing.T) {
	s := startBuildEmulator(t, kvtest.Options{})
	versions := map[string]string{}
	for name := range buildSeed {
		// A second version, so the versions arg can only be right if it
		// names the current one.
		versions[name] = s.SetSecret(name, buildSeed[name])
	}
	ctxDir := writeDockerfile(t, `FROM busybox
ARG DOCKER_VAULT_VERSIONS
RUN --mount=type=secret,id=token,required=true --mount=type=secret,id=api_key true
`)
	t.Setenv(metadata.ReexecEnvvar, "/opt/docker/bin/docker")
	t.Setenv("DOCKER_VAULT_SECRET_7", "left over by a parent run")
	pluginArgs(t, "--context", "default", "--log-level", "warn")

	user := []string{"-f", filepath.Join(ctxDir, "Dockerfile"), "--build-arg", "A=b", "-t", "app:1", "--progress=plain",
		"--secret", "id=other,src=/dev/null", "--load", "--platform", "linux/amd64", "-q"}
	args := append([]string{}, user[:4]...)
	// docker vault's own flags, mixed among the user's in every form.
	args = append(args, "--vault", "emulator", "--vault-secret", "id=api_key,name=prod-api-key", "--no-leak-check")
	args = append(args, user[4:8]...)
	args = append(args, "--timeout=30s", "--vault-parallel", "2", "--credential", "default")
	args = append(args, user[8:]...)
	args = append(args, ctxDir)
	user = append(user, ctxDir)

	res := runBuildCommand(t, nil, "v0.38.2", nil, args...)
	assert.NilError(t, res.err, res.out)
	assert.Assert(t, is.Len(res.runner.calls, 1))
	call := res.runner.calls[0]
	assert.Check(t, is.Equal(call.bin, "/opt/docker/bin/docker"))
	want := []string{"--context", "default", "--log-level", "warn", "buildx", "build",
		"--secret", "id=api_key,env=DOCKER_VAULT_SECRET_0",
		"--secret", "id=token,env=DOCKER_VAULT_SECRET_1",
		"--build-arg", "DOCKER_VAULT_VERSIONS=api_key=" + versions["prod-api-key"] + ",token=" + versions["token"]}
	want = append(want, user...)
	assert.DeepEqual(t, call.inv.Args, want)

	// The values travel in the child's environment, and only there.
	v, _ := envValue(call.inv.Env, "DOCKER_VAULT_SECRET_0")
	assert.Check(t, v == buildSeed["prod-api-key"], "DOCKER_VAULT_SECRET_0 does not hold the api key")
	v, _ = envValue(call.inv.Env, "DOCKER_VAULT_SECRET_1")
	assert.Check(t, v == buildSeed["token"], "DOCKER_VAULT_SECRET_1 does not hold the token")
	_, stale := envValue(call.inv.Env, "DOCKER_VAULT_SECRET_7")
	assert.Check(t, !stale, "a DOCKER_VAULT_SECRET_ variable of the parent is handed on")
	_, hasPath := envValue(call.inv.Env, "PATH")
	assert.Check(t, hasPath, "the child does not inherit the environment")
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 2))
	// --no-leak-check: the fake Engine API has no ImageSave, which would
	// panic if it were called.
	assert.Check(t, !strings.Contains(res.out, "leak check"))
}

func TestBuildHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-t", "x", "-h", "."}} {
		res := runBuildCommand(t, nil, "v0.38.2", nil, args...)
		assert.NilError(t, res.err)
		assert.Check(t, is.Len(res.runner.calls, 0))
		assert.Check(t, is.Contains(res.out, "The flags below are docker vault's"))
		for _, f := range []string{"--vault ", "--vault-secret", "--no-leak-check", "--compose", "--timeout", "--credential"} {
			assert.Check(t, is.Contains(res.out, f))
		}
		// buildx's flags are buildx's help, not ours.
		assert.Check(t, !strings.Contains(res.out, "--build-arg"))
	}
}

func TestBuildUserSecretWins(t *testing.T) {
	s := startBuildEmulator(t, kvtest.Options{})
	ctxDir := writeDockerfile(t, `FROM busybox
RUN --mount=type=secret,id=token,required=true --mount=type=secret,id=npm_token true
`)
	pluginArgs(t)
	res := runBuildCommand(t, nil, "v0.38.2", nil, "--secret", "ID=token,env=MY_TOKEN", "--no-leak-check", ctxDir)
	assert.NilError(t, res.err, res.out)
	assert.Assert(t, is.Len(res.runner.calls, 1))
	inv := res.runner.calls[0].inv
	assert.DeepEqual(t, inv.Args, []string{"buildx", "build",
		"--secret", "id=npm_token,env=DOCKER_VAULT_SECRET_0",
		"--secret", "ID=token,env=MY_TOKEN", ctxDir})
	for _, kv := range inv.Env {
		assert.Check(t, !strings.Contains(kv, buildSeed["token"]), "the token was read from Key Vault")
	}
	assert.Check(t, is.Contains(res.out, "note: secret token: given with --secret, not read from Key Vault"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 1), "only npm-token is read")
}

func TestBuildRequiredSecretMissing(t *testing.T) {
	s := startBuildEmulator(t, kvtest.Options{})
	ctxDir := writeDockerfile(t, `FROM busybox
RUN --mount=type=secret,id=token true
RUN --mount=type=secret,id=db_pass,required=true true
`)
	pluginArgs(t)
	res := runBuildCommand(t, nil, "v0.38.2", nil, "--load", ctxDir)
	assert.Check(t, is.Len(res.runner.calls, 0), "a build was started")
	assert.Check(t, is.ErrorContains(res.err, `no build was started: secret id db_pass (required, Dockerfile line 3): Key Vault secret "db-pass" not found in https://emulator.vault.azure.net`))
	assert.Check(t, is.ErrorContains(res.err, "--vault-secret id=db_pass,name=NAME"))

	// A mapping is the name tried.
	res = runBuildCommand(t, nil, "v0.38.2", nil, "--vault-secret", "id=db_pass,name=prod-db", ctxDir)
	assert.Check(t, is.Len(res.runner.calls, 0), "a build was started")
	assert.Check(t, is.ErrorContains(res.err, `secret id db_pass (required, Dockerfile line 3): Key Vault secret "prod-db" not found`))
	assert.Check(t, s.Count(kvtest.RouteGetSecret) >= 2)
}

func TestBuildOptionalSecretMissing(t *testing.T) {
	startBuildEmulator(t, kvtest.Options{})
	ctxDir := writeDockerfile(t, `FROM busybox
RUN --mount=type=secret,id=token --mount=type=secret,id=maybe_there true
`)
	pluginArgs(t)
	res := runBuildCommand(t, nil, "v0.38.2", nil, "--no-leak-check", ctxDir)
	assert.NilError(t, res.err)
	assert.Check(t, is.Contains(res.out, `note: secret maybe_there: Key Vault secret "maybe-there" not found; skipped (the mount is not required)`))
	assert.Assert(t, is.Len(res.runner.calls, 1))
	assert.DeepEqual(t, res.runner.calls[0].inv.Args, []string{"buildx", "build", "--secret", "id=token,env=DOCKER_VAULT_SECRET_0", ctxDir})
	// No ARG DOCKER_VAULT_VERSIONS in the Dockerfile: no build arg, and a
	// note saying how to get rebuilds on rotation.
	assert.Check(t, is.Contains(res.out, "note: declare 'ARG DOCKER_VAULT_VERSIONS'"))
}

func TestBuildVaultOutage(t *testing.T) {
	ctxDir := writeDockerfile(t, "FROM busybox\nRUN --mount=type=secret,id=token true\n")
	pluginArgs(t)

	t.Run("every request fails", func(t *testing.T) {
		s := startBuildEmulator(t, kvtest.Options{ErrorRate: 1, ErrorStatus: 503})
		start := time.Now()
		res := runBuildCommand(t, nil, "v0.38.2", nil, "--timeout", "3s", ctxDir)
		assert.Check(t, is.Len(res.runner.calls, 0), "a build was started")
		assert.Check(t, is.ErrorContains(res.err, "no build was started: secret id token: "))
		assert.Check(t, time.Since(start) < 20*time.Second)
		assert.Check(t, s.Count(kvtest.RouteFaultError) >= 1, "the vault was not asked")
	})

	t.Run("unreachable", func(t *testing.T) {
		s := startBuildEmulator(t, kvtest.Options{})
		assert.NilError(t, s.Close())
		res := runBuildCommand(t, nil, "v0.38.2", nil, "--timeout", "3s", ctxDir)
		assert.Check(t, is.Len(res.runner.calls, 0), "a build was started")
		assert.Check(t, is.ErrorContains(res.err, "no build was started: secret id token: "))
	})
}

func TestBuildDockerfileParseError(t *testing.T) {
	s := startBuildEmulator(t, kvtest.Options{})
	pluginArgs(t)
	for _, tc := range []struct{ dockerfile, want string }{
		{"FROM busybox\nRUN --mount=type=secret,id=token,bogus=1 true\n", "dockerfile parse error on line 2: unexpected key"},
		{"FROM busybox\nRUN --mount=type=secret,id=token true\nFORM busybox\n", "dockerfile parse error on line 3: unknown instruction"},
		{"FROM busybox\nRUN --mount=type=secret,id=token true\nRUN <<EOF\ntrue\n", "dockerfile parse error on line 3: unterminated heredoc"},
	} {
		ctxDir := writeDockerfile(t, tc.dockerfile)
		res := runBuildCommand(t, nil, "v0.38.2", nil, ctxDir)
		assert.Check(t, is.ErrorContains(res.err, filepath.Join(ctxDir, "Dockerfile")+": "+tc.want))
		assert.Check(t, is.Len(res.runner.calls, 0), "a build was started")
	}
	assert.Check(t, is.Len(s.Counts(), 0), "the vault was asked before the Dockerfile was read")
}

func TestBuildxMissingOrTooOld(t *testing.T) {
	s := startBuildEmulator(t, kvtest.Options{})
	ctxDir := writeDockerfile(t, "FROM busybox\nRUN --mount=type=secret,id=token true\n")
	pluginArgs(t)

	res := runBuildCommand(t, nil, "v0.7.1", nil, ctxDir)
	assert.Check(t, is.ErrorContains(res.err, "docker buildx v0.7.1 at "))
	assert.Check(t, is.ErrorContains(res.err, "is too old (need v0.8.0 or later for --secret env= sources): upgrade the docker-buildx-plugin package, or put a newer docker-buildx binary in ~/.docker/cli-plugins"))
	assert.Check(t, is.Len(res.runner.calls, 0))

	res = runBuildCommand(t, nil, "", nil, ctxDir)
	assert.Check(t, is.Error(res.err, "docker buildx is not installed: install the docker-buildx-plugin package, or put a docker-buildx binary in ~/.docker/cli-plugins (https://github.com/docker/buildx#installing)"))
	assert.Check(t, is.Len(res.runner.calls, 0))

	// Development builds of buildx are taken as new enough.
	res = runBuildCommand(t, nil, "v0.39.0-rc1-12-gabcdef", nil, ctxDir)
	assert.NilError(t, res.err)
	assert.Check(t, is.Len(res.runner.calls, 1))

	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 1), "the vault was read before buildx was found")
}

func TestBuildValueWithNUL(t *testing.T) {
	s := startBuildEmulator(t, kvtest.Options{})
	s.SetSecret("bin", "a\x00b-binary")
	ctxDir := writeDockerfile(t, "FROM busybox\nRUN --mount=type=secret,id=bin true\n")
	pluginArgs(t)
	res := runBuildCommand(t, nil, "v0.38.2", nil, ctxDir)
	assert.Check(t, is.ErrorContains(res.err, "secret bin: the value holds a NUL byte, which cannot travel in an environment variable"))
	assert.Check(t, !strings.Contains(res.err.Error(), "binary"))
	assert.Check(t, is.Len(res.runner.calls, 0))
}

// With --load, the build is told to write the image id to a file of
// docker vault's, which the leak check reads the image by and then removes.
func TestBuildLeakCheck(t *testing.T) {
	startBuildEmulator(t, kvtest.Options{})
	ctxDir := writeDockerfile(t, "FROM busybox\nRUN --mount=type=secret,id=token true\n")
	pluginArgs(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	layer := tarBytes(t, map[string]string{"app/leaked": "x" + buildSeed["token"] + "\n"})
	archive := map[string]string{"manifest.json": `[{"Config":"cfg.json","Layers":["abc123/layer.tar"]}]`, "cfg.json": `{}`, "abc123/layer.tar": string(layer)}
	var saved []string
	api := &saveClient{imageSaveFunc: func(_ context.Context, refs []string) (client.ImageSaveResult, error) {
		saved = append(saved, refs...)
		return io.NopCloser(bytes.NewReader(tarBytes(t, archive))), nil
	}}
	var iidFile string
	runner := &recordingRunner{run: func(inv build.Invocation) error {
		for i, a := range inv.Args {
			if a == "--iidfile" {
				iidFile = inv.Args[i+1]
				return os.WriteFile(iidFile, []byte("sha256:0123abcd"), 0o600)
			}
		}
		return nil // no leak check to come
	}}
	res := runBuildCommand(t, api, "v0.38.2", runner, "--load", ctxDir)
	assert.Assert(t, iidFile != "", "no --iidfile given to buildx")
	assert.Check(t, is.DeepEqual(saved, []string{"sha256:0123abcd"}))
	assert.Check(t, is.ErrorContains(res.err, "leak check failed: image sha256:0123abcd holds secret values:\n  secret token (raw) found in abc123/layer.tar: app/leaked\n"))
	assert.Check(t, is.ErrorContains(res.err, "docker image rm sha256:0123abcd"))
	assert.Check(t, strings.HasPrefix(iidFile, tmp), "iid file %s outside TMPDIR", iidFile)
	left, err := os.ReadDir(tmp)
	assert.NilError(t, err)
	assert.Check(t, is.Len(left, 0), "left behind in TMPDIR")

	// A clean image passes and says so.
	saved = nil
	archive["abc123/layer.tar"] = string(tarBytes(t, map[string]string{"app/ok": "fine"}))
	res = runBuildCommand(t, api, "v0.38.2", runner, "--load", "-t", "app:clean", "-t", "app:also", ctxDir)
	assert.NilError(t, res.err)
	assert.Check(t, is.DeepEqual(saved, []string{"sha256:0123abcd"}), "the image is read by the id buildx wrote, not by a tag")
	assert.Check(t, is.Contains(res.out, "leak check: no value of 1 secret (current version only) found in image app:clean: 1 layer, the config or the history (raw, hex, base64, JSON-escaped, URL-encoded); "))

	// --output type=docker,dest=FILE writes a tarball, loads nothing: no
	// image to check (and none to pick by mistake under the tag).
	saved = nil
	res = runBuildCommand(t, api, "v0.38.2", runner, "-o", "type=docker,dest="+filepath.Join(tmp, "img.tar"), "-t", "app:clean", ctxDir)
	assert.NilError(t, res.err)
	assert.Check(t, is.Len(saved, 0))
	last := res.runner.calls[len(res.runner.calls)-1].inv.Args
	assert.Check(t, !slices.Contains(last, "--iidfile"), "%q", last)

	// No output flag: the builder decides. buildx's docker driver loads
	// the image, so it is checked when the engine has it...
	inspected := map[string]bool{"sha256:0123abcd": true}
	api.imageInspectFunc = func(_ context.Context, ref string) (client.ImageInspectResult, error) {
		if inspected[ref] {
			return client.ImageInspectResult{}, nil
		}
		return client.ImageInspectResult{}, fmt.Errorf("no such image: %s: %w", ref, cerrdefs.ErrNotFound)
	}
	res = runBuildCommand(t, api, "v0.38.2", runner, "-t", "app:default", ctxDir)
	assert.NilError(t, res.err)
	assert.Check(t, is.DeepEqual(saved, []string{"sha256:0123abcd"}))
	assert.Check(t, is.Contains(res.out, "leak check: no value of 1 secret (current version only) found in image app:default: 1 layer, "))
	// ...and skipped with a note when it does not.
	saved = nil
	inspected = map[string]bool{}
	res = runBuildCommand(t, api, "v0.38.2", runner, "-t", "app:default", ctxDir)
	assert.NilError(t, res.err)
	assert.Check(t, is.Len(saved, 0))
	assert.Check(t, is.Contains(res.out, "note: leak check skipped: the builder did not load the image into the engine (add --load to check it)"))
	// --push: the image goes elsewhere, nothing to check here.
	res = runBuildCommand(t, api, "v0.38.2", runner, "--push", "-t", "app:default", ctxDir)
	assert.NilError(t, res.err)
	assert.Check(t, !strings.Contains(res.out, "leak check"))
}

func tarBytes(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(body))
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return buf.Bytes()
}

func TestBuildCompose(t *testing.T) {
	s := startBuildEmulator(t, kvtest.Options{})
	version := s.SetSecret("npm-token", buildSeed["npm-token"])
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nARG DOCKER_VAULT_VERSIONS\nRUN --mount=type=secret,id=npm_token true\n"), 0o600))
	compose := filepath.Join(dir, "compose.yaml")
	assert.NilError(t, os.WriteFile(compose, []byte(`
services:
  app:
    image: app
    build:
      context: .
      secrets: [npm_token]
  other:
    image: other
secrets:
  npm_token:
    environment: NPM_TOKEN
`), 0o600))
	t.Setenv("NPM_TOKEN", "what the shell held")
	pluginArgs(t, "--context", "default")
	// The leak check reads the image compose named (image: app) by the id
	// the engine gives it.
	clean := tarBytes(t, map[string]string{"manifest.json": `[{"Config":"cfg.json","Layers":["l1/layer.tar"]}]`, "cfg.json": `{}`,
		"l1/layer.tar": string(tarBytes(t, map[string]string{"app/ok": "fine"}))})
	archive := clean
	var saved []string
	api := &saveClient{
		imageInspectFunc: func(_ context.Context, ref string) (client.ImageInspectResult, error) {
			if ref != "app" {
				return client.ImageInspectResult{}, fmt.Errorf("no such image: %s: %w", ref, cerrdefs.ErrNotFound)
			}
			var r client.ImageInspectResult
			r.ID = "sha256:feed"
			return r, nil
		},
		imageSaveFunc: func(_ context.Context, refs []string) (client.ImageSaveResult, error) {
			saved = append(saved, refs...)
			return io.NopCloser(bytes.NewReader(archive)), nil
		},
	}
	res := runBuildCommand(t, api, "", nil, "--compose", "-f", compose, "-p", "proj", "--progress", "plain",
		"--build-arg", "A=b", "--no-cache", "--vault", "emulator", "app")
	assert.NilError(t, res.err, res.out)
	assert.Assert(t, is.Len(res.runner.calls, 1))
	inv := res.runner.calls[0].inv
	assert.DeepEqual(t, inv.Args, []string{"--context", "default", "compose", "-f", compose, "--project-name", "proj",
		"--progress", "plain", "build", "--build-arg", "DOCKER_VAULT_VERSIONS=npm_token=" + version,
		"--build-arg", "A=b", "--no-cache", "app"})
	v, _ := envValue(inv.Env, "NPM_TOKEN")
	assert.Check(t, v == buildSeed["npm-token"], "NPM_TOKEN does not hold the Key Vault value")
	n := 0
	for _, kv := range inv.Env {
		if strings.HasPrefix(kv, "NPM_TOKEN=") {
			n++
		}
	}
	assert.Check(t, is.Equal(n, 1), "NPM_TOKEN set %d times", n)
	assert.Check(t, is.DeepEqual(saved, []string{"sha256:feed"}))
	// The vault holds two versions of npm-token: the previous one is
	// searched too.
	assert.Check(t, is.Contains(res.out, "leak check: no value of 1 secret (current and 1 previous version) found in image app: 1 layer, "))

	// An image that holds the value fails the command.
	saved = nil
	archive = tarBytes(t, map[string]string{"manifest.json": `[{"Config":"cfg.json","Layers":["l1/layer.tar"]}]`, "cfg.json": `{}`,
		"l1/layer.tar": string(tarBytes(t, map[string]string{"leaked": buildSeed["npm-token"]}))})
	res = runBuildCommand(t, api, "", nil, "--compose", "-f", compose, "--vault", "emulator", "app")
	assert.Check(t, is.ErrorContains(res.err, "leak check failed: image app holds secret values:\n  secret npm_token (raw) found in l1/layer.tar: leaked\n"))
	// --no-leak-check: not read.
	saved = nil
	res = runBuildCommand(t, api, "", nil, "--compose", "-f", compose, "--vault", "emulator", "--no-leak-check", "app")
	assert.NilError(t, res.err)
	assert.Check(t, is.Len(saved, 0))
	// An image compose did not load is not checked, and the note says so.
	api.imageInspectFunc = func(_ context.Context, ref string) (client.ImageInspectResult, error) {
		return client.ImageInspectResult{}, fmt.Errorf("no such image: %s: %w", ref, cerrdefs.ErrNotFound)
	}
	res = runBuildCommand(t, api, "", nil, "--compose", "-f", compose, "--vault", "emulator", "app")
	assert.NilError(t, res.err)
	assert.Check(t, is.Len(saved, 0))
	assert.Check(t, is.Contains(res.out, "note: leak check of service app skipped: image app is not in the engine"))

	res = runBuildCommand(t, nil, "", nil, "--compose", "-f", compose, "nope")
	assert.Check(t, is.Error(res.err, "no such service: nope"))
	res = runBuildCommand(t, nil, "", nil, "--compose", "-f", compose, "other")
	assert.Check(t, is.ErrorContains(res.err, "no service to build uses a build secret with an `environment:` source"))
}

// assertNoValueIn checks that none of values, in any form, is in text.
func assertNoValueIn(t *testing.T, what, text string, values ...string) {
	t.Helper()
	for _, v := range values {
		for _, n := range redact.Needles(0, []byte(v)) {
			assert.Check(t, !strings.Contains(text, string(n.B)), "%s holds a value (%s)", what, n.Encoding)
		}
	}
}

// Every numeric flag is checked before anything is read or run.
func TestBuildValidatesNumericFlags(t *testing.T) {
	s := startBuildEmulator(t, kvtest.Options{})
	ctxDir := writeDockerfile(t, "FROM busybox\nRUN --mount=type=secret,id=token true\n")
	pluginArgs(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--vault-parallel", "0"}, "invalid --vault-parallel 0: must be 1 or more"},
		{[]string{"--vault-parallel=-3"}, "invalid --vault-parallel -3: must be 1 or more"},
		{[]string{"--leak-check-versions", "-1"}, "invalid --leak-check-versions -1: must be 0 or more"},
		{[]string{"--timeout", "0s"}, "invalid --timeout: must be more than 0"},
	} {
		for _, compose := range []bool{false, true} {
			args := append([]string{}, tc.args...)
			if compose {
				args = append(args, "--compose", "-f", filepath.Join(ctxDir, "missing-compose.yaml"))
			} else {
				args = append(args, ctxDir)
			}
			res := runBuildCommand(t, nil, "v0.38.2", nil, args...)
			assert.Check(t, is.Error(res.err, tc.want), "%q", args)
			assert.Check(t, is.Len(res.runner.calls, 0))
		}
	}
	assert.Check(t, is.Len(s.Counts(), 0), "the vault was asked before the flags were checked")

	// A value that is not a number is pflag's error, with docker's hint.
	res := runBuildCommand(t, nil, "v0.38.2", nil, "--leak-check-versions", "many", ctxDir)
	assert.Check(t, is.ErrorContains(res.err, `invalid argument "many" for "--leak-check-versions" flag`))
}

// What buildx prints passes through a filter that masks every value used,
// in every form, even split across writes; the command says which
// secret's value was printed.
func TestBuildMasksOutput(t *testing.T) {
	startBuildEmulator(t, kvtest.Options{})
	ctxDir := writeDockerfile(t, "FROM busybox\nRUN --mount=type=secret,id=token cat /run/secrets/token\n")
	pluginArgs(t)
	value := buildSeed["token"]
	runner := &recordingRunner{print: func(stdout, stderr io.Writer) {
		half := len(value) / 2
		fmt.Fprintf(stderr, "#6 [2/2] RUN cat /run/secrets/token\n#6 0.112 %s", value[:half])
		fmt.Fprintf(stderr, "%s\n#6 0.113 ", value[half:])
		fmt.Fprintf(stderr, "%s\n", base64.StdEncoding.EncodeToString([]byte("x"+value)))
		fmt.Fprintf(stderr, "#6 0.114 %s\n#6 DONE 0.2s\n", hex.EncodeToString([]byte(value)))
		fmt.Fprintf(stdout, "sha256:%s\n", strings.Repeat("ab", 32))
	}}
	res := runBuildCommand(t, nil, "v0.38.2", runner, "--no-leak-check", "--progress=plain", ctxDir)
	assert.NilError(t, res.err, res.out)
	assertNoValueIn(t, "the output", res.out, value)
	assert.Check(t, is.Contains(res.out, "#6 0.112 ***\n#6 0.113 eG***"))
	assert.Check(t, is.Contains(res.out, "#6 0.114 ***\n#6 DONE 0.2s\n"))
	assert.Check(t, is.Contains(res.out, "sha256:"+strings.Repeat("ab", 32)+"\n"), "text without values passes unchanged")
	assert.Check(t, is.Contains(res.out, "note: the build printed the value of token (masked above)"))
	assert.Check(t, res.runner.calls[0].maskedStdout)

	// A tarball on stdout passes as it is, and the command says so.
	runner.print = nil
	res = runBuildCommand(t, nil, "v0.38.2", runner, "-o", "-", ctxDir)
	assert.NilError(t, res.err, res.out)
	assert.Check(t, !res.runner.calls[len(res.runner.calls)-1].maskedStdout)
	assert.Check(t, is.Contains(res.out, "note: the build result goes to stdout as it is"))
}

// compose's output is masked the same way.
func TestBuildComposeMasksOutput(t *testing.T) {
	startBuildEmulator(t, kvtest.Options{})
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN --mount=type=secret,id=npm_token cat /run/secrets/npm_token\n"), 0o600))
	compose := filepath.Join(dir, "compose.yaml")
	assert.NilError(t, os.WriteFile(compose, []byte("services:\n  app:\n    image: app\n    build:\n      context: .\n      secrets: [npm_token]\nsecrets:\n  npm_token:\n    environment: NPM_TOKEN\n"), 0o600))
	pluginArgs(t)
	runner := &recordingRunner{print: func(stdout, stderr io.Writer) {
		fmt.Fprintf(stdout, "#5 0.2 %s\n", buildSeed["npm-token"])
		fmt.Fprintf(stderr, "#5 0.3 {\"v\":%q}\n", buildSeed["npm-token"])
	}}
	res := runBuildCommand(t, nil, "", runner, "--compose", "-f", compose, "--vault", "emulator", "--no-leak-check")
	assert.NilError(t, res.err, res.out)
	assert.Check(t, is.Contains(res.out, "#5 0.2 ***\n"))
	assert.Check(t, is.Contains(res.out, "#5 0.3 {\"v\":\"***\"}\n"))
	assert.Check(t, is.Contains(res.out, "note: the build printed the value of npm_token (masked above)"))
}

// leakRun runs a build whose image, as the engine saves it, is archive.
func leakRun(t *testing.T, archive []byte, args ...string) buildRun {
	t.Helper()
	api := &saveClient{imageSaveFunc: func(_ context.Context, _ []string) (client.ImageSaveResult, error) {
		return io.NopCloser(bytes.NewReader(archive)), nil
	}}
	runner := &recordingRunner{run: func(inv build.Invocation) error {
		for i, a := range inv.Args {
			if a == "--iidfile" {
				return os.WriteFile(inv.Args[i+1], []byte("sha256:0123abcd"), 0o600)
			}
		}
		return nil
	}}
	return runBuildCommand(t, api, "v0.38.2", runner, append([]string{"--load", "-t", "app:1"}, args...)...)
}

func savedImage(t *testing.T, config string, layer map[string]string) []byte {
	return tarBytes(t, map[string]string{
		"manifest.json": `[{"Config":"cfg.json","Layers":["l1/layer.tar"]}]`,
		"cfg.json":      config,
		"l1/layer.tar":  string(tarBytes(t, layer)),
	})
}

// After a rotation, a step served from cache holds the previous value:
// the leak check searches the previous versions too and names the one it
// found; a disabled one is named in a note.
func TestBuildLeakCheckPreviousVersions(t *testing.T) {
	s := startBuildEmulator(t, kvtest.Options{})
	old := []string{"build-unit-old-aaaa01", "build-unit-old-bbbb02", "build-unit-old-cccc03"}
	var versions []string
	for _, v := range old {
		versions = append(versions, s.SetSecret("token", v))
	}
	s.SetEnabled("token", false) // the last old one
	s.SetSecret("token", buildSeed["token"])
	ctxDir := writeDockerfile(t, "FROM busybox\nRUN --mount=type=secret,id=token true\n")
	pluginArgs(t)
	leaky := savedImage(t, `{}`, map[string]string{"app/token": old[1] + "\n"})

	s.ResetCounts()
	res := leakRun(t, leaky, ctxDir)
	assertNoValueIn(t, "the output", res.out, old...)
	assertNoValueIn(t, "the error", fmt.Sprint(res.err), old...)
	assert.Check(t, is.ErrorContains(res.err, "leak check failed: image app:1 holds secret values:\n  secret token (raw, previous version "+versions[1][:8]+") found in l1/layer.tar: app/token\n"))
	assert.Check(t, is.ErrorContains(res.err, "rebuild with --no-cache, and declare 'ARG DOCKER_VAULT_VERSIONS'"))
	assert.Check(t, is.Contains(res.out, "note: leak check: secret token: previous version "+versions[2][:8]+" is disabled, so its value is not searched"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListVersions), 1))
	// The current value, the seeded one and two old ones: never the
	// disabled one.
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 4))

	// --leak-check-versions 1: one previous version at most. (The
	// emulator's versions were all created within a second, as Key Vault
	// times them, so which one is the most recent is the version ids' call.)
	clean := savedImage(t, `{}`, map[string]string{"app/ok": "fine"})
	s.ResetCounts()
	res = leakRun(t, clean, "--leak-check-versions", "1", ctxDir)
	assert.NilError(t, res.err, res.out)
	assert.Check(t, s.Count(kvtest.RouteGetSecret) <= 2, "more than one previous version read")
	assert.Check(t, strings.Contains(res.out, "(current version only)") != strings.Contains(res.out, "(current and 1 previous version)"), res.out)
	res = leakRun(t, clean, ctxDir)
	assert.NilError(t, res.err, res.out)
	// The seeded value and the two enabled old ones.
	assert.Check(t, is.Contains(res.out, "leak check: no value of 1 secret (current and 3 previous versions) found in image app:1: 1 layer, "))

	// 0: the current value only, and no listing.
	s.ResetCounts()
	res = leakRun(t, leaky, "--leak-check-versions", "0", ctxDir)
	assert.NilError(t, res.err, res.out)
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListVersions), 0))
	assert.Check(t, is.Contains(res.out, "(current version only)"))
}

// A value with <&> reaches the config through ENV, JSON-escaped: found.
func TestBuildLeakCheckJSONEscaped(t *testing.T) {
	s := startBuildEmulator(t, kvtest.Options{})
	value := `build-unit-<&>"-9c1e`
	s.SetSecret("token", value)
	ctxDir := writeDockerfile(t, "FROM busybox\nARG T\nRUN --mount=type=secret,id=token true\nENV COPY=$T\n")
	pluginArgs(t)
	cfg, err := json.Marshal(map[string]any{"config": map[string]any{"Env": []string{"COPY=" + value}}})
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(cfg), value), "the config holds the value raw")
	res := leakRun(t, savedImage(t, string(cfg), map[string]string{"ok": "fine"}), ctxDir)
	assert.Check(t, is.ErrorContains(res.err, "  secret token (JSON-escaped) found in cfg.json\n"))
	assertNoValueIn(t, "the output", res.out+fmt.Sprint(res.err), value)
}

// An image the engine cannot save whole fails the command in one line,
// never passes as clean.
func TestBuildLeakCheckUnreadableImage(t *testing.T) {
	startBuildEmulator(t, kvtest.Options{})
	ctxDir := writeDockerfile(t, "FROM busybox\nRUN --mount=type=secret,id=token true\n")
	pluginArgs(t)
	whole := savedImage(t, `{}`, map[string]string{"big": strings.Repeat("z", 40<<10)})
	for _, archive := range [][]byte{whole[:len(whole)/2], nil} {
		res := leakRun(t, archive, ctxDir)
		assert.Check(t, is.ErrorContains(res.err, "leak check failed: image app:1 was not searched to its end, so it may hold a value: the image could not be read: "))
		assert.Check(t, res.err != nil && !strings.Contains(res.err.Error(), "\n"), "more than one line: %v", res.err)
		assert.Check(t, !strings.Contains(res.out, "no value of"))
	}
}

// A value shorter than 4 bytes is named in a note, never searched or
// masked.
func TestBuildShortValue(t *testing.T) {
	s := startBuildEmulator(t, kvtest.Options{})
	s.SetSecret("pin", "42")
	ctxDir := writeDockerfile(t, "FROM busybox\nRUN --mount=type=secret,id=pin true\n")
	pluginArgs(t)
	res := leakRun(t, savedImage(t, `{}`, map[string]string{"ok": "fine"}), ctxDir)
	assert.NilError(t, res.err, res.out)
	assert.Check(t, is.Contains(res.out, "note: secret pin: the value is shorter than 4 bytes: too short to be masked in the output or searched for in the image\n"))
	assert.Check(t, is.Contains(res.out, "note: leak check of app:1 skipped: every value is shorter than 4 bytes\n"))
}

// The child's exit code is the command's, for buildx and compose alike.
func TestBuildChildExitCode(t *testing.T) {
	startBuildEmulator(t, kvtest.Options{})
	ctxDir := writeDockerfile(t, "FROM busybox\nRUN --mount=type=secret,id=token true\n")
	compose := filepath.Join(ctxDir, "compose.yaml")
	assert.NilError(t, os.WriteFile(compose, []byte("services:\n  app:\n    build:\n      context: .\n      secrets: [token]\nsecrets:\n  token:\n    environment: TOKEN\n"), 0o600))
	pluginArgs(t)
	failing := func() *recordingRunner {
		return &recordingRunner{run: func(inv build.Invocation) error {
			name := "docker buildx build"
			if slices.Contains(inv.Args, "compose") {
				name = "docker compose build"
			}
			return &runner.ExitError{Name: name, Code: 17}
		}}
	}
	res := runBuildCommand(t, nil, "v0.38.2", failing(), "--no-leak-check", ctxDir)
	assert.Check(t, is.DeepEqual(res.err, cli.StatusError{StatusCode: 17, Status: "docker buildx build failed"}))
	res = runBuildCommand(t, nil, "", failing(), "--compose", "-f", compose, "--vault", "emulator", "--no-leak-check")
	assert.Check(t, is.DeepEqual(res.err, cli.StatusError{StatusCode: 17, Status: "docker compose build failed"}))
}
