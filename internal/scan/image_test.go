package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// fakeImages is an ImageAPI with one function field per method; images
// are inspected from a map by reference or id.
type fakeImages struct {
	images  map[string]image.InspectResponse
	history []image.HistoryResponseItem
	list    []image.Summary
	save    func(id string) ([]byte, error)
	host    string
	// inspected counts the inspections by reference.
	inspected map[string]int
}

func (f *fakeImages) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	if f.inspected == nil {
		f.inspected = map[string]int{}
	}
	f.inspected[ref]++
	img, ok := f.images[ref]
	if !ok {
		return client.ImageInspectResult{}, fmt.Errorf("no such image: %s: %w", ref, cerrdefs.ErrNotFound)
	}
	return client.ImageInspectResult{InspectResponse: img}, nil
}

func (f *fakeImages) ImageHistory(context.Context, string, ...client.ImageHistoryOption) (client.ImageHistoryResult, error) {
	return client.ImageHistoryResult{Items: f.history}, nil
}

func (f *fakeImages) ImageList(context.Context, client.ImageListOptions) (client.ImageListResult, error) {
	return client.ImageListResult{Items: f.list}, nil
}

func (f *fakeImages) ImageSave(_ context.Context, ids []string, _ ...client.ImageSaveOption) (client.ImageSaveResult, error) {
	if f.save == nil {
		return nil, fmt.Errorf("no export in this test")
	}
	b, err := f.save(ids[0])
	if err != nil {
		return nil, err
	}
	return readCloser{strings.NewReader(string(b))}, nil
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func (f *fakeImages) DaemonHost() string {
	if f.host == "" {
		return "tcp://127.0.0.1:2375"
	}
	return f.host
}

func config(env []string, labels map[string]string) *dockerspec.DockerOCIImageConfig {
	return &dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Env: env, Labels: labels, Cmd: []string{"app"}}}
}

func TestScanImageConfig(t *testing.T) {
	api := &fakeImages{images: map[string]image.InspectResponse{
		"app:1": {ID: "sha256:app", Config: config(
			[]string{"PATH=/bin", "DB_PASSWORD=s3cr3t-Pa55word", "DB_HOST=db", "API_TOKEN=", "DB_PASSWORD_FILE=/run/secrets/db"},
			map[string]string{"maintainer": "me", "deploy.api_key": "key-0123456789abcdef"}),
			RootFS: image.RootFS{Layers: []string{"sha256:l0"}}},
	}}
	res, err := ScanImage(context.Background(), api, "app:1", ImageOptions{})
	assert.NilError(t, err)
	assert.DeepEqual(t, summary(res), []string{
		"image-env app:1 DB_PASSWORD",
		"image-label app:1 deploy.api_key",
	})
	assertNoValue(t, res, "s3cr3t-Pa55word", "key-0123456789abcdef")
	// Without values, layers are neither found a base for nor read.
	assert.Check(t, is.Len(res.Notes, 0))
	assert.Check(t, is.Equal(res.Files, 0))
}

func TestScanImageNotFound(t *testing.T) {
	_, err := ScanImage(context.Background(), &fakeImages{}, "nowhere:1", ImageOptions{})
	assert.Check(t, is.ErrorContains(err, "no such image: nowhere:1"))
}

func summary(res *Result) []string {
	var out []string
	for _, f := range res.Findings {
		s := f.Rule + " " + f.Location() + " " + f.Variable
		if f.Secret != "" {
			s += " " + f.Secret + "/" + f.Encoding
		}
		out = append(out, s)
	}
	return out
}

// assertNoValue checks that nothing in res, marshalled, holds a value.
func assertNoValue(t *testing.T, res *Result, values ...string) {
	t.Helper()
	b, err := json.Marshal(res)
	assert.NilError(t, err)
	for _, v := range values {
		assert.Check(t, !strings.Contains(string(b), v), "the result holds %q: %s", v, b)
	}
}

func TestParseStep(t *testing.T) {
	for _, tc := range []struct {
		createdBy string
		kind      string
		want      []string
	}{
		{"|2 DB_PASSWORD=hunter2 MODE=prod /bin/sh -c make", "RUN", []string{"DB_PASSWORD=hunter2", "MODE=prod"}},
		{"RUN |2 TOKEN=a b c MODE=x /bin/sh -c echo MODE=y # buildkit", "RUN", []string{"TOKEN=a b c", "MODE=x"}},
		{"RUN |1 TOKEN=abc /bin/sh -c echo X=1 # buildkit", "RUN", []string{"TOKEN=abc"}},
		{"/bin/sh -c #(nop)  ENV API_KEY=abc123 OTHER=\"x y\"", "ENV", []string{"API_KEY=abc123", "OTHER=x y"}},
		{"ENV PASSWORD=two words", "ENV", []string{"PASSWORD=two words"}},
		{"/bin/sh -c #(nop)  ARG SECRET_KEY=k3y", "ARG", []string{"SECRET_KEY=k3y"}},
		{"ARG NO_DEFAULT", "ARG", nil},
		{"LABEL a.b=c", "LABEL", []string{"a.b=c"}},
		{"/bin/sh -c apk add curl", "/BIN/SH", nil},
		{"RUN /bin/sh -c make # buildkit", "RUN", nil},
	} {
		st := parseStep(tc.createdBy)
		var got []string
		for _, a := range st.assignments {
			got = append(got, a.name+"="+a.value)
		}
		assert.Check(t, is.Equal(st.kind, tc.kind), tc.createdBy)
		assert.Check(t, is.DeepEqual(got, tc.want), tc.createdBy)
	}
}

func TestScanImageHistory(t *testing.T) {
	api := &fakeImages{
		images: map[string]image.InspectResponse{"app:1": {ID: "sha256:app", Config: config([]string{"API_KEY=in-config-0001"}, nil)}},
		// newest first, as the engine lists it
		history: []image.HistoryResponseItem{
			{CreatedBy: "RUN |2 DB_PASSWORD=buildkit-pw-1 MODE=prod /bin/sh -c ./configure --pw=buildkit-pw-1 # buildkit"},
			{CreatedBy: "ENV API_KEY=in-config-0001"},
			{CreatedBy: "|1 GITHUB_TOKEN=ghp_classic0000000000 /bin/sh -c make"},
			{CreatedBy: "/bin/sh -c #(nop)  ARG SECRET_KEY=arg-default-key"},
			{CreatedBy: "/bin/sh -c #(nop) ADD file:abc in / "},
		},
	}
	res, err := ScanImage(context.Background(), api, "app:1", ImageOptions{})
	assert.NilError(t, err)
	var got []string
	for _, f := range res.Findings {
		got = append(got, f.Rule+" "+f.Variable+" "+f.Layer)
	}
	assert.DeepEqual(t, got, []string{
		"image-env API_KEY ",
		"image-history SECRET_KEY history 2: ARG SECRET_KEY=***",
		"image-history GITHUB_TOKEN history 3: RUN |1 GITHUB_TOKEN=*** /bin/sh -c make",
		"image-history DB_PASSWORD history 5: RUN |2 DB_PASSWORD=*** MODE=prod /bin/sh -c ./configure --pw=*** # buildkit",
	})
	assertNoValue(t, res, "buildkit-pw-1", "ghp_classic0000000000", "arg-default-key", "in-config-0001")
}

// With values: a value in Env names the Key Vault secret on the judged
// finding; one in a variable no rule flags, in the history and in the
// rest of the config are findings of their own.
func TestScanImageConfigValues(t *testing.T) {
	value := "kv-value-123456"
	api := &fakeImages{
		images: map[string]image.InspectResponse{"app:1": {ID: "sha256:app",
			Config: &dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{
				Env: []string{"DB_PASSWORD=" + value, "GREETING=hello " + value},
				Cmd: []string{"app", "--x=" + value}}}}},
		history: []image.HistoryResponseItem{{CreatedBy: "RUN /bin/sh -c echo " + value + " > /x # buildkit"}},
	}
	vs := NewValues([]Value{{Name: "db-password", Value: []byte(value)}})
	defer vs.Close()
	res, err := ScanImage(context.Background(), api, "app:1", ImageOptions{Values: vs})
	assert.NilError(t, err)
	assert.DeepEqual(t, summary(res), []string{
		"image-env app:1 DB_PASSWORD db-password/raw",
		"image-env app:1 GREETING db-password/raw",
		"image-history app:1 (history 1: RUN /bin/sh -c echo *** > /x # buildkit)  db-password/raw",
		"image-layer app:1 (config)  db-password/raw",
	})
	assertNoValue(t, res, value)
}

// A Key Vault value in a history step's build arg names the secret on
// that arg's finding, whichever of the step's findings it is: the
// findings added for one step before it do not lose it.
func TestScanImageHistoryValueOnSecondArg(t *testing.T) {
	value := "kv-value-654321"
	api := &fakeImages{
		images: map[string]image.InspectResponse{"app:1": {ID: "sha256:app"}},
		history: []image.HistoryResponseItem{
			{CreatedBy: "RUN |3 API_TOKEN=other-token-1 DB_PASSWORD=" + value + " SECRET_KEY=other-key-22 /bin/sh -c make # buildkit"},
		},
	}
	vs := NewValues([]Value{{Name: "db-password", Value: []byte(value)}})
	defer vs.Close()
	res, err := ScanImage(context.Background(), api, "app:1", ImageOptions{Values: vs})
	assert.NilError(t, err)
	where := "app:1 (history 1: RUN |3 API_TOKEN=*** DB_PASSWORD=*** SECRET_KEY=*** /bin/sh -c make # buildkit)"
	assert.DeepEqual(t, summary(res), []string{
		"image-history " + where + " API_TOKEN",
		"image-history " + where + " DB_PASSWORD db-password/raw",
		"image-history " + where + " SECRET_KEY",
	})
	assertNoValue(t, res, value, "other-token-1", "other-key-22")
}
