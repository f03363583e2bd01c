package yamledit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"go.yaml.in/yaml/v3"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
)

// op is one edit, so tests can list edits as data.
type op struct {
	kind                        string // replace, remove, secret, top
	service, key, newKey, value string
	fields                      [][2]string
}

func replaceOp(service, key, newKey, value string) op {
	return op{kind: "replace", service: service, key: key, newKey: newKey, value: value}
}

func removeOp(service, key string) op { return op{kind: "remove", service: service, key: key} }

func secretOp(service, name string) op { return op{kind: "secret", service: service, key: name} }

func topOp(name string, fields ...[2]string) op { return op{kind: "top", key: name, fields: fields} }

func (o op) apply(d *Doc) error {
	switch o.kind {
	case "replace":
		return d.ReplaceEnv(o.service, o.key, o.newKey, o.value)
	case "remove":
		return d.RemoveEnv(o.service, o.key)
	case "secret":
		return d.AddServiceSecret(o.service, o.key)
	case "top":
		return d.AddTopLevelSecret(o.key, o.fields)
	}
	panic("unknown op " + o.kind)
}

// edits is what a list of ops is expected to change, in compose's model.
type edits struct {
	env     map[string]map[string]*string // service -> key -> new value, nil when removed
	secrets map[string][]string           // service -> secrets added
	top     []string                      // top-level secrets added
	lines   []int                         // lines of the environment entries edited
}

// run applies ops, failing the test on any error, and records the expected
// changes, including those to every service sharing an edited entry.
func run(t *testing.T, d *Doc, ops []op) edits {
	t.Helper()
	e := edits{env: map[string]map[string]*string{}, secrets: map[string][]string{}}
	for _, o := range ops {
		var sharers []string
		for _, ent := range d.EnvEntries(o.service) {
			if ent.Key == o.key {
				sharers = append(sharers, ent.Services...)
				e.lines = append(e.lines, ent.Line)
			}
		}
		assert.NilError(t, o.apply(d), "%+v", o)
		switch o.kind {
		case "replace", "remove":
			for _, s := range sharers {
				if e.env[s] == nil {
					e.env[s] = map[string]*string{}
				}
				e.env[s][o.key] = nil
				if o.kind == "replace" {
					v := o.value
					e.env[s][o.newKey] = &v
				}
			}
		case "secret":
			e.secrets[o.service] = append(e.secrets[o.service], o.key)
		case "top":
			e.top = append(e.top, o.key)
		}
	}
	return e
}

// loadModel loads a compose file the way docker compose does (with the
// project's .env, from the file's folder) and returns compose-go's model of
// it. lenient skips the checks a file can fail on its own (schema,
// consistency, env_file): to compare files compose would reject.
func loadModel(t *testing.T, dir, file string, lenient bool) (map[string]any, error) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, file)
	wd := filepath.Dir(path)
	opts, err := cli.NewProjectOptions([]string{path},
		cli.WithWorkingDirectory(wd), cli.WithName("yamledit"), cli.WithEnvFiles(), cli.WithDotEnv)
	if err != nil {
		return nil, err
	}
	if !lenient {
		if _, err := opts.LoadProject(ctx); err != nil {
			return nil, err
		}
	}
	// ProjectOptions.LoadModel does not pass the environment on to
	// interpolation: load the model with it here.
	details, err := opts.ReadConfigFiles(ctx, wd, opts)
	if err != nil {
		return nil, err
	}
	details.Environment = opts.Environment
	return loader.LoadModelWithContext(ctx, *details, func(o *loader.Options) {
		o.SetProjectName("yamledit", true)
		if lenient {
			o.SkipValidation, o.SkipConsistencyCheck, o.SkipResolveEnvironment = true, true, true
		}
	})
}

// createSecretFiles creates the files top-level secrets point to.
func createSecretFiles(t *testing.T, dir string, data []byte) {
	t.Helper()
	d, err := Parse("compose.yaml", data)
	assert.NilError(t, err)
	defs := d.Node("secrets")
	if defs == nil || defs.Kind != yaml.MappingNode {
		return
	}
	for i := 1; i < len(defs.Content); i += 2 {
		def := deref(defs.Content[i])
		if def == nil || def.Kind != yaml.MappingNode {
			continue
		}
		if f, _ := lookup(def, "file"); f != nil && f.value.Value != "" && !filepath.IsAbs(f.value.Value) {
			p := filepath.Join(dir, f.value.Value)
			assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			if _, err := os.Stat(p); err != nil {
				assert.NilError(t, os.WriteFile(p, []byte("x"), 0o600))
			}
		}
	}
}

// checkCompose writes before and after into dir as file, loads both with
// compose-go, and checks that after is before with exactly the edits made:
// nothing else lost or changed. It reports whether before loads: when it
// does not, after must fail the same way, and the models are compared with
// compose's checks off.
func checkCompose(t *testing.T, dir, file string, before, after []byte, e edits) bool {
	t.Helper()
	path := filepath.Join(dir, file)
	assert.NilError(t, os.WriteFile(path, before, 0o600))
	defer func() { assert.NilError(t, os.WriteFile(path, before, 0o600)) }()
	_, strictErr := loadModel(t, dir, file, false)
	want, err := loadModel(t, dir, file, strictErr != nil)
	assert.NilError(t, err, "the input does not load")
	createSecretFiles(t, dir, after)
	assert.NilError(t, os.WriteFile(path, after, 0o600))
	_, err = loadModel(t, dir, file, false)
	if strictErr == nil {
		assert.NilError(t, err, "the output does not load")
	} else {
		assert.Error(t, err, strictErr.Error(), "the output does not fail as the input does")
	}
	got, err := loadModel(t, dir, file, strictErr != nil)
	assert.NilError(t, err, "the output does not load")

	// An entry edited inside a top-level x- key (where shared anchors
	// live) changes that key: its effect is checked in the services.
	d, err := Parse(file, before)
	assert.NilError(t, err)
	root := d.root.Content[0]
	for i := 0; i < len(root.Content); i += 2 {
		name := root.Content[i].Value
		if !strings.HasPrefix(name, "x-") {
			continue
		}
		from, to := root.Content[i].Line, 1<<30
		if i+2 < len(root.Content) {
			to = root.Content[i+2].Line
		}
		if slices.ContainsFunc(e.lines, func(l int) bool { return l >= from && l < to }) {
			delete(want, name)
			delete(got, name)
		}
	}

	services := func(m map[string]any) map[string]any {
		s, _ := m["services"].(map[string]any)
		return s
	}
	for _, m := range []map[string]any{want, got} {
		for _, svc := range services(m) {
			normalizeEnv(svc.(map[string]any))
		}
	}
	for name, changes := range e.env {
		svc := services(want)[name].(map[string]any)
		env, _ := svc["environment"].(map[string]any)
		if env == nil {
			env = map[string]any{}
		}
		for k, v := range changes {
			if v == nil {
				delete(env, k)
			} else {
				env[k] = *v
			}
		}
		svc["environment"] = env
		normalizeEnv(svc)
	}
	for name, added := range e.secrets {
		svc := services(want)[name].(map[string]any)
		list, _ := svc["secrets"].([]any)
		for _, s := range added {
			if !slices.ContainsFunc(list, func(x any) bool { return x.(map[string]any)["source"] == s }) {
				list = append(list, map[string]any{"source": s, "target": "/run/secrets/" + s})
			}
		}
		svc["secrets"] = list
	}
	for _, name := range e.top {
		defs, _ := got["secrets"].(map[string]any)
		assert.Assert(t, defs[name] != nil, "top-level secret %s missing", name)
		delete(defs, name)
		if wdefs, _ := want["secrets"].(map[string]any); wdefs != nil {
			delete(wdefs, name)
			if len(wdefs) == 0 {
				delete(want, "secrets")
			}
		}
		if len(defs) == 0 {
			delete(got, "secrets")
		}
	}
	assert.DeepEqual(t, want, got)
	return strictErr == nil
}

// normalizeEnv turns a list environment into a map, and drops an empty one:
// compose treats both the same.
func normalizeEnv(svc map[string]any) {
	switch env := svc["environment"].(type) {
	case []any:
		m := map[string]any{}
		for _, it := range env {
			k, v, ok := strings.Cut(it.(string), "=")
			if ok {
				m[k] = v
			} else {
				m[k] = nil
			}
		}
		svc["environment"] = m
	}
	if m, ok := svc["environment"].(map[string]any); ok && len(m) == 0 {
		delete(svc, "environment")
	}
}

// assertGolden compares bytes exactly (CRLF matters here) but shows a
// readable diff when they differ.
func assertGolden(t *testing.T, actual []byte, name string) {
	t.Helper()
	if !golden.FlagUpdate() {
		if want := golden.Get(t, name); !bytes.Equal(want, actual) {
			assert.Equal(t, string(actual), string(want))
		}
	}
	golden.AssertBytes(t, actual, name)
}

// reparse checks that b parses and returns the Doc.
func reparse(t *testing.T, b []byte) *Doc {
	t.Helper()
	d, err := Parse("out.yaml", b)
	assert.NilError(t, err)
	return d
}
