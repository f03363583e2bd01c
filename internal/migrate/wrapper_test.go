package migrate

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/imageinfo"
)

// imagesWith is fakeImages with ref replaced by img.
func imagesWith(ref string, img imageinfo.Image) map[string]*imageinfo.Image {
	out := maps.Clone(fakeImages)
	out[ref] = &img
	return out
}

// migrateWrapping plans the project in dir with the images, writes the plan
// and returns it.
func migrateWrapping(t *testing.T, dir string, images map[string]*imageinfo.Image) *Plan {
	t.Helper()
	_, _, plan := planImages(t, dir, compose.LoadOptions{}, fakeReader(images))
	assert.NilError(t, Write(plan.Files, WriteOptions{}))
	return plan
}

func readCompose(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	assert.NilError(t, err)
	return string(b)
}

func appendCompose(t *testing.T, dir, old, new string) {
	t.Helper()
	s := readCompose(t, dir)
	assert.Assert(t, strings.Contains(s, old))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(strings.Replace(s, old, new, 1)), 0o644))
}

const apiProject = `services:
  api:
    image: myorg/api:1
    environment:
      API_TOKEN: tok_9fK2mQ7xLp4RzW8vN3bY
      LOG_LEVEL: info
`

// TestWrapperExtended: a second migrate that finds a new variable in a
// wrapped service extends its wrapper: one wrapper, both variables, the
// image's entrypoint wrapped once.
func TestWrapperExtended(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": apiProject})
	migrateWrapping(t, dir, fakeImages)
	appendCompose(t, dir, "      LOG_LEVEL: info\n", "      LOG_LEVEL: info\n      NEW_PASSWORD: New-Pass-Added-Later-5k\n")

	plan := migrateWrapping(t, dir, fakeImages)
	assert.Check(t, is.Equal(plan.Counts()[Migrated], 1))
	assert.Check(t, is.Len(plan.Stale, 0))
	p, _ := load(t, dir, compose.LoadOptions{})
	svc := p.Compose.Services["api"]
	want := []string{"/bin/sh", "-c", WrapperScript(map[string]string{"API_TOKEN": "api_token", "NEW_PASSWORD": "new_password"}), "sh", "/docker-entrypoint.sh"}
	assert.Check(t, is.DeepEqual([]string(svc.Entrypoint), want))
	assert.Check(t, is.DeepEqual([]string(svc.Command), []string{"run", "--port", "8080"}))
	assert.Check(t, is.Equal(strings.Count(readCompose(t, dir), "\n    entrypoint: "), 1))
	assert.Check(t, !strings.Contains(readCompose(t, dir), "New-Pass-Added-Later-5k"))

	again := migrateWrapping(t, dir, fakeImages)
	assert.Check(t, !again.Changed())
}

// TestWrapperStale: when the image's ID, entrypoint or cmd change, the
// wrapper is stale: the plan says so and refreshes it; once written, the
// next plan changes nothing.
func TestWrapperStale(t *testing.T) {
	for _, tc := range []struct {
		name string
		img  imageinfo.Image
	}{
		{"image ID", imageinfo.Image{ID: "sha256:new", Shell: true, Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"run", "--port", "8080"}}},
		{"entrypoint", imageinfo.Image{ID: "sha256:new", Shell: true, Entrypoint: []string{"/new-entry.sh", "$x"}, Cmd: []string{"run", "--port", "8080"}}},
		{"cmd", imageinfo.Image{ID: "sha256:new", Shell: true, Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"serve"}}},
		{"no cmd", imageinfo.Image{ID: "sha256:new", Shell: true, Entrypoint: []string{"/docker-entrypoint.sh"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeProject(t, map[string]string{"compose.yaml": apiProject})
			migrateWrapping(t, dir, fakeImages)
			images := imagesWith("myorg/api:1", tc.img)
			_, _, check := planImages(t, dir, compose.LoadOptions{}, fakeReader(images))
			assert.Check(t, is.DeepEqual(check.Stale, []string{"api"}))
			assert.Check(t, check.Changed())

			plan := migrateWrapping(t, dir, images)
			assert.Check(t, is.DeepEqual(plan.Stale, []string{"api"}))
			p, _ := load(t, dir, compose.LoadOptions{})
			svc := p.Compose.Services["api"]
			assert.Check(t, is.DeepEqual([]string(svc.Entrypoint[4:]), tc.img.Entrypoint))
			assert.Check(t, slices.Equal(svc.Command, tc.img.Cmd), "command %q", svc.Command)
			assert.Check(t, is.Equal(svc.Entrypoint[2], WrapperScript(map[string]string{"API_TOKEN": "api_token"})))
			assert.Check(t, is.Equal(annotation(svc).Image, tc.img.ID))

			again := migrateWrapping(t, dir, images)
			assert.Check(t, !again.Changed(), "%s", readCompose(t, dir))
			assert.Check(t, is.Len(again.Stale, 0))
		})
	}
}

// TestWrapperStaleOwnEntrypoint: a wrapper around the service's own
// entrypoint keeps it when the image changes; only the ID is refreshed.
func TestWrapperStaleOwnEntrypoint(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": `services:
  api:
    image: myorg/api:1
    entrypoint: ["/own.sh", "--x"]
    environment:
      API_TOKEN: tok_9fK2mQ7xLp4RzW8vN3bY
`})
	migrateWrapping(t, dir, fakeImages)
	images := imagesWith("myorg/api:1", imageinfo.Image{ID: "sha256:new", Shell: true, Entrypoint: []string{"/other.sh"}, Cmd: []string{"x"}})
	plan := migrateWrapping(t, dir, images)
	assert.Check(t, is.DeepEqual(plan.Stale, []string{"api"}))
	p, _ := load(t, dir, compose.LoadOptions{})
	svc := p.Compose.Services["api"]
	assert.Check(t, is.DeepEqual([]string(svc.Entrypoint[4:]), []string{"/own.sh", "--x"}))
	assert.Check(t, svc.Command == nil, "command %q", svc.Command)
	assert.Check(t, is.Equal(annotation(svc).Image, "sha256:new"))
	assert.Check(t, !migrateWrapping(t, dir, images).Changed())
}

// TestWrapperEditedByHand: a service whose entrypoint: the user replaced
// after migrate is wrapped again around the new one, with the variables
// its annotation records; a command: the user set is kept.
func TestWrapperEditedByHand(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": apiProject})
	migrateWrapping(t, dir, fakeImages)
	s := readCompose(t, dir)
	start := strings.Index(s, "    entrypoint: ")
	end := start + strings.Index(s[start:], "\n")
	s = s[:start] + `    entrypoint: ["/mine.sh"]` + s[end:]
	s = strings.Replace(s, `    command: ["run", "--port", "8080"]`, `    command: ["mine"]`, 1)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(s), 0o644))

	plan := migrateWrapping(t, dir, fakeImages)
	assert.Check(t, is.DeepEqual(plan.Stale, []string{"api"}))
	p, _ := load(t, dir, compose.LoadOptions{})
	svc := p.Compose.Services["api"]
	assert.Check(t, is.DeepEqual([]string(svc.Entrypoint), []string{"/bin/sh", "-c", WrapperScript(map[string]string{"API_TOKEN": "api_token"}), "sh", "/mine.sh"}))
	assert.Check(t, is.DeepEqual([]string(svc.Command), []string{"mine"}))
	w := annotation(svc)
	assert.Check(t, w.FromService)
	assert.Check(t, w.Command == nil)
	assert.Check(t, !migrateWrapping(t, dir, fakeImages).Changed())
}

// TestWrapperRefused: what cannot be wrapped is reported with the reason,
// and nothing of it is edited.
func TestWrapperRefused(t *testing.T) {
	for _, tc := range []struct {
		name, compose, reason string
		files                 map[string]string
	}{
		{
			name: "env file shared with a service that is not wrapped",
			compose: `services:
  api:
    image: myorg/api:1
    env_file: common.env
  nosh:
    image: myorg/distroless:1
    env_file: common.env
`,
			files:  map[string]string{"common.env": "COMMON_TOKEN=common-tok-8Jd2kQ9z\n"},
			reason: "is also read from",
		},
		{
			name: "anchored entry shared with an image without /bin/sh",
			compose: `x-env: &env
  COMMON_TOKEN: common-tok-8Jd2kQ9z
services:
  api:
    image: myorg/api:1
    environment: *env
  nosh:
    image: myorg/distroless:1
    environment: *env
`,
			reason: "shared with service nosh",
		},
		{
			name: "env file shared with a service of an inactive profile",
			compose: `services:
  api:
    image: myorg/api:1
    env_file: common.env
  debug:
    image: myorg/api:1
    profiles: [debug]
    env_file: common.env
`,
			files:  map[string]string{"common.env": "COMMON_TOKEN=common-tok-8Jd2kQ9z\n"},
			reason: "whose profile is not active",
		},
		{
			name: "service with an x-vault of its own",
			compose: `services:
  api:
    image: myorg/api:1
    x-vault: {team: payments}
    environment:
      COMMON_TOKEN: common-tok-8Jd2kQ9z
`,
			reason: "has an x-vault of its own",
		},
		{
			name: "service defined through an alias",
			compose: `services:
  api: &api
    image: myorg/api:1
    environment:
      COMMON_TOKEN: common-tok-8Jd2kQ9z
  copy: *api
`,
			reason: "not rewritten",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"compose.yaml": tc.compose}
			maps.Copy(files, tc.files)
			dir := writeProject(t, files)
			_, _, plan := planImages(t, dir, compose.LoadOptions{}, fakeReader(fakeImages))
			assert.Check(t, is.Equal(plan.Counts()[Migrated], 0), itemTable(plan, dir))
			assert.Check(t, plan.Counts()[Reported] > 0, itemTable(plan, dir))
			assert.Check(t, !plan.Changed(), itemTable(plan, dir))
			for _, it := range plan.Items {
				if it.Action == Reported && it.Service == "api" {
					assert.Check(t, is.Contains(it.Reason, tc.reason))
					assert.Check(t, !strings.Contains(it.Reason, "common-tok-8Jd2kQ9z"))
					assert.Check(t, is.Equal(it.Via, ""))
				}
			}
		})
	}
}

// TestWrapperItemsSayHowTheyMoved: Item.Via is file-variable or
// entrypoint for migrated items, "" for reported ones.
func TestWrapperItemsSayHowTheyMoved(t *testing.T) {
	dir := t.TempDir()
	copyProject(t, "wrap-shared", dir)
	_, _, plan := planImages(t, dir, compose.LoadOptions{}, fakeReader(fakeImages))
	got := map[string]string{}
	for _, it := range plan.Items {
		if it.Action != Skipped {
			got[it.Service+"."+it.Variable] = it.Via
		}
	}
	assert.Check(t, is.DeepEqual(got, map[string]string{
		"db.POSTGRES_PASSWORD":          "file-variable",
		"app.DB_PASSWORD":               "entrypoint",
		"worker.DB_PASSWORD":            "entrypoint",
		"filereader.SHARED_DB_PASSWORD": "file-variable",
		"plain.SHARED_DB_PASSWORD":      "entrypoint",
		"envone.ENVFILE_TOKEN":          "entrypoint",
		"envtwo.ENVFILE_TOKEN":          "entrypoint",
	}))
}

// TestWrapperOverrideFile: with -f base -f override, the wrapper goes in
// the last file that defines the service, whose entrypoint: wins; the
// variable goes from the base.
func TestWrapperOverrideFile(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"base.yaml": `services:
  api:
    image: myorg/api:1
    environment:
      API_TOKEN: tok_9fK2mQ7xLp4RzW8vN3bY
`,
		"override.yaml": `services:
  api:
    entrypoint:
      - /override.sh
`,
	})
	lo := compose.LoadOptions{Files: []string{"base.yaml", "override.yaml"}}
	_, _, plan := planImages(t, dir, lo, fakeReader(fakeImages))
	assert.Check(t, is.Equal(plan.Counts()[Migrated], 1), itemTable(plan, dir))
	assert.NilError(t, Write(plan.Files, WriteOptions{}))
	p, _ := load(t, dir, lo)
	svc := p.Compose.Services["api"]
	assert.Check(t, is.DeepEqual([]string(svc.Entrypoint), []string{"/bin/sh", "-c", WrapperScript(map[string]string{"API_TOKEN": "api_token"}), "sh", "/override.sh"}))
	assert.Check(t, svc.Command == nil)
	b, err := os.ReadFile(filepath.Join(dir, "override.yaml"))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(b), "x-vault: {wrapper:"))
	_, _, again := planImages(t, dir, lo, fakeReader(fakeImages))
	assert.Check(t, !again.Changed())
}

// TestWrapperIncludedService: a service of an included file is wrapped in
// that file, which declares its secret.
func TestWrapperIncludedService(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": "include:\n  - sub/compose.yaml\nservices:\n  web:\n    image: myorg/cmdonly:3\n",
		"sub/compose.yaml": `services:
  api:
    image: myorg/api:1
    environment:
      API_TOKEN: tok_9fK2mQ7xLp4RzW8vN3bY
`,
	})
	_, _, plan := planImages(t, dir, compose.LoadOptions{}, fakeReader(fakeImages))
	assert.Check(t, is.Equal(plan.Counts()[Migrated], 1), itemTable(plan, dir))
	assert.NilError(t, Write(plan.Files, WriteOptions{}))
	p, _ := load(t, dir, compose.LoadOptions{})
	svc := p.Compose.Services["api"]
	assert.Check(t, is.DeepEqual([]string(svc.Entrypoint), []string{"/bin/sh", "-c", WrapperScript(map[string]string{"API_TOKEN": "api_token"}), "sh", "/docker-entrypoint.sh"}))
	b, err := os.ReadFile(filepath.Join(dir, "sub", "compose.yaml"))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(b), "x-vault: {wrapper:"))
	assert.Check(t, !strings.Contains(string(b), "tok_9fK2mQ7xLp4RzW8vN3bY"))
	_, _, again := planImages(t, dir, compose.LoadOptions{}, fakeReader(fakeImages))
	assert.Check(t, !again.Changed())
}

// TestWrapperImageLostShell: a wrapped service whose image no longer has
// /bin/sh is stale and warned about; the wrapper is left as it is.
func TestWrapperImageLostShell(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": apiProject})
	migrateWrapping(t, dir, fakeImages)
	images := imagesWith("myorg/api:1", imageinfo.Image{ID: "sha256:new", Entrypoint: []string{"/app"}})
	_, _, plan := planImages(t, dir, compose.LoadOptions{}, fakeReader(images))
	assert.Check(t, is.DeepEqual(plan.Stale, []string{"api"}))
	assert.Check(t, is.Len(plan.Warnings, 1))
	assert.Check(t, is.Contains(plan.Warnings[0], "no longer has"))
	assert.Check(t, !plan.Changed())
}

// TestWrapperToExternal: --to external wraps the same way; the secret is
// external, pushed, and no file is written for it.
func TestWrapperToExternal(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": apiProject})
	reader := fakeReader(fakeImages)
	p, r := loadImages(t, dir, compose.LoadOptions{}, reader)
	plan, err := Make(context.Background(), p, r, Options{To: ToExternal, Images: reader})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(plan.Counts()[Migrated], 1))
	assert.Assert(t, is.Len(plan.Pushes, 1))
	assert.Check(t, is.Equal(plan.Pushes[0].Secret, "api_token"))
	assert.Check(t, string(plan.Pushes[0].Value) == "tok_9fK2mQ7xLp4RzW8vN3bY", "the push does not hold the value")
	for _, f := range plan.Files {
		assert.Check(t, f.Kind != "secret", "%s", f.Path)
		if f.Kind == "compose" {
			assert.Check(t, is.Contains(string(f.New), "external: true"))
			assert.Check(t, is.Contains(string(f.New), "cat /run/secrets/api_token"))
		}
	}
}

// TestParseWrapperScript reads back what WrapperScript writes, and nothing
// else.
func TestParseWrapperScript(t *testing.T) {
	vars := map[string]string{"A": "a_secret", "B_TOKEN": "b.token-1"}
	got, ok := parseWrapperScript(WrapperScript(vars))
	assert.Check(t, ok)
	assert.Check(t, is.DeepEqual(got, vars))
	got, ok = parseWrapperScript(WrapperScript(nil))
	assert.Check(t, ok)
	assert.Check(t, is.Len(got, 0))
	for _, s := range []string{
		"", `exec "$@"`, "set -e; exec app",
		`set -e; A=$(cat /run/secrets/a && printf x); B=${A%x}; export A; exec "$@"`,
		strings.Replace(WrapperScript(vars), `exec "$@"`, `exec "$@"; rm -rf /`, 1),
	} {
		_, ok := parseWrapperScript(s)
		assert.Check(t, !ok, s)
	}
}

// TestWrapperAnnotationLost: a wrapper whose x-vault annotation was
// deleted is recognised by its script: a new variable extends it, never
// wraps it twice.
func TestWrapperAnnotationLost(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": apiProject})
	migrateWrapping(t, dir, fakeImages)
	s := readCompose(t, dir)
	start := strings.Index(s, "    x-vault: ")
	end := start + strings.Index(s[start:], "\n") + 1
	s = s[:start] + s[end:]
	s = strings.Replace(s, "      LOG_LEVEL: info\n", "      LOG_LEVEL: info\n      NEW_PASSWORD: New-Pass-Added-Later-5k\n", 1)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(s), 0o644))

	plan := migrateWrapping(t, dir, fakeImages)
	assert.Check(t, is.Equal(plan.Counts()[Migrated], 1))
	p, _ := load(t, dir, compose.LoadOptions{})
	svc := p.Compose.Services["api"]
	want := []string{"/bin/sh", "-c", WrapperScript(map[string]string{"API_TOKEN": "api_token", "NEW_PASSWORD": "new_password"}), "sh", "/docker-entrypoint.sh"}
	assert.Check(t, is.DeepEqual([]string(svc.Entrypoint), want))
	assert.Check(t, is.DeepEqual([]string(svc.Command), []string{"run", "--port", "8080"}))
	assert.Check(t, annotation(svc) != nil)
	assert.Check(t, !migrateWrapping(t, dir, fakeImages).Changed())
}

// TestWrapperNothingToStart: an image with neither entrypoint nor cmd, in a
// service without command:, has nothing for the wrapper to exec: wrapping
// it would make a container that exits 0 at once, so the variable is
// reported. A command: of the service's own is something to start.
func TestWrapperNothingToStart(t *testing.T) {
	const project = `services:
  api:
    image: myorg/empty:1
    environment:
      API_TOKEN: tok_9fK2mQ7xLp4RzW8vN3bY
`
	images := imagesWith("myorg/empty:1", imageinfo.Image{ID: "sha256:" + strings.Repeat("e", 64), Shell: true})
	dir := writeProject(t, map[string]string{"compose.yaml": project})
	_, _, plan := planImages(t, dir, compose.LoadOptions{}, fakeReader(images))
	assert.Check(t, is.Equal(plan.Counts()[Migrated], 0), itemTable(plan, dir))
	assert.Check(t, !plan.Changed(), itemTable(plan, dir))
	assert.Assert(t, is.Len(plan.Items, 1))
	assert.Check(t, is.Contains(plan.Items[0].Reason, "names a program to start"))

	dir = writeProject(t, map[string]string{"compose.yaml": strings.Replace(project, "    environment:", "    command: [\"/app\"]\n    environment:", 1)})
	_, _, plan = planImages(t, dir, compose.LoadOptions{}, fakeReader(images))
	assert.Check(t, is.Equal(plan.Counts()[Migrated], 1), itemTable(plan, dir))
}
