package convert

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/mapping"
)

const project = `services:
  app:
    image: busybox
    secrets: [db_password, api.key, tls, legacy, pinned, token]
secrets:
  db_password:
    file: ./secrets/db_password   # written by migrate
  api.key:
    file: ./secrets/api_key
    x-vault: prod-api-key
  tls:
    file: ./tls.pem
    x-vault: false
  legacy:
    external: true
  pinned:
    file: ./secrets/pinned
    x-vault: {name: pinned, version: 0123456789abcdef0123456789abcdef}
  token:
    environment: TOKEN
`

// Values that must never appear in output, errors or the rewritten files.
var values = map[string]string{
	"secrets/db_password": "Conv-Db-Pw-7731\n",
	"secrets/api_key":     "conv-api-key-9902",
	"tls.pem":             "-----BEGIN CERT-----conv-tls-3310",
	"secrets/pinned":      "conv-pinned-5521",
}

func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o700))
		assert.NilError(t, os.WriteFile(path, []byte(content), 0o600))
	}
	return dir
}

func loadProject(t *testing.T, dir string, files ...string) *compose.Project {
	t.Helper()
	p, err := compose.Load(context.Background(), compose.LoadOptions{WorkingDir: dir, Files: files, Environ: []string{"TOKEN=x"}, Profiles: []string{"*"}})
	assert.NilError(t, err)
	return p
}

func projectFiles(extra map[string]string) map[string]string {
	files := map[string]string{"compose.yaml": project}
	for k, v := range values {
		files[k] = v
	}
	for k, v := range extra {
		files[k] = v
	}
	return files
}

func TestSources(t *testing.T) {
	dir := writeProject(t, projectFiles(nil))
	p := loadProject(t, dir)
	srcs, err := Sources(p.Compose, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(srcs, []Source{
		{Secret: "api.key", KVName: "prod-api-key", Path: filepath.Join(dir, "secrets/api_key"), Marked: true},
		{Secret: "db_password", KVName: "db-password", Path: filepath.Join(dir, "secrets/db_password")},
		{Secret: "pinned", KVName: "pinned", Path: filepath.Join(dir, "secrets/pinned"), Version: "0123456789abcdef0123456789abcdef", Marked: true},
	}))

	srcs, err = Sources(p.Compose, []string{"db_password", "api.key", "db_password"})
	assert.NilError(t, err)
	assert.Check(t, is.Len(srcs, 2))
	assert.Check(t, is.Equal(srcs[0].Secret, "db_password"))

	for name, want := range map[string]string{
		"tls":     "secret tls is marked x-vault: false (local)",
		"legacy":  "secret legacy is not a file: secret",
		"token":   "secret token is not a file: secret",
		"missing": "the project declares no secret missing (its file: secrets: api.key, db_password, pinned, tls)",
	} {
		_, err := Sources(p.Compose, []string{name})
		assert.Check(t, is.ErrorContains(err, want))
	}
}

func TestSourcesCollide(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": `services:
  app: {image: busybox}
secrets:
  db_password: {file: ./a}
  db.password: {external: true}
`, "a": "x"})
	_, err := Sources(loadProject(t, dir).Compose, nil)
	assert.Check(t, is.ErrorContains(err, "both map to Key Vault secret db-password"))
}

func TestReadValue(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		assert.NilError(t, os.WriteFile(path, b, 0o600))
		return path
	}
	v, err := ReadValue(Source{Secret: "s", Path: write("ok", []byte("Read-Value-1\n"))})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(v), "Read-Value-1\n"), "not byte for byte")

	fifo := filepath.Join(dir, "fifo")
	assert.NilError(t, syscall.Mkfifo(fifo, 0o600))
	secret := "Read-Secret-Bytes-88"
	for path, want := range map[string]string{
		write("empty", nil): "is empty",
		write("big", bytes.Repeat([]byte("x"), MaxValueSize+1)): "more than Key Vault stores",
		write("binary", []byte(secret+"\xff\xfe")):              "is not UTF-8 text",
		filepath.Join(dir, "missing"):                           "no such file or directory",
		dir:                                                     "is not a regular file",
		fifo:                                                    "is not a regular file",
		write("max", bytes.Repeat([]byte("y"), MaxValueSize)): "",
	} {
		v, err := ReadValue(Source{Secret: "s", Path: path})
		if want == "" {
			assert.Check(t, err)
			assert.Check(t, is.Len(v, MaxValueSize))
			continue
		}
		assert.Check(t, is.ErrorContains(err, want), path)
		assert.Check(t, is.ErrorContains(err, "secret s: "), path)
		assert.Check(t, !strings.Contains(fmt.Sprint(err), secret))
		assert.Check(t, v == nil)
	}
}

func TestPlan(t *testing.T) {
	dir := writeProject(t, projectFiles(map[string]string{"compose.override.yaml": `secrets:
  db_password:
    file: ./secrets/db_password
    labels: {team: core}
`}))
	p := loadProject(t, dir, "compose.yaml", "compose.override.yaml")
	conv, err := Plan(p, nil, Options{Values: true})
	assert.NilError(t, err)
	defer conv.Clear()

	var got []string
	for _, v := range conv.Secrets {
		got = append(got, fmt.Sprintf("%s->%s %t %q", v.Secret, v.KVName, v.Push, v.Value))
	}
	assert.Check(t, is.DeepEqual(got, []string{
		`api.key->prod-api-key true "conv-api-key-9902"`,
		`db_password->db-password true "Conv-Db-Pw-7731\n"`,
		`pinned->pinned false ""`, // its value comes from the version it pins
	}))
	main, override := filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "compose.override.yaml")
	assert.Check(t, is.Len(conv.Files, 2))
	assert.Check(t, is.Equal(string(conv.Files[override]), `secrets:
  db_password:
    external: true
    x-vault: {name: db-password}
    labels: {team: core}
`))
	assert.Check(t, is.Contains(string(conv.Files[main]), `  db_password:
    external: true   # written by migrate
    x-vault: {name: db-password}
  api.key:
    external: true
    x-vault: prod-api-key
  tls:
    file: ./tls.pem
    x-vault: false
`))
	// Nothing was written, and the formatted conversion holds no value.
	b, _ := os.ReadFile(main)
	assert.Check(t, is.Equal(string(b), project))
	for _, s := range []string{fmt.Sprint(conv), fmt.Sprintf("%+v %#v", *conv, conv.Secrets)} {
		for _, v := range values {
			assert.Check(t, !strings.Contains(s, strings.TrimSpace(v)), "formatting leaks a value: %s", s)
		}
	}

	// The result loads with compose-go, as the mapping sees it.
	for path, b := range conv.Files {
		assert.NilError(t, os.WriteFile(path, b, 0o600))
	}
	q := loadProject(t, dir, "compose.yaml", "compose.override.yaml")
	secrets, err := mapping.Secrets(q.Compose)
	assert.NilError(t, err)
	kinds := map[string]string{}
	for _, s := range secrets {
		kinds[s.Key] = fmt.Sprintf("%s %s local=%t", s.Kind, s.KVName, s.Local)
	}
	assert.Check(t, is.DeepEqual(kinds, map[string]string{
		"api.key":     "external prod-api-key local=false",
		"db_password": "external db-password local=false",
		"legacy":      "external legacy local=false",
		"pinned":      "external pinned local=false",
		"tls":         "file  local=true",
	}))
	// A second conversion finds nothing to do.
	conv, err = Plan(q, nil, Options{Values: true})
	assert.NilError(t, err)
	assert.Check(t, is.Len(conv.Secrets, 0))
	assert.Check(t, is.Len(conv.Files, 0))
}

func TestPlanIncludedFile(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml":     "include: [sub/compose.yaml]\nservices:\n  app:\n    image: busybox\n    secrets: [inc]\n",
		"sub/compose.yaml": "services:\n  sub:\n    image: busybox\nsecrets:\n  inc:\n    file: ./inc.txt\n",
		"sub/inc.txt":      "Conv-Included-6612",
	})
	p := loadProject(t, dir)
	conv, err := Plan(p, nil, Options{Values: true})
	assert.NilError(t, err)
	assert.Check(t, is.Len(conv.Secrets, 1))
	assert.Check(t, is.Equal(string(conv.Secrets[0].Value), "Conv-Included-6612"))
	assert.Check(t, is.Equal(string(conv.Files[filepath.Join(dir, "sub/compose.yaml")]),
		"services:\n  sub:\n    image: busybox\nsecrets:\n  inc:\n    external: true\n    x-vault: {name: inc}\n"))
}

func TestPlanEditsCurrentContent(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": "services:\n  app: {image: busybox}\nsecrets:\n  a: {file: ./a}\n", "a": "Conv-A-1"})
	p := loadProject(t, dir)
	main := filepath.Join(dir, "compose.yaml")
	// As if migrate had already added a secret.
	current := map[string][]byte{main: []byte("services:\n  app: {image: busybox}\nsecrets:\n  a: {file: ./a}\n  b: {external: true}\n")}
	conv, err := Plan(p, current, Options{Values: true})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(conv.Files[main]), "services:\n  app: {image: busybox}\nsecrets:\n  a: {external: true, x-vault: {name: a}}\n  b: {external: true}\n"))
}

func TestPlanRefusesWhatItCannotEdit(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": "x-s: &s\n  file: ./a\nservices:\n  app: {image: busybox}\nsecrets:\n  a: *s\n  b: *s\n",
		"a":            "Conv-Shared-1",
	})
	_, err := Plan(loadProject(t, dir), nil, Options{Values: true})
	assert.Check(t, is.ErrorContains(err, "cannot convert file secret a to an external one (edit its definition by hand)"))

	dir = writeProject(t, map[string]string{"compose.yaml": "services:\n  app: {image: busybox}\nsecrets:\n  a: {file: ./missing}\n"})
	_, err = Plan(loadProject(t, dir), nil, Options{Values: true})
	assert.Check(t, is.ErrorContains(err, "secret a: open "))
}

func TestSourcesBadNameOnlyWhenAsked(t *testing.T) {
	// Compose allows longer names than Key Vault (127 characters).
	long := strings.Repeat("a", 128)
	dir := writeProject(t, map[string]string{"compose.yaml": `services:
  app: {image: busybox}
secrets:
  ` + long + `: {file: ./a}
  good: {file: ./b}
`})
	p := loadProject(t, dir).Compose
	_, err := Sources(p, nil)
	assert.Check(t, is.ErrorContains(err, "which is not a valid Key Vault secret name"))
	_, err = Sources(p, []string{long})
	assert.Check(t, is.ErrorContains(err, "which is not a valid Key Vault secret name"))
	srcs, err := Sources(p, []string{"good"})
	assert.NilError(t, err)
	assert.Check(t, is.Len(srcs, 1))
}

func TestPlanWithoutValues(t *testing.T) {
	// The secret files are git-ignored: a CI checkout has none.
	dir := writeProject(t, map[string]string{"compose.yaml": "services:\n  app: {image: busybox}\nsecrets:\n  a: {file: ./secrets/a}\n"})
	p := loadProject(t, dir)
	_, err := Plan(p, nil, Options{Values: true})
	assert.Check(t, is.ErrorContains(err, "secret a: open "))
	conv, err := Plan(p, nil, Options{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(conv.Secrets, 1))
	assert.Check(t, conv.Secrets[0].Value == nil)
	assert.Check(t, conv.Secrets[0].Push, "a dry run lists the push it would make")
	assert.Check(t, is.Len(conv.Files, 1))
}

func TestPlanMarkedNeverSynced(t *testing.T) {
	// Key Vault-backed, and sync has not written its file here: its value
	// is in Key Vault already, and there is nothing to push.
	dir := writeProject(t, map[string]string{"compose.yaml": "services:\n  app: {image: busybox}\nsecrets:\n  a: {file: ./secrets/a, x-vault: true}\n  b: {file: ./secrets/b}\n", "secrets/b": "Conv-B-1"})
	conv, err := Plan(loadProject(t, dir), nil, Options{Values: true})
	assert.NilError(t, err)
	assert.Assert(t, is.Len(conv.Secrets, 2))
	assert.Check(t, !conv.Secrets[0].Push && conv.Secrets[0].Value == nil)
	assert.Check(t, conv.Secrets[1].Push && string(conv.Secrets[1].Value) == "Conv-B-1")
	assert.Check(t, is.Contains(string(conv.Files[filepath.Join(dir, "compose.yaml")]), "a: {external: true, x-vault: true}"))
}

// TestPlanWithEnvironment: file secrets become environment-sourced ones;
// an x-vault name is added only where the derived one is not the secret's
// Key Vault name; Keep leaves a secret alone, with its reason.
func TestPlanWithEnvironment(t *testing.T) {
	dir := writeProject(t, projectFiles(map[string]string{
		"compose.yaml": strings.Replace(project, "  api.key:\n    file: ./secrets/api_key\n    x-vault: prod-api-key\n",
			"  api.key:\n    file: ./secrets/api_key\n", 1) + "x-vault:\n  files: true\n",
	}))
	p := loadProject(t, dir)
	var asked []string
	conv, err := Plan(p, nil, Options{
		Values:   true,
		Variable: func(src Source) string { asked = append(asked, src.Secret); return "V_" + strings.ToUpper(src.KVName) },
		Keep: func(src Source) string {
			if src.Secret == "pinned" {
				return "pinned stays"
			}
			return ""
		},
	})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(conv.Kept, []string{"pinned stays"}))
	var names []string
	for _, v := range conv.Secrets {
		names = append(names, fmt.Sprintf("%s push=%v", v.Secret, v.Push))
	}
	assert.Check(t, is.DeepEqual(names, []string{"api.key push=true", "db_password push=true"}))
	assert.Check(t, is.DeepEqual(asked, []string{"api.key", "db_password"}))
	got := string(conv.Files[filepath.Join(dir, "compose.yaml")])
	assert.Check(t, is.Contains(got, `  db_password:
    environment: V_DB-PASSWORD   # written by migrate
  api.key:
    environment: V_API-KEY
  tls:
`))
	assert.Check(t, is.Contains(got, "  pinned:\n    file: ./secrets/pinned\n"))
	for _, v := range values {
		assert.Check(t, !strings.Contains(got, v))
	}
	conv.Clear()
}
