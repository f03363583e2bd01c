package migrate

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/imageinfo"
)

// fakeImages are the images of the wrapper cases, as the engine would
// describe them.
var fakeImages = map[string]*imageinfo.Image{
	"myorg/api:1": {ID: "sha256:a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", Shell: true,
		Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"run", "--port", "8080"}},
	"myorg/shellform:2": {ID: "sha256:b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2", Shell: true,
		Entrypoint: []string{"/bin/sh", "-c", `exec /app --name="$HOSTNAME" "$@"`}, Cmd: []string{"serve"}},
	"myorg/cmdonly:3": {ID: "sha256:c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3", Shell: true,
		Cmd: []string{"/app", "--serve"}},
	"myorg/distroless:1": {ID: "sha256:d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4",
		Entrypoint: []string{"/app"}},
	"myorg/fileenv:1": {ID: "sha256:e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5", Shell: true,
		Entrypoint: []string{"/fileenv.sh"}, Cmd: []string{"serve"},
		Files: imageinfo.Conventions{Vars: map[string]string{"SHARED_DB_PASSWORD": "SHARED_DB_PASSWORD_FILE"}}},
	"postgres:16": {ID: "sha256:f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6", Shell: true,
		Entrypoint: []string{"docker-entrypoint.sh"}, Cmd: []string{"postgres"},
		Files: imageinfo.Conventions{Vars: map[string]string{"POSTGRES_PASSWORD": "POSTGRES_PASSWORD_FILE"}}},
}

// fakeReader reads images from a table; an image not in it is not in the
// engine.
func fakeReader(images map[string]*imageinfo.Image) imageinfo.Reader {
	return imageinfo.ReaderFunc(func(_ context.Context, ref string, _ imageinfo.ReadOptions) (*imageinfo.Image, error) {
		img, ok := images[ref]
		if !ok {
			return nil, errors.New("no such image: " + ref)
		}
		c := *img
		c.Ref = ref
		return &c, nil
	})
}

// wrapCases are golden cases (testdata/NAME, as goldenCases) whose images
// are read, so that variables the images cannot read from a file are
// moved through the entrypoint wrapper.
var wrapCases = []struct {
	name string
	load compose.LoadOptions
}{
	// Exec-form and shell-form entrypoints (the image's, the service's
	// own), an image with only a CMD, a service with its own command:,
	// several variables in one service (one from .env), a whole URL, an
	// image without /bin/sh.
	{name: "wrap-entrypoints"},
	// Values with newlines, trailing newlines, quotes, $, backslashes,
	// spaces and a PEM key.
	{name: "wrap-values"},
	// One value in a postgres service (file variable) and two wrapped
	// ones: one secret; an anchored entry shared by an image that reads
	// VAR_FILE and one that does not; an env file two wrapped services read.
	{name: "wrap-shared"},
	// Copies of one value: under another name from .env, as a literal,
	// and read from a file by postgres: one secret, the .env line gone.
	{name: "wrap-copies"},
	// A service behind a profile, loaded with every profile.
	{name: "wrap-profiles", load: compose.LoadOptions{Profiles: []string{"*"}}},
}

// loadImages is load with the services' images read through r.
func loadImages(t testing.TB, dir string, lo compose.LoadOptions, r imageinfo.Reader) (*compose.Project, *compose.Report) {
	t.Helper()
	lo.WorkingDir = dir
	if lo.Environ == nil {
		lo.Environ = []string{}
	}
	p, err := compose.Load(context.Background(), lo)
	assert.NilError(t, err)
	rep, err := compose.Detect(p, compose.DetectOptions{Images: ReadImages(context.Background(), r, p.Compose)})
	assert.NilError(t, err)
	return p, rep
}

func planImages(t testing.TB, dir string, lo compose.LoadOptions, r imageinfo.Reader) (*compose.Project, *compose.Report, *Plan) {
	t.Helper()
	p, rep := loadImages(t, dir, lo, r)
	plan, err := Make(context.Background(), p, rep, Options{Images: r})
	assert.NilError(t, err)
	return p, rep, plan
}

func TestGoldenWrapper(t *testing.T) {
	reader := fakeReader(fakeImages)
	for _, tc := range wrapCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyProject(t, tc.name, dir)
			p, r, plan := planImages(t, dir, tc.load, reader)
			values := secretValues(r)
			assert.Assert(t, len(values) > 0, "the case has no secret")

			after := assertGoldenRun(t, tc.name, dir, p, r, plan)
			for _, rel := range sortedKeys(after) {
				if filepath.Dir(rel) != "secrets" {
					assertNoValueIn(t, string(after[rel]), valueLines(migratedValues(r, plan)), rel)
				}
			}

			checkWrapped(t, dir, tc.load, p, r, plan)

			// A second run changes nothing and migrates nothing.
			_, _, again := planImages(t, dir, tc.load, reader)
			assert.Check(t, !again.Changed(), "second run: %s", itemTable(again, dir))
			assert.Check(t, is.Equal(again.Counts()[Migrated], 0))
			assert.Check(t, is.Len(again.Stale, 0))
		})
	}
}

// migratedValues are the values of the migrated findings: the ones that
// must be gone from every file but the secret files.
func migratedValues(r *compose.Report, plan *Plan) []string {
	var out []string
	for i, it := range plan.Items {
		if it.Action == Migrated && len(r.Findings[i].Value) >= 4 {
			out = append(out, string(r.Findings[i].Value))
		}
	}
	return out
}

// checkWrapped loads the rewritten project in dir and checks every item
// moved through the wrapper: the variable is gone from the environment,
// the service lists the secret, whose file holds the old value; the
// service's entrypoint is the wrapper of its variables around the
// entrypoint it ran before, with the command it ran before; and running
// the loaded script with the host's sh (the secret files in place of
// /run/secrets) gives the wrapped command each value byte for byte.
func checkWrapped(t *testing.T, dir string, lo compose.LoadOptions, before *compose.Project, r *compose.Report, plan *Plan) {
	t.Helper()
	after, _ := load(t, dir, lo)
	vars := map[string]map[string]string{}
	for i, it := range plan.Items {
		if it.Via != string(compose.ViaEntrypoint) {
			continue
		}
		assert.Check(t, is.Equal(it.Action, Migrated))
		svc := after.Compose.Services[it.Service]
		_, still := svc.Environment[it.Variable]
		assert.Check(t, !still, "%s.%s is still set", it.Service, it.Variable)
		assert.Check(t, slices.ContainsFunc(svc.Secrets, func(s types.ServiceSecretConfig) bool { return s.Source == it.Secret }), "%s does not list %s", it.Service, it.Secret)
		sec, ok := after.Compose.Secrets[it.Secret]
		assert.Assert(t, ok, "secret %s is not declared", it.Secret)
		b, err := os.ReadFile(sec.File)
		assert.NilError(t, err)
		assert.Check(t, string(b) == string(r.Findings[i].Value), "%s.%s: the secret file does not hold the value", it.Service, it.Variable)
		if vars[it.Service] == nil {
			vars[it.Service] = map[string]string{}
		}
		vars[it.Service][it.Variable] = string(r.Findings[i].Value)
	}
	for name, values := range vars {
		old, svc := before.Compose.Services[name], after.Compose.Services[name]
		img := fakeImages[old.Image]
		words, cmd := old.Entrypoint, old.Command
		if words == nil {
			words = img.Entrypoint
			if cmd == nil {
				cmd = img.Cmd
			}
		}
		assert.Assert(t, len(svc.Entrypoint) >= 4, name)
		assert.Check(t, is.DeepEqual([]string(svc.Entrypoint[:2]), []string{"/bin/sh", "-c"}), name)
		assert.Check(t, is.Equal(svc.Entrypoint[3], "sh"), name)
		assert.Check(t, slices.Equal(svc.Entrypoint[4:], words), "%s: wraps %q, want %q", name, svc.Entrypoint[4:], words)
		assert.Check(t, slices.Equal(svc.Command, cmd), "%s: command %q, want %q", name, svc.Command, cmd)
		w := annotation(svc)
		assert.Assert(t, w != nil, "%s has no annotation", name)
		assert.Check(t, is.Equal(svc.Entrypoint[2], WrapperScript(w.Variables)), name)
		assert.Check(t, is.Equal(w.Image, img.ID), name)

		// Run what compose would run, the secrets read from the files.
		secrets := filepath.Join(dir, "secrets") + "/"
		script := strings.ReplaceAll(svc.Entrypoint[2], "/run/secrets/", secrets)
		out, err := exec.Command("/bin/sh", "-c", script, "sh", "env", "-0").Output()
		assert.NilError(t, err, name)
		env := map[string]string{}
		for _, kv := range strings.Split(string(out), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		for v, want := range values {
			assert.Check(t, env[v] == want, "%s.%s: the wrapper exports another value", name, v)
		}
	}
}

// TestWrapperBatchedMatchesUnbatched: the wrapper cases give the same files
// whether the plan starts with batches (the wrapped findings are made
// after them, alone) or not.
func TestWrapperBatchedMatchesUnbatched(t *testing.T) {
	reader := fakeReader(fakeImages)
	for _, tc := range wrapCases {
		dir := t.TempDir()
		copyProject(t, tc.name, dir)
		p, r := loadImages(t, dir, tc.load, reader)
		opts := Options{To: ToFile, SecretsDir: "secrets", Images: reader}
		fast, err := makePlan(p, r, opts, true)
		assert.NilError(t, err, tc.name)
		slow, err := makePlan(p, r, opts, false)
		assert.NilError(t, err, tc.name)
		assert.Check(t, is.Equal(itemTable(fast, dir), itemTable(slow, dir)), tc.name)
		assert.Assert(t, is.Equal(len(fast.Files), len(slow.Files)), tc.name)
		for i := range fast.Files {
			assert.Check(t, is.Equal(string(fast.Files[i].New), string(slow.Files[i].New)), "%s: %s", tc.name, fast.Files[i].Path)
		}
	}
}
