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
	"sync"
	"testing"

	"github.com/docker-vault/docker-vault/keyvault"

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
	assert.Check(t, is.ErrorContains(err, "dockerfile parse error on line 2: unexpected key 'bogus'"))
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

func TestParseBuildArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want BuildArgs
	}{
		{nil, BuildArgs{Context: ".", Dockerfile: "Dockerfile"}},
		{[]string{"-f", "d/Dockerfile.prod", "--target=final", "-t", "a:1", "--tag=b:2", "--load", "ctx"},
			BuildArgs{Context: "ctx", Dockerfile: "d/Dockerfile.prod", Target: "final", Load: true, Output: true, Tags: []string{"a:1", "b:2"}}},
		// pflag's shorthand forms: attached value, '=', after a cluster of
		// booleans.
		{[]string{"-fDf", "-ta:1", "-qt", "b:2", "-o=type=docker", "ctx"},
			BuildArgs{Context: "ctx", Dockerfile: "Df", Load: true, Output: true, Tags: []string{"a:1", "b:2"}}},
		// Values that look like a context are flag values.
		{[]string{"--build-arg", "X=y", "--resource", "memory=2g", "--iidfile", "/tmp/iid", "ctx", "--progress", "plain"},
			BuildArgs{Context: "ctx", Dockerfile: "ctx/Dockerfile", IIDFile: "/tmp/iid"}},
		// type=docker with a dest writes a tarball: nothing is loaded.
		{[]string{"--output", "type=docker,dest=/tmp/img.tar", "."}, BuildArgs{Context: ".", Dockerfile: "Dockerfile", Output: true}},
		{[]string{"--output", "dest=/tmp/img.tar,type=docker", "--load=false", "."}, BuildArgs{Context: ".", Dockerfile: "Dockerfile", Output: true}},
		{[]string{"--output=type=image,name=x", "."}, BuildArgs{Context: ".", Dockerfile: "Dockerfile", Output: true}},
		{[]string{"--push", "."}, BuildArgs{Context: ".", Dockerfile: "Dockerfile", Output: true}},
		// Contexts whose Dockerfile is not here.
		{[]string{"-"}, BuildArgs{Context: "-"}},
		{[]string{"https://github.com/docker/buildx.git#master"}, BuildArgs{Context: "https://github.com/docker/buildx.git#master"}},
		{[]string{"-f", "Dockerfile", "git@github.com:a/b.git"}, BuildArgs{Context: "git@github.com:a/b.git", Dockerfile: "Dockerfile"}},
	} {
		assert.Check(t, is.DeepEqual(ParseBuildArgs(tc.args), tc.want), "%q", tc.args)
	}
}

func TestUserSecretIDs(t *testing.T) {
	assert.DeepEqual(t, UserSecretIDs([]string{"--secret", `"id=a,b",src=/x`, "--secret=ID=c", "--secret", "src=/y"}),
		map[string]bool{"a,b": true, "c": true})
}

func TestSecretMountsVariableID(t *testing.T) {
	got, err := SecretMounts([]byte("FROM busybox\nARG WHICH=token\nRUN --mount=type=secret,id=${WHICH} --mount=type=secret,id=plain true\n"), "")
	assert.NilError(t, err)
	assert.DeepEqual(t, got, []SecretMount{
		{ID: "${WHICH}", Stages: []string{"0"}, Line: 3, Variable: true},
		{ID: "plain", Stages: []string{"0"}, Line: 3},
	})
}

// storeFunc is a keyvault.Store whose Get is a function; its other
// methods are not used by Resolve.
type storeFunc struct {
	keyvault.Store
	get func(name, version string) (keyvault.Secret, error)
}

func (s storeFunc) Get(_ context.Context, name, version string) (keyvault.Secret, error) {
	return s.get(name, version)
}

func (storeFunc) VaultURL() string { return "https://v.vault.azure.net" }

func TestResolve(t *testing.T) {
	var asked []string
	var mu sync.Mutex
	store := storeFunc{get: func(name, version string) (keyvault.Secret, error) {
		mu.Lock()
		asked = append(asked, name+"@"+version)
		mu.Unlock()
		if name == "missing" || name == "gone" {
			return keyvault.Secret{}, keyvault.ErrNotFound
		}
		return keyvault.Secret{SecretProperties: keyvault.SecretProperties{Name: name, Version: "v-" + name}, Value: []byte("value of " + name)}, nil
	}}
	mounts := []SecretMount{
		{ID: "npm_token", Required: true, Line: 2},
		{ID: "mapped", Line: 3},
		{ID: "mine", Required: true, Line: 4},
		{ID: "${X}", Required: true, Line: 5, Variable: true},
		{ID: "gone", Line: 6},
		{ID: "bad/name", Line: 7},
	}
	secrets, notes, err := Resolve(context.Background(), store, mounts, []Mapping{{ID: "mapped", KVName: "other", Version: "v1"}}, map[string]bool{"mine": true}, 2)
	assert.NilError(t, err)
	assert.DeepEqual(t, secrets, []Secret{
		{ID: "npm_token", Version: "v-npm-token", Value: []byte("value of npm-token")},
		{ID: "mapped", Version: "v-other", Value: []byte("value of other")},
	})
	assert.DeepEqual(t, sortStrings(asked), []string{"gone@", "npm-token@", "other@v1"})
	var got []string
	for _, n := range notes {
		got = append(got, string(n))
	}
	assert.DeepEqual(t, sortStrings(got), []string{
		`secret ${X}: the id is set from a build arg, so docker vault cannot tell which Key Vault secret it is; not filled (give it with --secret)`,
		`secret bad/name: "bad/name" is not a valid Key Vault secret name; skipped (the mount is not required; map it with --vault-secret)`,
		`secret gone: Key Vault secret "gone" not found; skipped (the mount is not required)`,
		`secret mine: given with --secret, not read from Key Vault`,
	})

	// Required and unmappable: an error before any request.
	asked = nil
	_, _, err = Resolve(context.Background(), store, []SecretMount{{ID: "ok"}, {ID: "a b", Required: true, Line: 9}}, nil, nil, 0)
	assert.Check(t, is.Error(err, `secret id a b (required, Dockerfile line 9): "a b" is not a valid Key Vault secret name; map the id with --vault-secret id=a b,name=NAME`))
	assert.Check(t, is.Len(asked, 0))

	_, err = ParseMapping("id=x,name=not_valid")
	assert.Check(t, is.ErrorContains(err, `"not_valid" is not a valid Key Vault secret name`))
}
