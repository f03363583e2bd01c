//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/internal/scan"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// scanImageRef names an image of the scan tests and removes it, by
// reference and by the ID it has then, when the test ends.
func scanImageRef(t *testing.T, name string) string {
	t.Helper()
	ref := fmt.Sprintf("docker-vault-test/scan-%s:%d", name, os.Getpid())
	t.Cleanup(func() { icmd.RunCmd(dockerCmd("image", "rm", "-f", ref)) })
	return ref
}

// buildScanImage builds dir as ref with the classic builder or BuildKit
// (buildx, from the test bed's plugins), and removes the image when the
// test ends.
func buildScanImage(t *testing.T, ref, dir string, buildkit bool, args ...string) {
	t.Helper()
	cmd := dockerCmd(append(append([]string{"build", "-q", "-t", ref}, args...), dir)...)
	if buildkit {
		cmd.Env = append(cmd.Env, "DOCKER_BUILDKIT=1")
	} else {
		cmd.Env = append(cmd.Env, "DOCKER_BUILDKIT=0")
	}
	res := icmd.RunCmd(cmd)
	assert.Assert(t, res.ExitCode == 0, "docker build %s: %s", ref, res.Stderr())
	keepImageID(t, ref)
}

// scanImages are the images of the scan tests and the values they hold.
type scanImages struct {
	envImage, fileImage, cleanImage string
	envValue, argValue, keyValue    string
	fileValue                       string // in three files of fileImage: raw, base64, hex
}

func buildScanImages(t *testing.T) scanImages {
	t.Helper()
	s := scanImages{
		envImage:   scanImageRef(t, "env"),
		fileImage:  scanImageRef(t, "file"),
		cleanImage: scanImageRef(t, "clean"),
		envValue:   uniqueValue(t, "e2e-scan-env-"),
		argValue:   uniqueValue(t, "e2e-scan-arg-"),
		keyValue:   uniqueValue(t, "e2e-scan-key-"),
		fileValue:  uniqueValue(t, "e2e-scan-file-"),
	}
	// The classic builder: a build arg recorded in the RUN line, a value
	// baked into ENV.
	dir := buildDir(t, map[string]string{"Dockerfile": "FROM " + env.baseImage + "\nARG DB_PASSWORD\nRUN echo built > /built\nENV API_TOKEN=" + s.envValue + "\n"})
	buildScanImage(t, s.envImage, dir, false, "--build-arg", "DB_PASSWORD="+s.argValue)
	// BuildKit: files holding the value copied into a layer, the base
	// named by the OCI label, a build arg in a RUN line.
	dir = buildDir(t, map[string]string{
		"Dockerfile": "FROM " + env.baseImage + "\nLABEL org.opencontainers.image.base.name=" + env.baseImage +
			"\nCOPY raw.txt b64.txt hex.txt /app/\nARG SECRET_KEY\nRUN ls /app > /listing\n",
		"raw.txt": "token=" + s.fileValue + "\n",
		"b64.txt": base64.StdEncoding.EncodeToString([]byte(s.fileValue)) + "\n",
		"hex.txt": hex.EncodeToString([]byte(s.fileValue)) + "\n",
	})
	buildScanImage(t, s.fileImage, dir, true, "--build-arg", "SECRET_KEY="+s.keyValue)
	dir = buildDir(t, map[string]string{"Dockerfile": "FROM " + env.baseImage + "\nENV MODE=production\nRUN echo fine > /fine\n"})
	buildScanImage(t, s.cleanImage, dir, false)
	return s
}

func (s scanImages) values() map[string]string {
	out := map[string]string{}
	for name, v := range map[string]string{"env": s.envValue, "arg": s.argValue, "key": s.keyValue, "file": s.fileValue} {
		for enc, form := range encodings(v) {
			out[name+" "+enc] = form
		}
	}
	return out
}

func findingSummary(res *scan.Result) []string {
	var out []string
	for _, f := range res.Findings {
		s := f.Rule
		if f.Variable != "" {
			s += " " + f.Variable
		}
		if f.Path != "" {
			s += " " + f.Path
		}
		if f.Secret != "" {
			s += " " + f.Secret + "/" + f.Encoding
		}
		out = append(out, s)
	}
	return out
}

// assertResultHoldsNoValue checks the JSON of a result for every form of
// every value.
func assertResultHoldsNoValue(t *testing.T, res *scan.Result, values map[string]string) {
	t.Helper()
	b, err := json.Marshal(res)
	assert.NilError(t, err)
	for name, v := range values {
		assert.Check(t, !strings.Contains(string(b), v), "the result holds %s", name)
	}
}

// TestScanImage scans images the real engine built, with both builders,
// through ScanImage.
func TestScanImage(t *testing.T) {
	s := buildScanImages(t)
	t.Run("api", func(t *testing.T) { testScanImageAPI(t, s) })
	t.Run("cli", func(t *testing.T) { testScanImageCLI(t, s) })
}

func testScanImageAPI(t *testing.T, s scanImages) {
	ctx := context.Background()
	c := engineClient(t)
	values := s.values()

	res, err := scan.ScanImage(ctx, c, s.envImage, scan.ImageOptions{})
	assert.NilError(t, err)
	assert.DeepEqual(t, findingSummary(res), []string{"image-env API_TOKEN", "image-history DB_PASSWORD"})
	assert.Check(t, is.Equal(res.Findings[1].Layer, "history 3: RUN |1 DB_PASSWORD=*** /bin/sh -c echo built > /built"))
	assertResultHoldsNoValue(t, res, values)

	res, err = scan.ScanImage(ctx, c, s.fileImage, scan.ImageOptions{})
	assert.NilError(t, err)
	assert.DeepEqual(t, findingSummary(res), []string{"image-history SECRET_KEY"})
	assert.Check(t, is.Contains(res.Findings[0].Layer, "RUN |1 SECRET_KEY=*** /bin/sh -c ls /app > /listing # buildkit"))
	assert.Check(t, is.Equal(res.Files, 0), "no layer is read without values")

	// With values: the layer's files, in three forms; the base is named
	// by the label; only the added layers are read, from the driver.
	vs := scan.NewValues([]scan.Value{{Name: "app-token", Value: []byte(s.fileValue)}, {Name: "db-password", Value: []byte(s.argValue)}})
	defer vs.Close()
	res, err = scan.ScanImage(ctx, c, s.fileImage, scan.ImageOptions{Values: vs})
	assert.NilError(t, err)
	assert.DeepEqual(t, findingSummary(res), []string{
		"image-history SECRET_KEY",
		"image-layer app/b64.txt app-token/base64",
		"image-layer app/hex.txt app-token/hex",
		"image-layer app/raw.txt app-token/raw",
	})
	notes := strings.Join(res.Notes, "\n")
	assert.Check(t, is.Contains(notes, "base "+env.baseImage+", named by its label org.opencontainers.image.base.name: 2 of its 3 layers read"))
	assert.Check(t, is.Contains(notes, "read from the "), notes)
	assert.Check(t, res.Files >= 4 && res.Files < 10, "files read: %d", res.Files)
	assertResultHoldsNoValue(t, res, values)

	// Where the driver's directories are not read (a remote engine), the
	// export stream gives the same findings, and the note says so.
	fres, err := scan.ScanImage(ctx, remoteEngine{c}, s.fileImage, scan.ImageOptions{Values: vs})
	assert.NilError(t, err)
	assert.DeepEqual(t, findingSummary(fres), findingSummary(res))
	assert.Check(t, is.Contains(strings.Join(fres.Notes, "\n"), "the 2 added layers searched in the image export, which streams every layer"))
	assertResultHoldsNoValue(t, fres, values)

	// The history's build arg is a Key Vault value: the finding names it.
	res, err = scan.ScanImage(ctx, c, s.envImage, scan.ImageOptions{Values: vs})
	assert.NilError(t, err)
	assert.DeepEqual(t, findingSummary(res), []string{"image-env API_TOKEN", "image-history DB_PASSWORD db-password/raw"})
	assert.Check(t, is.Contains(strings.Join(res.Notes, "\n"), "base "+env.baseImage+", the local image whose layers are the longest proper prefix of its own: 1 of its 2 layers read"))
	assertResultHoldsNoValue(t, res, values)

	res, err = scan.ScanImage(ctx, c, s.cleanImage, scan.ImageOptions{Values: vs})
	assert.NilError(t, err)
	assert.Check(t, is.Len(res.Findings, 0))

	_, err = scan.ScanImage(ctx, c, fmt.Sprintf("docker-vault-test/scan-absent:%d", os.Getpid()), scan.ImageOptions{})
	assert.Check(t, is.ErrorContains(err, "no such image: docker-vault-test/scan-absent:"))
}

// testScanImageCLI drives `docker vault scan --image` through the docker
// binary: exit 3 with findings, 0 on a clean image, and --vault against
// the emulator; nothing printed holds a value.
func testScanImageCLI(t *testing.T, s scanImages) {
	values := s.values()
	dir := t.TempDir() // no compose project: only the image is scanned
	format := "{{.Rule}} {{.Variable}} {{.Path}} {{.Secret}} {{.Encoding}}"
	lines := func(res *icmd.Result) []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(res.Stdout()), "\n") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
		return out
	}

	res := dockerIn(t, dir, nil, "vault", "scan", "--image", s.envImage)
	res.Assert(t, icmd.Expected{ExitCode: 3})
	assert.Check(t, is.Regexp(`(?m)^error +image-env +`+regexp.QuoteMeta(s.envImage)+` +API_TOKEN +name contains "token"$`, res.Stdout()))
	assert.Check(t, is.Contains(res.Stdout(), s.envImage+" (history 3: RUN |1 DB_PASSWORD=*** /bin/sh -c echo built > /built)"))
	assertNoValue(t, res, values)

	res = dockerIn(t, dir, nil, "vault", "scan", "--image", s.cleanImage)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stderr(), "no secrets found"))

	res = dockerIn(t, dir, nil, "vault", "scan", "--image", fmt.Sprintf("docker-vault-test/scan-absent:%d", os.Getpid()))
	res.Assert(t, icmd.Expected{ExitCode: 1})
	assert.Check(t, is.Contains(res.Stderr(), "no such image: docker-vault-test/scan-absent:"))

	em := startEmulator(t, map[string]string{"app-token": s.fileValue, "db-password": s.argValue, "unused": uniqueValue(t, "e2e-scan-unused-")})
	var url string
	for _, kv := range em.Env {
		if v, ok := strings.CutPrefix(kv, "DOCKER_VAULT_URL="); ok {
			url = v
		}
	}
	res = vaultDocker(t, em.Env, dir, "vault", "scan", "--image", s.fileImage, "--image", s.envImage, "--image", s.cleanImage,
		"--vault", url, "--all", "--format", format)
	res.Assert(t, icmd.Expected{ExitCode: 3})
	assert.DeepEqual(t, lines(res), []string{
		"image-history SECRET_KEY",
		"image-layer app/b64.txt app-token base64",
		"image-layer app/hex.txt app-token hex",
		"image-layer app/raw.txt app-token raw",
		"image-env API_TOKEN",
		"image-history DB_PASSWORD db-password raw",
	})
	assert.Check(t, is.Contains(res.Stderr(), "named by its label org.opencontainers.image.base.name: 2 of its 3 layers read"))
	assertNoValue(t, res, values)

	res = vaultDocker(t, em.Env, dir, "vault", "scan", "--image", s.cleanImage, "--vault", url, "--all")
	res.Assert(t, icmd.Success)
	assertNoValue(t, res, values)
}
