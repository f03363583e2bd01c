package envrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// load loads the compose files (name -> YAML) in a new folder, in order,
// the way docker compose does: the first is the main file.
func load(t *testing.T, files ...string) (*types.Project, string) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, y := range files {
		f := filepath.Join(dir, fmt.Sprintf("compose%d.yaml", i))
		assert.NilError(t, os.WriteFile(f, []byte(y), 0o600))
		paths = append(paths, f)
	}
	opts, err := cli.NewProjectOptions(paths, cli.WithName("p"), cli.WithWorkingDirectory(dir))
	assert.NilError(t, err)
	p, err := opts.LoadProject(context.Background())
	assert.NilError(t, err)
	return p, dir
}

const project = `
services:
  app:
    image: busybox
    user: "999:999"
    build:
      context: .
      secrets: [npm_token]
    secrets:
      - source: db_password
        target: db
        mode: 0440
      - tls.key
      - source: api_key
        uid: "0"
      - legacy
      - hand_made
secrets:
  db_password:
    external: true
    name: prod_db_password
  tls.key:
    file: ./tls.key
    x-vault: {name: tls-key-prod, version: 0123abcd}
  legacy:
    file: ./legacy.txt
  hand_made:
    external: true
    x-vault: false
  api_key:
    environment: API_KEY
    x-vault: api-key-prod
  npm_token:
    environment: NPM_TOKEN
  own_var:
    environment: OWN_VAR
    x-vault: false
`

func TestEnvironment(t *testing.T) {
	p, _ := load(t, project)
	got, err := Environment(p)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got, []Secret{
		{Key: "api_key", Source: FromEnvironment, Var: "API_KEY", KVName: "api-key-prod"},
		{Key: "npm_token", Source: FromEnvironment, Var: "NPM_TOKEN", KVName: "npm-token"},
	}))
}

func TestMapped(t *testing.T) {
	p, _ := load(t, project)
	got, err := Mapped(p)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got, []Secret{
		{Key: "api_key", Source: FromEnvironment, Var: "API_KEY", KVName: "api-key-prod"},
		{Key: "db_password", Source: FromExternal, Var: "DOCKER_VAULT_SECRET_DB_PASSWORD", KVName: "db-password"},
		{Key: "npm_token", Source: FromEnvironment, Var: "NPM_TOKEN", KVName: "npm-token"},
		{Key: "tls.key", Source: FromFile, Var: "DOCKER_VAULT_SECRET_TLS_KEY", KVName: "tls-key-prod", Version: "0123abcd"},
	}))
	assert.Check(t, is.DeepEqual(Vars(got), []string{"API_KEY", "DOCKER_VAULT_SECRET_DB_PASSWORD", "DOCKER_VAULT_SECRET_TLS_KEY", "NPM_TOKEN"}))
	assert.Check(t, is.DeepEqual(UIDGIDUsers(p, got), []string{"app (api_key)"}))
}

// The override loads after the project's own files, as `docker compose -f
// FILE... -f -` loads it: every converted secret is one compose reads from
// its variable, with its name, and each service's references unchanged.
func TestOverrideReloads(t *testing.T) {
	p, dir := load(t, project)
	secrets, err := Mapped(p)
	assert.NilError(t, err)
	override, err := Override(secrets)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(override), `secrets:
  db_password:
    external: !reset null
    environment: DOCKER_VAULT_SECRET_DB_PASSWORD
  tls.key:
    file: !reset null
    environment: DOCKER_VAULT_SECRET_TLS_KEY
`))

	f := filepath.Join(dir, "override.yaml")
	assert.NilError(t, os.WriteFile(f, override, 0o600))
	opts, err := cli.NewProjectOptions(append(p.ComposeFiles, f), cli.WithName("p"), cli.WithWorkingDirectory(dir))
	assert.NilError(t, err)
	q, err := opts.LoadProject(context.Background())
	assert.NilError(t, err)
	assert.Check(t, is.Equal(q.Name, p.Name))
	for key, want := range map[string]types.SecretConfig{
		"db_password": {Name: "prod_db_password", Environment: "DOCKER_VAULT_SECRET_DB_PASSWORD"},
		"tls.key":     {Name: "p_tls.key", Environment: "DOCKER_VAULT_SECRET_TLS_KEY"},
		"api_key":     {Name: "p_api_key", Environment: "API_KEY"},
		"legacy":      {Name: "p_legacy", File: filepath.Join(dir, "legacy.txt")},
		"hand_made":   {Name: "hand_made", External: true},
	} {
		got := q.Secrets[key]
		assert.Check(t, is.Equal(got.Name, want.Name), key)
		assert.Check(t, is.Equal(got.Environment, want.Environment), key)
		assert.Check(t, is.Equal(got.File, want.File), key)
		assert.Check(t, is.Equal(bool(got.External), bool(want.External)), key)
	}
	assert.Check(t, is.DeepEqual(q.Services["app"].Secrets, p.Services["app"].Secrets))
	assert.Check(t, is.Equal(q.Services["app"].User, "999:999"))
}

func TestOverrideNothingToConvert(t *testing.T) {
	p, _ := load(t, `
services:
  app: {image: busybox, secrets: [token]}
secrets:
  token: {environment: TOKEN}
`)
	secrets, err := Mapped(p)
	assert.NilError(t, err)
	override, err := Override(secrets)
	assert.NilError(t, err)
	assert.Check(t, override == nil)
}

func TestVarNames(t *testing.T) {
	p, _ := load(t, `
services:
  app: {image: busybox, secrets: [a.b, a_b, a-b]}
secrets:
  a.b: {external: true}
  a_b: {external: true, x-vault: a-b-2}
  a-b: {external: true, x-vault: a-b-3}
`)
	got, err := Mapped(p)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(Vars(got), []string{"DOCKER_VAULT_SECRET_A_B", "DOCKER_VAULT_SECRET_A_B_2", "DOCKER_VAULT_SECRET_A_B_3"}))
}

func TestOneVariableTwoSecrets(t *testing.T) {
	p, _ := load(t, `
services:
  app: {image: busybox, secrets: [a, b, c]}
secrets:
  a: {environment: TOKEN, x-vault: token}
  b: {environment: TOKEN, x-vault: token}
  c: {environment: TOKEN, x-vault: other}
`)
	_, err := Environment(p)
	assert.Check(t, is.Error(err, "secrets a and c both read variable TOKEN but map to different Key Vault secrets: give them one x-vault name, or separate variables"))
}

// fakeStore answers Get from values; a name it lacks is not found.
type fakeStore struct {
	keyvault.Store
	mu     sync.Mutex
	values map[string]string
	gets   map[string]int
	err    error
}

func (f *fakeStore) VaultURL() string { return "https://envrun-test.vault.azure.net" }

func (f *fakeStore) Get(_ context.Context, name, version string) (keyvault.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gets == nil {
		f.gets = map[string]int{}
	}
	f.gets[name+"@"+version]++
	if f.err != nil {
		return keyvault.Secret{}, f.err
	}
	v, ok := f.values[name]
	if !ok {
		return keyvault.Secret{}, &keyvault.Error{Op: keyvault.OpGet, Vault: f.VaultURL(), Name: name, Detail: "secret not found", Err: keyvault.ErrNotFound}
	}
	return keyvault.Secret{SecretProperties: keyvault.SecretProperties{Name: name, Version: "v-" + name}, Value: []byte(v)}, nil
}

func TestRead(t *testing.T) {
	store := &fakeStore{values: map[string]string{"token": "SENTINEL-token", "db-password": "SENTINEL-db"}}
	secrets := []Secret{
		{Key: "a", Var: "TOKEN", KVName: "token"},
		{Key: "b", Var: "TOKEN", KVName: "Token"},
		{Key: "db_password", Var: "DOCKER_VAULT_SECRET_DB_PASSWORD", KVName: "db-password"},
	}
	vals, err := Read(context.Background(), store, secrets, 2)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(store.gets, map[string]int{"token@": 1, "db-password@": 1}), "each Key Vault secret is read once")
	assert.Assert(t, is.Len(vals, 2))
	assert.Check(t, is.Equal(vals[0].Var, "TOKEN"))
	assert.Check(t, is.Equal(string(vals[0].Value), "SENTINEL-token"))
	assert.Check(t, is.Equal(vals[1].Version, "v-db-password"))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		for _, x := range []any{vals[0], &vals[0], vals} {
			out := fmt.Sprintf(verb, x)
			for _, form := range []string{"SENTINEL", fmt.Sprintf("%x", "SENTINEL"), strings.Trim(fmt.Sprint([]byte("SENTINEL")), "[]")} {
				assert.Check(t, !strings.Contains(out, form), "%s prints %s", verb, out)
			}
		}
	}
	b, err := json.Marshal(vals)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), `[{"var":"TOKEN","secret":"a","vaultSecret":"token","version":"v-token"},{"var":"DOCKER_VAULT_SECRET_DB_PASSWORD","secret":"db_password","vaultSecret":"db-password","version":"v-db-password"}]`))
	assert.Check(t, is.Equal(fmt.Sprint(vals[0]), "TOKEN (secret a, Key Vault secret token version v-token)"))
	Clear(vals)
	assert.Check(t, is.Equal(strings.Trim(string(vals[0].Value), "\x00"), ""))
}

func TestReadMissing(t *testing.T) {
	store := &fakeStore{values: map[string]string{"token": "SENTINEL-token"}}
	vals, err := Read(context.Background(), store, []Secret{
		{Key: "token", Var: "TOKEN", KVName: "token"},
		{Key: "db_password", Var: "DB", KVName: "db-password"},
	}, 1)
	assert.Check(t, is.Nil(vals))
	assert.Check(t, is.Error(err, "secret db_password: failed to get secret db-password from https://envrun-test.vault.azure.net: secret not found (create it with `docker vault set db-password`, or map the secret to another Key Vault secret with x-vault.name)"))
	assert.Check(t, errors.Is(err, keyvault.ErrNotFound))

	store = &fakeStore{err: keyvault.ErrUnauthenticated}
	_, err = Read(context.Background(), store, []Secret{{Key: "token", Var: "TOKEN", KVName: "token"}}, 1)
	assert.Check(t, is.Error(err, "secret token: not signed in to Azure"))
}

func TestSelect(t *testing.T) {
	secrets := []Secret{{Key: "a", Var: "TOKEN", KVName: "token"}, {Key: "b", Var: "DB", KVName: "db"}}
	base := []string{"PATH=/bin", "TOKEN=from-shell"}

	read, notes := Select(secrets, base, false)
	assert.Check(t, is.DeepEqual(read, secrets))
	assert.Check(t, is.DeepEqual(notes, []string{"TOKEN is set in the environment: Key Vault's value is used for secret a (--no-override keeps the environment's)"}))

	read, notes = Select(secrets, base, true)
	assert.Check(t, is.DeepEqual(read, secrets[1:]))
	assert.Check(t, is.DeepEqual(notes, []string{"TOKEN is set in the environment: its value is used for secret a, not Key Vault's (--no-override)"}))
}

func TestEnviron(t *testing.T) {
	base := []string{"PATH=/bin", "TOKEN=from-shell", "OTHER=x"}
	vals := []Value{{Var: "TOKEN", Key: "a", KVName: "token", Value: []byte("kv")}, {Var: "DB", Key: "b", KVName: "db", Value: []byte("db=1")}}
	env, err := Environ(base, vals, []string{"docker", "compose", "up"}, Limits{Entry: 1 << 17, Total: 1 << 20})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(env, []string{"PATH=/bin", "OTHER=x", "TOKEN=kv", "DB=db=1"}))

	// Without limits, anything goes but NUL.
	_, err = Environ(nil, []Value{{Var: "BIG", Value: make([]byte, 1<<20)}}, nil, Limits{})
	assert.Check(t, is.ErrorContains(err, "NUL byte"))
	env, err = Environ(nil, []Value{{Var: "BIG", Value: []byte(strings.Repeat("x", 1<<20))}}, nil, Limits{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(env, 1))
}

func TestEnvironLimits(t *testing.T) {
	lim := Limits{Entry: 32 * 4096, Total: 200 << 10}
	// "V=" + value + NUL: the largest value one string holds.
	fits := Value{Var: "V", Key: "v", KVName: "kv-v", Value: []byte(strings.Repeat("x", lim.Entry-3))}
	_, err := Environ(nil, []Value{fits}, nil, lim)
	assert.NilError(t, err)

	over := fits
	over.Value = []byte(strings.Repeat("x", lim.Entry-2))
	env, err := Environ(nil, []Value{over}, nil, lim)
	assert.Check(t, env == nil, "an environment was returned")
	assert.Check(t, is.Error(err, "secret v: the value of Key Vault secret kv-v is 131070 bytes, over the 131072 bytes one environment variable may hold (V=value, MAX_ARG_STRLEN): keep it in a file secret (docker vault sync) instead"))

	// Each fits, both do not: the largest is named.
	a := Value{Var: "A", Key: "a", KVName: "kv-a", Value: []byte(strings.Repeat("a", 100<<10))}
	b := Value{Var: "B", Key: "b", KVName: "kv-b", Value: []byte(strings.Repeat("b", 120<<10))}
	env, err = Environ([]string{"PATH=/bin"}, []Value{a, b}, []string{"docker"}, lim)
	assert.Check(t, env == nil, "an environment was returned")
	assert.Check(t, is.ErrorContains(err, "over the 204800 bytes this system allows a new process (ARG_MAX, less 8192 for the docker CLI); the largest value is secret b's (Key Vault secret kv-b, 122880 bytes)"))
	assert.Check(t, !strings.Contains(err.Error(), "aaaa") && !strings.Contains(err.Error(), "bbbb"))
}
