package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// uniqueValue is a secret value no earlier run, cache or image holds, short
// enough (under 30 bytes) that `xxd -p` writes its hex on one line.
func uniqueValue(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	_, err := rand.Read(b)
	assert.NilError(t, err)
	return prefix + hex.EncodeToString(b)
}

func digest(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// randSeed makes the emulator's version ids differ from run to run: the
// versions build arg keys the cache, and a version id an earlier run used
// would find that run's cached steps.
func randSeed() string { return "--rand-seed=" + strconv.FormatInt(time.Now().UnixNano(), 10) }

// testImage names an image for this test and removes it when the test ends.
func testImage(t *testing.T, name string) string {
	t.Helper()
	ref := fmt.Sprintf("docker-vault-e2e/%s:%d", name, os.Getpid())
	t.Cleanup(func() { docker(t, nil, "image", "rm", "-f", ref) })
	return ref
}

// keepImageID removes, when the test ends, the image ref names now: a
// rebuild under the same tag leaves the previous image untagged.
func keepImageID(t *testing.T, ref string) {
	t.Helper()
	res := docker(t, nil, "image", "inspect", "--format", "{{.Id}}", ref)
	res.Assert(t, icmd.Success)
	id := strings.TrimSpace(res.Stdout())
	t.Cleanup(func() { docker(t, nil, "image", "rm", "-f", id) })
}

// buildDir writes files into a new build context.
func buildDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	return dir
}

// encodings are the forms of a value the tests look for: what the leak
// check searches, so a test can tell the check is right.
func encodings(value string) map[string]string {
	return map[string]string{
		"raw":    value,
		"base64": strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(value)), "="),
		"hex":    hex.EncodeToString([]byte(value)),
	}
}

// assertNotInText checks that none of the value's forms is in text.
func assertNotInText(t *testing.T, what, text, value string) {
	t.Helper()
	for enc, v := range encodings(value) {
		assert.Check(t, !strings.Contains(text, v), "%s holds the value (%s)", what, enc)
	}
}

// assertNotInTree checks that no file under dir holds the value in any form.
func assertNotInTree(t *testing.T, dir, value string) {
	t.Helper()
	forms := encodings(value)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil // gone or unreadable: nothing to leak from
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for enc, v := range forms {
			assert.Check(t, !bytes.Contains(b, []byte(v)), "%s holds the value (%s)", path, enc)
		}
		return nil
	})
	assert.NilError(t, err)
}

// savedImageHolds tells whether `docker save` of ref holds the raw value:
// a check of the image independent of the plugin's own scanner (the
// engine's layers are uncompressed tar).
func savedImageHolds(t *testing.T, ref, value string) bool {
	t.Helper()
	out, err := exec.Command("docker", "--config", env.configDir, "save", ref).Output()
	assert.NilError(t, err)
	return bytes.Contains(out, []byte(value))
}

// procWatch reads the command line of every process while a command runs,
// to prove that no process, the plugin, the docker CLI and buildx among
// them, carries a value in its argv.
type procWatch struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	seen map[string]bool // command lines of interest
	hits map[string]bool // pids whose command line holds the value
}

func watchProcs(value string, interesting func(cmdline string) bool) *procWatch {
	w := &procWatch{stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]bool{}, hits: map[string]bool{}}
	go func() {
		defer close(w.done)
		for {
			entries, _ := os.ReadDir("/proc")
			for _, e := range entries {
				if _, err := strconv.Atoi(e.Name()); err != nil {
					continue
				}
				b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
				if err != nil || len(b) == 0 {
					continue
				}
				line := string(bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '}))
				w.mu.Lock()
				if strings.Contains(line, value) {
					w.hits[e.Name()] = true
				}
				if interesting(line) {
					w.seen[line] = true
				}
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *procWatch) Stop() (seen []string, hits []string) {
	close(w.stop)
	<-w.done
	for l := range w.seen {
		seen = append(seen, l)
	}
	for pid := range w.hits {
		hits = append(hits, pid)
	}
	return seen, hits
}

// runStepCached tells from `--progress plain` output whether the RUN step
// whose command contains marker was served from cache.
func runStepCached(t *testing.T, progress, marker string) bool {
	t.Helper()
	re := regexp.MustCompile(`(?m)^(#\d+) \[[^\]]*\] RUN .*` + regexp.QuoteMeta(marker))
	m := re.FindStringSubmatch(progress)
	assert.Assert(t, m != nil, "no RUN step with %q in:\n%s", marker, progress)
	return regexp.MustCompile(`(?m)^` + m[1] + ` CACHED$`).MatchString(progress)
}

func imageFile(t *testing.T, ref, path string) string {
	t.Helper()
	res := docker(t, nil, "run", "--rm", "--network", "none", ref, "cat", path)
	res.Assert(t, icmd.Success)
	return strings.TrimSpace(res.Stdout())
}

// TestBuild builds with a secret whose digest the Dockerfile checks, so the
// build itself proves the right value arrived, and then searches everything
// the build printed or left behind for it.
func TestBuild(t *testing.T) {
	value := uniqueValue(t, "e2e-build-tok-")
	seed := map[string]string{"token": value}
	kvEnv := startEmulator(t, seed).Env
	ctxDir := buildDir(t, map[string]string{"Dockerfile": `FROM ` + env.baseImage + `
ARG WANT
RUN --mount=type=secret,id=token,required=true \
    got="$(sha256sum /run/secrets/token | cut -d' ' -f1)" && \
    if [ "$got" != "$WANT" ]; then echo "token digest mismatch" >&2; exit 1; fi && \
    sleep 2 && echo verified > /verified
`})

	t.Run("right value", func(t *testing.T) {
		img := testImage(t, "build-ok")
		tmp := t.TempDir()
		w := watchProcs(value, func(l string) bool { return strings.Contains(l, "buildx build") || strings.Contains(l, "vault build") })
		res := vaultDocker(t, append(kvEnv, "TMPDIR="+tmp), ctxDir, "vault", "build", "--load", "-t", img,
			"--build-arg", "WANT="+digest(value), "--progress", "plain", ".")
		seen, hits := w.Stop()
		res.Assert(t, icmd.Success)
		assertNoValue(t, res, seed)
		assertNotInText(t, "the build's output", res.Combined(), value)
		assert.Check(t, is.Regexp(`(?m)^leak check: no value of 1 secret \(current version only\) found in image `+regexp.QuoteMeta(img)+
			`: [0-9]+ layers?, the config or the history \(raw, hex, base64, JSON-escaped, URL-encoded\); [0-9.]+ MB in [0-9.]+m?s$`, res.Stderr()))
		assert.Check(t, is.Equal(imageFile(t, img, "/verified"), "verified"))

		// The watcher saw the plugin and buildx run, and no argv with the
		// value; buildx got the value by the environment variable.
		assert.Check(t, is.Len(hits, 0), "processes with the value in argv: %v", hits)
		var buildxArgv string
		for _, l := range seen {
			if strings.Contains(l, "buildx build") && strings.Contains(l, "--secret") {
				buildxArgv = l
			}
		}
		assert.Check(t, is.Contains(buildxArgv, "--secret id=token,env=DOCKER_VAULT_SECRET_0"), "command lines seen: %q", seen)

		for _, args := range [][]string{{"history", "--no-trunc", img}, {"image", "inspect", img}} {
			r := docker(t, nil, args...)
			r.Assert(t, icmd.Success)
			assertNotInText(t, "docker "+args[0], r.Stdout(), value)
		}
		assert.Check(t, !savedImageHolds(t, img, value), "docker save of the image holds the value")
		// Nothing left behind: the temp folder the plugin and buildx got,
		// the build context, and the docker config folder where buildx
		// keeps its state.
		left, err := os.ReadDir(tmp)
		assert.NilError(t, err)
		assert.Check(t, is.Len(left, 0), "left in TMPDIR")
		assertNotInTree(t, tmp, value)
		assertNotInTree(t, ctxDir, value)
		assertNotInTree(t, env.configDir, value)
	})

	// Without a tag the plugin has buildx write the image id to a file of
	// its own, in TMPDIR, to know what to check; the file goes with the run.
	t.Run("untagged", func(t *testing.T) {
		tmp := t.TempDir()
		res := vaultDocker(t, append(kvEnv, "TMPDIR="+tmp), ctxDir, "vault", "build", "--load",
			"--build-arg", "WANT="+digest(value), ".")
		res.Assert(t, icmd.Success)
		m := regexp.MustCompile(`(?m)^leak check: no value of 1 secret \(current version only\) found in image (sha256:[0-9a-f]{64}): `).FindStringSubmatch(res.Stderr())
		assert.Assert(t, m != nil, res.Stderr())
		keepImageID(t, m[1])
		assertNoValue(t, res, seed)
		left, err := os.ReadDir(tmp)
		assert.NilError(t, err)
		assert.Check(t, is.Len(left, 0), "left in TMPDIR")
	})

	t.Run("wrong value fails the build", func(t *testing.T) {
		img := testImage(t, "build-wrong")
		res := vaultDocker(t, kvEnv, ctxDir, "vault", "build", "--load", "-t", img,
			"--build-arg", "WANT="+digest("not the value"), "--progress", "plain", ".")
		res.Assert(t, icmd.Expected{ExitCode: 1, Err: "token digest mismatch"})
		assertNoValue(t, res, seed)
		assert.Check(t, !strings.Contains(res.Stderr(), "leak check:"))
		assert.Check(t, docker(t, nil, "image", "inspect", img).ExitCode != 0, "an image was loaded")
	})

	t.Run("required secret missing", func(t *testing.T) {
		dir := buildDir(t, map[string]string{"Dockerfile": "FROM " + env.baseImage + "\nRUN --mount=type=secret,id=db_pass,required=true true\n"})
		res := vaultDocker(t, kvEnv, dir, "vault", "build", "--load", ".")
		res.Assert(t, icmd.Expected{ExitCode: 1,
			Err: `no build was started: secret id db_pass (required, Dockerfile line 2): Key Vault secret "db-pass" not found in https://emulator.vault.azure.net`})
		assert.Check(t, !strings.Contains(res.Combined(), "building with"), "buildx ran")
	})
}

// TestBuildLeakCheck copies the secret into layers in three forms; the
// leak check must name each layer and file and fail the command.
func TestBuildLeakCheck(t *testing.T) {
	value := uniqueValue(t, "e2e-leak-tok-")
	seed := map[string]string{"token": value}
	// New versions, so the steps run with this run's value: a layer cached
	// by an earlier run holds that run's value, which no check of this
	// run's value can find.
	kvEnv := startEmulator(t, seed, randSeed()).Env
	img := testImage(t, "build-leak")
	dir := buildDir(t, map[string]string{"Dockerfile": `FROM ` + env.baseImage + `
ARG DOCKER_VAULT_VERSIONS
RUN --mount=type=secret,id=token cp /run/secrets/token /leaked
RUN --mount=type=secret,id=token mkdir -p /etc/app && base64 /run/secrets/token > /etc/app/token.b64
RUN --mount=type=secret,id=token xxd -p /run/secrets/token > /token.hex
`})
	res := vaultDocker(t, kvEnv, dir, "vault", "build", "--load", "-t", img, "--progress", "plain", ".")
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "leak check failed: image " + img + " holds secret values:\n"})
	assertNoValue(t, res, seed)
	assertNotInText(t, "the build's output", res.Combined(), value)
	layers := map[string]string{}
	for _, want := range []struct{ enc, file string }{{"raw", "leaked"}, {"base64", "etc/app/token.b64"}, {"hex", "token.hex"}} {
		m := regexp.MustCompile(`(?m)^  secret token \(` + want.enc + `\) found in ([0-9a-f]{64}/layer\.tar): ` + regexp.QuoteMeta(want.file) + `$`).FindStringSubmatch(res.Stderr())
		if assert.Check(t, m != nil, "no %s leak of %s reported:\n%s", want.enc, want.file, res.Stderr()) {
			layers[m[1]] = want.file
		}
	}
	assert.Check(t, is.Len(layers, 3), "three layers: %v", layers)
	assert.Check(t, is.Contains(res.Stderr(), "docker image rm "+img))
	// The independent check agrees: this image does hold the value.
	assert.Check(t, savedImageHolds(t, img, value))

	// --no-leak-check: the same build passes.
	res = vaultDocker(t, kvEnv, dir, "vault", "build", "--load", "-t", img, "--no-leak-check", ".")
	res.Assert(t, icmd.Success)
	assert.Check(t, !strings.Contains(res.Stderr(), "leak check"))

	// Without --load, buildx's docker driver (the test bed's builder)
	// loads the image all the same: it is checked all the same.
	res = vaultDocker(t, kvEnv, dir, "vault", "build", "-t", img, ".")
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "leak check failed: image " + img + " holds secret values:\n"})
	assertNoValue(t, res, seed)
}

// TestBuildRotation proves that ARG DOCKER_VAULT_VERSIONS re-runs a step
// after the secret rotates, and that without it the step is served from
// cache with the old value.
func TestBuildRotation(t *testing.T) {
	v1, v2, v3 := uniqueValue(t, "e2e-rot-one-"), uniqueValue(t, "e2e-rot-two-"), uniqueValue(t, "e2e-rot-three-")
	em := startEmulator(t, map[string]string{"token": v1}, randSeed())
	all := map[string]string{"v1": v1, "v2": v2, "v3": v3}
	// The step writes the digest of the value it saw, so the image tells
	// which value the step ran with.
	step := `RUN --mount=type=secret,id=token sha256sum /run/secrets/token | cut -d' ' -f1 > /digest`

	build := func(t *testing.T, dir, img string) string {
		t.Helper()
		res := vaultDocker(t, em.Env, dir, "vault", "build", "--load", "-t", img, "--progress", "plain", ".")
		res.Assert(t, icmd.Success)
		assertNoValue(t, res, all)
		keepImageID(t, img)
		return res.Stderr()
	}

	t.Run("with the versions arg", func(t *testing.T) {
		img := testImage(t, "build-rotate")
		dir := buildDir(t, map[string]string{"Dockerfile": "FROM " + env.baseImage + "\nARG DOCKER_VAULT_VERSIONS\n" + step + "\n"})

		out := build(t, dir, img)
		assert.Check(t, !runStepCached(t, out, "sha256sum"), "first build served from cache")
		assert.Check(t, !strings.Contains(out, "note: declare"), "note despite the ARG")
		assert.Check(t, is.Equal(imageFile(t, img, "/digest"), digest(v1)))

		out = build(t, dir, img)
		assert.Check(t, runStepCached(t, out, "sha256sum"), "unchanged secret: the step should be cached")

		version := em.SetSecret(t, "token", v2)
		out = build(t, dir, img)
		assert.Check(t, !runStepCached(t, out, "sha256sum"), "rotated secret served from cache")
		assert.Check(t, is.Equal(imageFile(t, img, "/digest"), digest(v2)))
		hist := docker(t, nil, "history", "--no-trunc", img)
		assert.Check(t, is.Contains(hist.Stdout(), "DOCKER_VAULT_VERSIONS=token="+version))
	})

	t.Run("without it the old value is served from cache", func(t *testing.T) {
		img := testImage(t, "build-rotate-stale")
		// The first step makes the cache chain this run's own.
		dir := buildDir(t, map[string]string{"Dockerfile": "FROM " + env.baseImage + "\nRUN echo " + uniqueValue(t, "run-") + " > /run-id\n" + step + "\n"})
		out := build(t, dir, img)
		assert.Check(t, is.Contains(out, "note: declare 'ARG DOCKER_VAULT_VERSIONS' before the RUN steps"))
		assert.Check(t, is.Equal(imageFile(t, img, "/digest"), digest(v2)))

		em.SetSecret(t, "token", v3)
		out = build(t, dir, img)
		assert.Check(t, runStepCached(t, out, "sha256sum"))
		assert.Check(t, is.Equal(imageFile(t, img, "/digest"), digest(v2)), "the step saw the new value")
	})
}

// TestBuildCompose builds a compose service whose build.secrets take the
// value from an environment variable, filled from Key Vault.
func TestBuildCompose(t *testing.T) {
	value := uniqueValue(t, "e2e-compose-npm-")
	seed := map[string]string{"npm-token": value}
	em := startEmulator(t, seed, randSeed())
	version := em.SetSecret(t, "npm-token", value)
	img := testImage(t, "build-compose")
	dir := buildDir(t, map[string]string{
		"Dockerfile": `FROM ` + env.baseImage + `
ARG WANT
ARG DOCKER_VAULT_VERSIONS
RUN --mount=type=secret,id=npm_token,required=true \
    test "$(sha256sum /run/secrets/npm_token | cut -d' ' -f1)" = "$WANT" || { echo "npm_token digest mismatch" >&2; exit 1; }
`,
		"compose.yaml": `
services:
  app:
    image: ` + img + `
    build:
      context: .
      secrets: [npm_token]
secrets:
  npm_token:
    environment: NPM_TOKEN
`,
	})
	tmp := t.TempDir()
	res := vaultDocker(t, append(em.Env, "TMPDIR="+tmp), dir, "vault", "build", "--compose", "-f", "compose.yaml",
		"--progress", "plain", "--build-arg", "WANT="+digest(value), "app")
	res.Assert(t, icmd.Success)
	assertNoValue(t, res, seed)
	// The seeded value is the previous version: searched too.
	assert.Check(t, is.Contains(res.Stderr(), "leak check: no value of 1 secret (current and 1 previous version) found in image "+img+": "))
	hist := docker(t, nil, "history", "--no-trunc", img)
	hist.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(hist.Stdout(), "DOCKER_VAULT_VERSIONS=npm_token="+version))
	assertNotInText(t, "docker history", hist.Stdout(), value)
	assert.Check(t, !savedImageHolds(t, img, value), "docker save of the image holds the value")
	assertNotInTree(t, tmp, value)
	assertNotInTree(t, dir, value)
	assertNotInTree(t, env.configDir, value)

	res = vaultDocker(t, em.Env, dir, "vault", "build", "--compose", "-f", "compose.yaml",
		"--progress", "plain", "--build-arg", "WANT="+digest("not the value"), "app")
	assert.Check(t, res.ExitCode != 0, "a wrong value passed the Dockerfile's check")
	assert.Check(t, is.Contains(res.Stderr(), "npm_token digest mismatch"))
	assertNoValue(t, res, seed)

	// A service whose build copies the value into a layer fails the
	// command, named by the image compose gave it (<project>-<service>).
	leaky := buildDir(t, map[string]string{
		"Dockerfile": `FROM ` + env.baseImage + `
ARG DOCKER_VAULT_VERSIONS
RUN --mount=type=secret,id=npm_token,required=true cp /run/secrets/npm_token /leaked
`,
		"compose.yaml": `
name: dv-e2e-leaky
services:
  app:
    build:
      context: .
      secrets: [npm_token]
secrets:
  npm_token:
    environment: NPM_TOKEN
`,
	})
	t.Cleanup(func() { docker(t, nil, "image", "rm", "-f", "dv-e2e-leaky-app") })
	res = vaultDocker(t, em.Env, leaky, "vault", "build", "--compose", "app")
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "leak check failed: image dv-e2e-leaky-app holds secret values:\n  secret npm_token (raw) found in "})
	assertNoValue(t, res, seed)
	assert.Check(t, savedImageHolds(t, "dv-e2e-leaky-app", value))
}

// assertNothingPrinted checks that no output of the runs holds any of
// values, raw, base64 or hex.
func assertNothingPrinted(t *testing.T, runs []*icmd.Result, values map[string]string) {
	t.Helper()
	for i, res := range runs {
		assertNoValue(t, res, values)
		for name, v := range values {
			assertNotInText(t, fmt.Sprintf("the output of run %d (value %s)", i+1, name), res.Combined(), v)
		}
	}
}

// TestBuildMasksOutput: a RUN step that prints the secret, raw, base64 and
// hex, under --progress=plain: what buildx prints reaches the terminal
// masked, and the command says which secret was printed.
func TestBuildMasksOutput(t *testing.T) {
	value := uniqueValue(t, "e2e-mask-tok-")
	seed := map[string]string{"token": value}
	kvEnv := startEmulator(t, seed, randSeed()).Env
	img := testImage(t, "build-mask")
	dir := buildDir(t, map[string]string{"Dockerfile": `FROM ` + env.baseImage + `
ARG DOCKER_VAULT_VERSIONS
RUN --mount=type=secret,id=token echo ` + uniqueValue(t, "run-") + ` && echo "raw: $(cat /run/secrets/token)" && \
    echo "b64: $(base64 /run/secrets/token)" && echo "hex: $(xxd -p /run/secrets/token)"
`})
	res := vaultDocker(t, kvEnv, dir, "vault", "build", "--load", "-t", img, "--progress=plain", ".")
	res.Assert(t, icmd.Success)
	assertNothingPrinted(t, []*icmd.Result{res}, seed)
	for _, line := range []string{"raw: ***", "b64: ***", "hex: ***"} {
		assert.Check(t, is.Regexp(`(?m)^#\d+ [0-9.]+ `+regexp.QuoteMeta(line), res.Stderr()))
	}
	assert.Check(t, is.Contains(res.Stderr(), "note: the build printed the value of token (masked above)"))
	// The value went to the output only: the image is clean.
	assert.Check(t, is.Contains(res.Stderr(), "leak check: no value of 1 secret (current version only) found in image "+img+": "))
}

// TestBuildLeakCheckJSONEscaped: a value with <&> reaches the image config
// through a build arg and ENV. The engine stores it JSON-escaped
// (\u003c\u0026\u003e), so the raw value is nowhere in `docker save`, yet
// `docker inspect` shows it: the leak check finds the escaped form.
func TestBuildLeakCheckJSONEscaped(t *testing.T) {
	value := uniqueValue(t, "e2e-json-<&>-")
	seed := map[string]string{"token": value}
	kvEnv := startEmulator(t, seed, randSeed()).Env
	img := testImage(t, "build-json")
	dir := buildDir(t, map[string]string{"Dockerfile": `FROM ` + env.baseImage + `
ARG DOCKER_VAULT_VERSIONS
ARG TOKEN
RUN --mount=type=secret,id=token test -s /run/secrets/token
ENV TOKEN_COPY=$TOKEN
`})
	// The build arg takes its value from the environment (never argv), as
	// a CI job that exports the secret would hand it on.
	res := vaultDocker(t, append(kvEnv, "TOKEN="+value), dir, "vault", "build", "--load", "-t", img,
		"--build-arg", "TOKEN", "--progress=plain", ".")
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "leak check failed: image " + img + " holds secret values:\n"})
	assertNothingPrinted(t, []*icmd.Result{res}, seed)
	assert.Check(t, is.Regexp(`(?m)^  secret token \(JSON-escaped\) found in [0-9a-f]{64}\.json$`, res.Stderr()))

	// Independently: inspect shows the value, the saved image holds it
	// only escaped.
	inspect := docker(t, nil, "image", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", img)
	inspect.Assert(t, icmd.Success)
	assert.Check(t, strings.Contains(inspect.Stdout(), "TOKEN_COPY="+value+"\n"), "the config does not hold the value")
	assert.Check(t, !savedImageHolds(t, img, value), "docker save holds the raw value: the test proves nothing about escaping")
}

// TestBuildLeakCheckCachedPreviousValue: a Dockerfile without ARG
// DOCKER_VAULT_VERSIONS copies the secret into a layer. After a rotation
// the step is served from cache with the old value inside: the check
// searches the previous versions and names the one it found.
func TestBuildLeakCheckCachedPreviousValue(t *testing.T) {
	values := map[string]string{
		"seeded": uniqueValue(t, "e2e-cache-v0-"),
		"v1":     uniqueValue(t, "e2e-cache-v1-"),
		"v2":     uniqueValue(t, "e2e-cache-v2-"),
	}
	em := startEmulator(t, map[string]string{"token": values["seeded"]}, randSeed())
	version1 := em.SetSecret(t, "token", values["v1"])
	img := testImage(t, "build-cached")
	dir := buildDir(t, map[string]string{"Dockerfile": `FROM ` + env.baseImage + `
RUN echo ` + uniqueValue(t, "run-") + ` > /run-id
RUN --mount=type=secret,id=token cp /run/secrets/token /leaked
`})
	var runs []*icmd.Result
	build := func(args ...string) *icmd.Result {
		res := vaultDocker(t, em.Env, dir, append(append([]string{"vault", "build", "--load", "-t", img, "--progress=plain"}, args...), ".")...)
		runs = append(runs, res)
		keepImageID(t, img)
		return res
	}
	build("--no-leak-check").Assert(t, icmd.Success)
	em.SetSecret(t, "token", values["v2"])

	res := build()
	assert.Check(t, runStepCached(t, res.Stderr(), "cp /run/secrets/token"), "the step was not served from cache")
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "leak check failed: image " + img + " holds secret values:\n"})
	assert.Check(t, is.Regexp(`(?m)^  secret token \(raw, previous version `+version1[:8]+`\) found in [0-9a-f]{64}/layer\.tar: leaked$`, res.Stderr()))
	assert.Check(t, is.Contains(res.Stderr(), "rebuild with --no-cache"))

	// Searching the current value only, the same image passes: what the
	// check would have said before it searched previous versions.
	res = build("--leak-check-versions", "0")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stderr(), "leak check: no value of 1 secret (current version only) found in image "+img+": "))

	// --no-cache runs the step with the current value, which the check
	// then finds.
	res = build("--no-cache")
	res.Assert(t, icmd.Expected{ExitCode: 1})
	assert.Check(t, is.Regexp(`(?m)^  secret token \(raw\) found in [0-9a-f]{64}/layer\.tar: leaked$`, res.Stderr()))
	assertNothingPrinted(t, runs, values)
}
