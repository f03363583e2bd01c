package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault"

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
	assert.Check(t, is.ErrorContains(err, "dockerfile parse error on line 2: unexpected key"))
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
		"manifest.json":           []byte(`[{"Config":"cfg.json","Layers":["blobs/sha256/aaa","blobs/sha256/bbb","blobs/sha256/ccc","blobs/sha256/hex-layer","blobs/sha256/clean-gzip"]}]`),
		"cfg.json":                []byte(`{"history":[{"created_by":"RUN echo ` + base64.StdEncoding.EncodeToString(value) + `"}]}`),
		"blobs/sha256/aaa":        clean,
		"blobs/sha256/bbb":        gz(t, tarOf(t, map[string][]byte{"app/token.txt": value})),
		"blobs/sha256/ccc":        tarOf(t, map[string][]byte{"var/big": big}),
		"blobs/sha256/hex-layer":  tarOf(t, map[string][]byte{"h": []byte(hex.EncodeToString(value))}),
		"blobs/sha256/clean-gzip": gz(t, clean),
	})
	secrets := []Secret{{ID: "token", Value: value}, {ID: "absent", Value: []byte("nowhere-to-be-found")}}
	report, err := Scan(bytes.NewReader(archive), secrets)
	assert.NilError(t, err)
	assert.DeepEqual(t, leakStrings(report), []string{
		"secret token (base64) found in cfg.json",
		"secret token (hex) found in blobs/sha256/hex-layer: h",
		"secret token (raw) found in blobs/sha256/bbb: app/token.txt",
		"secret token (raw) found in blobs/sha256/ccc: var/big",
	})
	assert.Check(t, is.Equal(report.Layers, 5))
}

func leakStrings(r Report) []string {
	var got []string
	for _, l := range r.Leaks {
		got = append(got, l.String())
	}
	return sortStrings(got)
}

// image is a docker save archive (the engine's legacy layout) of a config
// and layers given as file maps.
func image(t *testing.T, config string, layers ...map[string][]byte) []byte {
	files := map[string][]byte{"cfg.json": []byte(config)}
	var names []string
	for i, l := range layers {
		name := fmt.Sprintf("l%d/layer.tar", i)
		files[name] = tarOf(t, l)
		names = append(names, `"`+name+`"`)
	}
	files["manifest.json"] = []byte(`[{"Config":"cfg.json","Layers":[` + strings.Join(names, ",") + `]}]`)
	return tarOf(t, files)
}

// A value with <&> put in the config by ENV is stored JSON-escaped, as Go
// writes it (\u003c\u0026\u003e): it is found there and in the history.
func TestScanFindsJSONEscapedValues(t *testing.T) {
	value := []byte(`p<&>"w\d`)
	esc, err := json.Marshal(string(value))
	assert.NilError(t, err)
	assert.Check(t, !bytes.Contains(esc, value))
	cfg := `{"config":{"Env":["PATH=/bin","TOKEN_COPY=` + string(esc[1:len(esc)-1]) + `"]}}`
	report, err := Scan(bytes.NewReader(image(t, cfg, map[string][]byte{"etc/ok": []byte("fine")})), []Secret{{ID: "token", Value: value}})
	assert.NilError(t, err)
	assert.DeepEqual(t, leakStrings(report), []string{"secret token (JSON-escaped) found in cfg.json"})
}

// Values of MinLen (4) bytes are searched; shorter ones are named in a
// note, never searched.
func TestScanValueLengths(t *testing.T) {
	secrets := []Secret{{ID: "four", Value: []byte("k9Q!")}, {ID: "three", Value: []byte("abc")}}
	archive := image(t, `{}`, map[string][]byte{"a": []byte("xxk9Q!xx"), "b": []byte("abc abc")})
	report, err := Scan(bytes.NewReader(archive), secrets)
	assert.NilError(t, err)
	assert.DeepEqual(t, leakStrings(report), []string{"secret four (raw) found in l0/layer.tar: a"})
	notes := ShortNotes(append(secrets, Secret{ID: "three", Version: "0123456789abcdef", Value: []byte("ab"), Previous: true}))
	assert.DeepEqual(t, notes, []Note{
		"secret three: the value is shorter than 4 bytes: too short to be masked in the output or searched for in the image",
		"leak check: secret three: previous version 01234567 is shorter than 4 bytes: not searched",
	})
	assert.Check(t, is.Equal(Summary(secrets, report, "app:1"),
		"no value of 1 secret (current version only) found in image app:1: 1 layer, the config or the history (raw, hex, base64, JSON-escaped, URL-encoded)"))
}

// A file named by the value is reported with the name masked.
func TestScanMasksFileNames(t *testing.T) {
	value := []byte("name-is-the-value")
	archive := image(t, `{}`, map[string][]byte{"etc/" + string(value) + "/x": []byte("fine")})
	report, err := Scan(bytes.NewReader(archive), []Secret{{ID: "token", Value: value}})
	assert.NilError(t, err)
	assert.DeepEqual(t, leakStrings(report), []string{"secret token (raw) found in l0/layer.tar: etc/***/x (file name)"})
}

// An archive that cannot be read to its end is an error, never a clean
// report.
func TestScanUnreadable(t *testing.T) {
	secrets := []Secret{{ID: "token", Value: []byte("not-in-the-image")}}
	layer := map[string][]byte{"big": bytes.Repeat([]byte("y"), 64<<10)}
	whole := image(t, `{}`, layer)
	_, err := Scan(bytes.NewReader(whole), secrets)
	assert.NilError(t, err)

	truncatedLayer := tarOf(t, map[string][]byte{
		"manifest.json": []byte(`[{"Config":"cfg.json","Layers":["l0/layer.tar"]}]`),
		"cfg.json":      []byte(`{}`),
		"l0/layer.tar":  tarOf(t, layer)[:20<<10],
	})
	zstd := tarOf(t, map[string][]byte{
		"manifest.json": []byte(`[{"Config":"cfg.json","Layers":["l0"]}]`),
		"cfg.json":      []byte(`{}`),
		"l0":            append([]byte{0x28, 0xb5, 0x2f, 0xfd}, bytes.Repeat([]byte{1}, 600)...),
	})
	noLayer := tarOf(t, map[string][]byte{
		"manifest.json": []byte(`[{"Config":"cfg.json","Layers":["l0/layer.tar","l1/layer.tar"]}]`),
		"cfg.json":      []byte(`{}`),
		"l0/layer.tar":  tarOf(t, layer),
	})
	for name, tc := range map[string]struct {
		archive []byte
		want    string
	}{
		"cut inside a file":        {whole[:len(whole)/2], "the image could not be read: "},
		"cut between two files":    {cutAfterLayer(t, layer), "the image archive has no manifest.json"},
		"empty":                    {nil, "the image archive has no manifest.json"},
		"not a tar":                {[]byte(strings.Repeat("garbage ", 200)), "the image could not be read: the image archive: "},
		"truncated layer":          {truncatedLayer, "l0/layer.tar: big: unexpected EOF"},
		"zstd layer":               {zstd, "l0 is zstd-compressed, which the leak check cannot read"},
		"manifest names a missing": {noLayer, "the image archive lacks l1/layer.tar, which manifest.json names"},
		"gzip cut short":           {tarOf(t, map[string][]byte{"l0": gz(t, tarOf(t, layer))[:100]}), "l0: big: unexpected EOF"},
	} {
		_, err := Scan(bytes.NewReader(tc.archive), secrets)
		assert.Check(t, errors.Is(err, ErrUnreadable), "%s: %v", name, err)
		assert.Check(t, is.ErrorContains(err, tc.want), name)
	}
	_, err = Scan(iotest.ErrReader(errors.New("connection reset")), secrets)
	assert.Check(t, is.ErrorContains(err, "the image could not be read: the image archive: connection reset"))
}

// cutAfterLayer is an archive cut where a file ends: its config and layer
// are whole, its manifest.json is missing.
func cutAfterLayer(t *testing.T, layer map[string][]byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		body []byte
	}{{"cfg.json", []byte(`{}`)}, {"l0/layer.tar", tarOf(t, layer)}} {
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(f.body)
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Flush())
	return buf.Bytes()
}

// The legacy layout links a layer shared by two images to one file.
func TestScanFollowsLinkedLayers(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body []byte) {
		h.Size = int64(len(body))
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		assert.NilError(t, tw.WriteHeader(h))
		_, err := tw.Write(body)
		assert.NilError(t, err)
	}
	add(&tar.Header{Name: "a/layer.tar", Mode: 0o644}, tarOf(t, map[string][]byte{"x": []byte("fine")}))
	add(&tar.Header{Name: "b/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../a/layer.tar"}, nil)
	add(&tar.Header{Name: "cfg.json", Mode: 0o644}, []byte(`{}`))
	add(&tar.Header{Name: "manifest.json", Mode: 0o644}, []byte(`[{"Config":"cfg.json","Layers":["a/layer.tar","b/layer.tar"]}]`))
	assert.NilError(t, tw.Close())
	report, err := Scan(&buf, []Secret{{ID: "token", Value: []byte("absent-value")}})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(report.Layers, 1))
}

// A layer served from cache holds an earlier build's value: a previous
// version is found and reported as such.
func TestScanFindsPreviousVersions(t *testing.T) {
	secrets := []Secret{
		{ID: "token", KVName: "token", Version: "cur0000000000", Value: []byte("value-now-123")},
		{ID: "token", KVName: "token", Version: "old1111111111", Value: []byte("value-before-456"), Previous: true},
		{ID: "token", KVName: "token", Version: "old2222222222", Value: []byte("value-long-ago-789"), Previous: true},
	}
	archive := image(t, `{}`, map[string][]byte{"app/token": []byte("value-before-456\n")})
	report, err := Scan(bytes.NewReader(archive), secrets)
	assert.NilError(t, err)
	assert.DeepEqual(t, leakStrings(report), []string{"secret token (raw, previous version old11111) found in l0/layer.tar: app/token"})
	assert.Check(t, is.Equal(Summary(secrets, Report{Layers: 4}, "app:1"),
		"no value of 1 secret (current and 2 previous versions) found in image app:1: 4 layers, the config or the history (raw, hex, base64, JSON-escaped, URL-encoded)"))
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
		// A tarball on stdout.
		{[]string{"-o", "-", "."}, BuildArgs{Context: ".", Dockerfile: "Dockerfile", Output: true, ToStdout: true}},
		{[]string{"--output=type=tar,dest=-", "."}, BuildArgs{Context: ".", Dockerfile: "Dockerfile", Output: true, ToStdout: true}},
		{[]string{"--output", "type=docker,DEST=-", "."}, BuildArgs{Context: ".", Dockerfile: "Dockerfile", Output: true, ToStdout: true}},
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
		{ID: "npm_token", KVName: "npm-token", Version: "v-npm-token", Value: []byte("value of npm-token")},
		{ID: "mapped", KVName: "other", Version: "v-other", Value: []byte("value of other")},
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

// versionStore is a keyvault.Store with versions: Versions lists them,
// Get reads one, and both record how many calls run at once.
type versionStore struct {
	keyvault.Store
	mu       sync.Mutex
	versions map[string][]keyvault.SecretProperties
	values   map[string]string // name/version -> value
	errs     map[string]error  // name or name/version -> error
	inFlight int
	maxSeen  int
	calls    []string
}

func (s *versionStore) enter(call string) func() {
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.inFlight++
	s.maxSeen = max(s.maxSeen, s.inFlight)
	s.mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	return func() { s.mu.Lock(); s.inFlight--; s.mu.Unlock() }
}

func (s *versionStore) Versions(_ context.Context, name string) ([]keyvault.SecretProperties, error) {
	defer s.enter("versions " + name)()
	if err := s.errs[name]; err != nil {
		return nil, err
	}
	return slices.Clone(s.versions[name]), nil
}

func (s *versionStore) Get(_ context.Context, name, version string) (keyvault.Secret, error) {
	defer s.enter("get " + name + "/" + version)()
	if err := s.errs[name+"/"+version]; err != nil {
		return keyvault.Secret{}, err
	}
	return keyvault.Secret{SecretProperties: keyvault.SecretProperties{Name: name, Version: version}, Value: []byte(s.values[name+"/"+version])}, nil
}

func (s *versionStore) VaultURL() string { return "https://v.vault.azure.net" }

func TestPrevious(t *testing.T) {
	at := func(sec int) time.Time { return time.Unix(1_700_000_000+int64(sec), 0) }
	store := &versionStore{
		versions: map[string][]keyvault.SecretProperties{
			// Listed by version id, as the service does; created order differs.
			"token": {
				{Name: "token", Version: "aaaa0000cur", Enabled: true, Created: at(10)},
				{Name: "token", Version: "bbbb1111", Enabled: true, Created: at(9)},
				{Name: "token", Version: "cccc2222", Enabled: false, Created: at(8)},
				{Name: "token", Version: "dddd3333", Enabled: true, Created: at(7)},
				{Name: "token", Version: "eeee4444", Enabled: true, Created: at(6)},
				{Name: "token", Version: "0fff5555", Enabled: true, Created: at(5)},
				{Name: "token", Version: "9ggg6666", Enabled: true, Created: at(4)}, // the sixth: not read
			},
		},
		values: map[string]string{"token/bbbb1111": "old-value-one", "token/0fff5555": "old-value-five"},
		errs: map[string]error{
			"token/dddd3333": fmt.Errorf("failed to get secret token: %w", keyvault.ErrDisabled),
			"token/eeee4444": errors.New("failed to get secret token from https://v.vault.azure.net: key vault unavailable"),
			"other":          errors.New("failed to list versions of secret other from https://v.vault.azure.net: access denied"),
		},
	}
	used := []Secret{
		{ID: "token", KVName: "token", Version: "aaaa0000cur", Value: []byte("current-value")},
		{ID: "token_alias", KVName: "TOKEN", Version: "aaaa0000cur", Value: []byte("current-value")},
		{ID: "other", KVName: "other", Version: "x", Value: []byte("other-value")},
	}
	previous, notes, err := Previous(context.Background(), store, used, 5, 2)
	assert.NilError(t, err)
	var got []string
	for _, p := range previous {
		assert.Check(t, p.Previous)
		got = append(got, p.ID+"@"+p.Version+"="+string(p.Value))
	}
	assert.DeepEqual(t, got, []string{
		"token@bbbb1111=old-value-one", "token_alias@bbbb1111=old-value-one",
		"token@0fff5555=old-value-five", "token_alias@0fff5555=old-value-five",
	})
	assert.DeepEqual(t, notes, []Note{
		"leak check: secret other: its previous versions could not be listed, only the current value is searched: failed to list versions of secret other from https://v.vault.azure.net: access denied",
		"leak check: secret token: previous version cccc2222 is disabled, so its value is not searched",
		"leak check: secret token: previous version dddd3333 is disabled, so its value is not searched",
		"leak check: secret token: previous version eeee4444 could not be read, so its value is not searched: failed to get secret token from https://v.vault.azure.net: key vault unavailable",
	})
	assert.Check(t, store.maxSeen <= 2, "%d requests at once, over --vault-parallel", store.maxSeen)
	assert.Check(t, !slices.Contains(store.calls, "versions TOKEN"), "one listing per Key Vault secret: %q", store.calls)
	assert.Check(t, !slices.Contains(store.calls, "get token/9ggg6666"), "more than 5 previous versions read")
	assert.Check(t, is.Equal(Summary(append(used, previous...), Report{Layers: 2}, "app:1"),
		"no value of 3 secrets (current and 2 previous versions) found in image app:1: 2 layers, the config or the history (raw, hex, base64, JSON-escaped, URL-encoded)"))

	// 0: the current value only, and no request.
	store.calls = nil
	previous, notes, err = Previous(context.Background(), store, used, 0, 2)
	assert.NilError(t, err)
	assert.Check(t, is.Len(previous, 0))
	assert.Check(t, is.Len(notes, 0))
	assert.Check(t, is.Len(store.calls, 0))

	// A cancelled command is an error, not a note.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	store.errs["token"] = context.Canceled
	_, _, err = Previous(ctx, store, used, 5, 2)
	assert.Check(t, errors.Is(err, context.Canceled))
}

func TestParseComposeArgs(t *testing.T) {
	got, err := ParseComposeArgs([]string{"-f", "a.yaml", "--file=b.yaml", "-p", "proj", "--project-directory", "d",
		"--env-file", ".env.ci", "--profile=p1", "--progress", "plain", "--compatibility", "--build-arg", "A=b",
		"--no-cache", "--ssh=default", "app", "worker"})
	assert.NilError(t, err)
	assert.DeepEqual(t, got, ComposeArgs{
		Files: []string{"a.yaml", "b.yaml"}, ProjectDir: "d", EnvFiles: []string{".env.ci"}, Profiles: []string{"p1"}, Name: "proj",
		Global:   []string{"--progress", "plain", "--compatibility"},
		Build:    []string{"--build-arg", "A=b", "--no-cache", "--ssh", "default"},
		Services: []string{"app", "worker"},
	})
	_, err = ParseComposeArgs([]string{"app", "--build-arg"})
	assert.Check(t, is.Error(err, "flag needs an argument: --build-arg"))
}
