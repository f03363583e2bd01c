package buildx

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const dockerfile = `
FROM busybox AS deps
RUN --mount=type=secret,id=npm_token,required=true cat /run/secrets/npm_token
RUN --mount=type=secret,id=unused_in_deps echo

FROM busybox AS other
RUN --mount=type=secret,id=other_only echo

FROM busybox AS helper
RUN --mount=type=secret,target=/run/secrets/from_target echo

FROM deps AS final
COPY --from=helper /etc/passwd /x
RUN --mount=type=secret,id=npm_token --mount=type=secret,id=api_key,env=API_KEY echo
`

func TestSecretMounts(t *testing.T) {
	got, err := SecretMounts([]byte(dockerfile), "")
	assert.NilError(t, err)
	var ids []string
	for _, m := range got {
		ids = append(ids, m.ID)
	}
	assert.DeepEqual(t, ids, []string{"npm_token", "unused_in_deps", "from_target", "api_key"})
	assert.Check(t, got[0].Required)
	assert.Check(t, !got[3].Required)
	assert.DeepEqual(t, got[0].Stages, []string{"deps", "final"})
	assert.Check(t, is.Equal(got[0].Line, 3))

	got, err = SecretMounts([]byte(dockerfile), "other")
	assert.NilError(t, err)
	assert.Check(t, is.Len(got, 1))
	assert.Check(t, is.Equal(got[0].ID, "other_only"))

	_, err = SecretMounts([]byte(dockerfile), "nope")
	assert.Check(t, is.ErrorContains(err, `target stage "nope" could not be found`))

	_, err = SecretMounts([]byte("FROM busybox\nRUN --mount=type=secret,id=x,bogus=1 true\n"), "")
	assert.Check(t, is.ErrorContains(err, "unexpected key 'bogus'"))
	_, err = SecretMounts([]byte("FROM busybox\nRUN --mount=type=secret,id=x true\nCOPY\n"), "")
	assert.Check(t, is.ErrorContains(err, "line 3"))
}

func TestPrepareKeepsValuesOutOfArgv(t *testing.T) {
	user := []string{"-f", "Dockerfile.prod", "-t", "app:1", "--build-arg", "A=b", "--secret", "id=mine,src=/x", "--load", "."}
	secrets := []Secret{{ID: "npm_token", Version: "v1", Value: []byte("s3cr3t-value")}, {ID: "api_key", Version: "v2", Value: []byte("another-value")}}
	inv, err := Prepare([]string{"--context", "x"}, user, secrets, []string{"PATH=/bin", "DOCKER_VAULT_SECRET_9=stale"}, true)
	assert.NilError(t, err)
	argv := strings.Join(inv.Args, " ")
	for _, s := range secrets {
		assert.Check(t, !strings.Contains(argv, string(s.Value)))
	}
	assert.Check(t, is.Equal(argv, "--context x buildx build --secret id=npm_token,env=DOCKER_VAULT_SECRET_0 --secret id=api_key,env=DOCKER_VAULT_SECRET_1 --build-arg DOCKER_VAULT_VERSIONS=api_key=v2,npm_token=v1 -f Dockerfile.prod -t app:1 --build-arg A=b --secret id=mine,src=/x --load ."))
	assert.DeepEqual(t, inv.Args[len(inv.Args)-len(user):], user)
	assert.DeepEqual(t, inv.Env, []string{"PATH=/bin", "DOCKER_VAULT_SECRET_0=s3cr3t-value", "DOCKER_VAULT_SECRET_1=another-value"})

	_, err = Prepare(nil, nil, []Secret{{ID: "bin", Value: []byte("a\x00b")}}, nil, false)
	assert.Check(t, is.ErrorContains(err, "secret bin: the value holds a NUL byte"))
	assert.Check(t, !strings.Contains(err.Error(), "a\x00b"))

	assert.DeepEqual(t, UserSecretIDs(user), map[string]bool{"mine": true})
	assert.DeepEqual(t, UserSecretIDs([]string{"--secret=id=a,env=X", "--secret", "type=env,id=b"}), map[string]bool{"a": true, "b": true})
}

// Every way a value can sit in an image is found: raw, hex, and base64 at
// any offset inside a larger encoded blob.
func TestNeedlesFindEncodedValues(t *testing.T) {
	for i := 0; i < 200; i++ {
		v := make([]byte, 8+i%23)
		_, _ = rand.Read(v)
		pre := make([]byte, i%5)
		post := make([]byte, i%4)
		_, _ = rand.Read(pre)
		_, _ = rand.Read(post)
		blob := append(append(append([]byte{}, pre...), v...), post...)
		ns := needles([]Secret{{ID: "x", Value: v}})
		for _, form := range []string{
			string(blob),
			hex.EncodeToString(blob),
			base64.StdEncoding.EncodeToString(blob),
			base64.URLEncoding.EncodeToString(blob),
			base64.RawStdEncoding.EncodeToString(blob),
		} {
			hit := false
			for _, n := range ns {
				hit = hit || strings.Contains(form, string(n.b))
			}
			assert.Assert(t, hit, "value of %d bytes at offset %d not found in %q", len(v), len(pre), form)
		}
	}
}

func tarOf(t *testing.T, files map[string][]byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, b := range files {
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(b)
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return buf.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	assert.NilError(t, err)
	assert.NilError(t, zw.Close())
	return buf.Bytes()
}

func TestScan(t *testing.T) {
	value := []byte("tok-" + strings.Repeat("Z", 10) + "-end")
	big := bytes.Repeat([]byte("x"), 3<<20) // the value straddles a chunk boundary
	big = append(big[:1<<20-5], append(append([]byte{}, value...), big[1<<20:]...)...)
	clean := tarOf(t, map[string][]byte{"etc/passwd": []byte("root:x:0:0\n")})
	archive := tarOf(t, map[string][]byte{
		"manifest.json":           []byte(`[{"Config":"cfg.json"}]`),
		"cfg.json":                []byte(`{"history":[{"created_by":"RUN echo ` + base64.StdEncoding.EncodeToString(value) + `"}]}`),
		"blobs/sha256/aaa":        clean,
		"blobs/sha256/bbb":        gz(t, tarOf(t, map[string][]byte{"app/token.txt": value})),
		"blobs/sha256/ccc":        tarOf(t, map[string][]byte{"var/big": big}),
		"blobs/sha256/hex-layer":  tarOf(t, map[string][]byte{"h": []byte(hex.EncodeToString(value))}),
		"blobs/sha256/clean-gzip": gz(t, clean),
	})
	leaks, err := Scan(bytes.NewReader(archive), []Secret{{ID: "token", Value: value}, {ID: "absent", Value: []byte("nowhere-to-be-found")}})
	assert.NilError(t, err)
	var got []string
	for _, l := range leaks {
		got = append(got, l.String())
	}
	assert.DeepEqual(t, sortStrings(got), []string{
		"secret token (base64) found in cfg.json",
		"secret token (hex) found in blobs/sha256/hex-layer: h",
		"secret token (raw) found in blobs/sha256/bbb: app/token.txt",
		"secret token (raw) found in blobs/sha256/ccc: var/big",
	})
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

type recordingRunner struct{ got Invocation }

func (r *recordingRunner) Run(_ context.Context, _ string, inv Invocation, _ io.Reader, _, _ io.Writer) error {
	r.got = inv
	return nil
}

var _ Runner = (*recordingRunner)(nil)
