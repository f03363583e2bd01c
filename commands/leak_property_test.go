package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/docker-vault/docker-vault/internal/envrun"
	"github.com/docker-vault/docker-vault/internal/scan"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/build"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/migrate"
	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/docker-vault/docker-vault/internal/swarm"
	"github.com/docker-vault/docker-vault/internal/yamledit"
	"github.com/docker/cli/cli-plugins/manager"
	swarmtypes "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// This file puts random values through every path that fails (a bad .env,
// bad interpolation, bad YAML, an include, Key Vault errors, engine errors,
// build errors) and checks that no output, error or file left behind
// holds one: the property DESIGN.md states ("no value is printed, logged,
// put in an error..."), tried on values of every shape rather than on the
// few each command test uses.

// leakRuns bounds the property test: this many values, spread over the
// paths.
const leakRuns = 200

// leakValue makes a random value: ASCII, multi-line, heavy in <&>"'$\ or
// unicode. Each holds a core of 10 letters and digits no syntax escapes,
// so a message quoting any part of the value that holds the core is
// caught even where the value was written escaped.
func leakValue(r *rand.Rand) string {
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	pick := func(set string, n int) string {
		rs := []rune(set)
		var b strings.Builder
		for range n {
			b.WriteRune(rs[r.IntN(len(rs))])
		}
		return b.String()
	}
	core := pick(alnum, 10)
	var rest string
	switch r.IntN(4) {
	case 0: // printable ASCII, space included
		var b strings.Builder
		for range 4 + r.IntN(20) {
			b.WriteByte(byte(' ' + r.IntN(95)))
		}
		rest = b.String()
	case 1: // multi-line
		rest = pick(alnum, 8) + "\n" + pick(alnum+" <&>", 8+r.IntN(8))
		if r.IntN(2) == 0 {
			rest += "\n" + pick(alnum, 8)
		}
	case 2: // shell and markup characters
		rest = pick(`<&>"'$\{}#=:`+"`"+alnum, 6+r.IntN(16))
	default: // unicode: letters of several scripts, an emoji
		core = pick("αβγδεζηθλμπσωжзийклмнопрсфцчшщ漢字仮名交じり文", 10)
		rest = pick("äöüßéèçñ€£¥•—🔑🙂ÆØÅ", 4+r.IntN(10))
	}
	switch r.IntN(3) {
	case 0:
		return core + rest
	case 1:
		return rest + core
	}
	i := r.IntN(len(rest) + 1)
	for i > 0 && !utf8.RuneStart(rest[i%len(rest)]) {
		i--
	}
	return rest[:i] + core + rest[i:]
}

// needles are what no output may hold: the value, each of its lines, and
// each run of it between characters a file format escapes.
func needles(v string) []string {
	out := []string{v}
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune("\n\t\\\"'$`", r) }) {
		if utf8.RuneCountInString(part) >= 8 {
			out = append(out, part)
		}
	}
	return out
}

// dq writes v inside a double-quoted .env value: read back, it is v.
func dq(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`).Replace(v)
}

// ydq writes v inside a YAML double-quoted scalar, with $ doubled so that
// compose's interpolation gives v back.
func ydq(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`, `$`, `$$`).Replace(v)
}

// leakEngine is a swarm manager held in memory: it holds swarm secrets and
// services, and fails SecretCreate or ServiceUpdate with the engine's kind
// of message when told to. Like the engine, it refuses empty secret data.
type leakEngine struct {
	fakeClient
	mu        sync.Mutex
	secrets   []swarmtypes.Secret
	services  []swarmtypes.Service
	createErr error
	updateErr error
}

func (e *leakEngine) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	var i system.Info
	i.Swarm.LocalNodeState = "active"
	i.Swarm.ControlAvailable = true
	return client.SystemInfoResult{Info: i}, nil
}

func (e *leakEngine) SecretList(context.Context, client.SecretListOptions) (client.SecretListResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return client.SecretListResult{Items: append([]swarmtypes.Secret(nil), e.secrets...)}, nil
}

func (e *leakEngine) SecretCreate(_ context.Context, o client.SecretCreateOptions) (client.SecretCreateResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.createErr != nil {
		return client.SecretCreateResult{}, e.createErr
	}
	if len(o.Spec.Data) == 0 {
		return client.SecretCreateResult{}, errors.New("Error response from daemon: rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than 500 KB")
	}
	spec := o.Spec
	spec.Data = nil // the engine never gives data back
	id := "id" + strconv.Itoa(len(e.secrets)+1)
	e.secrets = append(e.secrets, swarmtypes.Secret{ID: id, Spec: spec, Meta: swarmtypes.Meta{CreatedAt: time.Now()}})
	return client.SecretCreateResult{ID: id}, nil
}

func (e *leakEngine) SecretInspect(_ context.Context, id string, _ client.SecretInspectOptions) (client.SecretInspectResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.secrets {
		if s.ID == id || s.Spec.Name == id {
			return client.SecretInspectResult{Secret: s}, nil
		}
	}
	return client.SecretInspectResult{}, fmt.Errorf("Error response from daemon: secret %s not found", id)
}

func (e *leakEngine) SecretUpdate(context.Context, string, client.SecretUpdateOptions) (client.SecretUpdateResult, error) {
	return client.SecretUpdateResult{}, nil
}

func (e *leakEngine) SecretRemove(context.Context, string, client.SecretRemoveOptions) (client.SecretRemoveResult, error) {
	return client.SecretRemoveResult{}, nil
}

func (e *leakEngine) ServiceList(context.Context, client.ServiceListOptions) (client.ServiceListResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return client.ServiceListResult{Items: append([]swarmtypes.Service(nil), e.services...)}, nil
}

func (e *leakEngine) ServiceInspect(_ context.Context, id string, _ client.ServiceInspectOptions) (client.ServiceInspectResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.services {
		if s.ID == id {
			return client.ServiceInspectResult{Service: s}, nil
		}
	}
	return client.ServiceInspectResult{}, fmt.Errorf("Error response from daemon: service %s not found", id)
}

func (e *leakEngine) ServiceUpdate(context.Context, string, client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	if e.updateErr != nil {
		return client.ServiceUpdateResult{}, e.updateErr
	}
	return client.ServiceUpdateResult{}, nil
}

func (e *leakEngine) TaskList(context.Context, client.TaskListOptions) (client.TaskListResult, error) {
	return client.TaskListResult{}, nil
}

// ContainerList: no container runs, so a file sync restarts none.
func (e *leakEngine) ContainerList(context.Context, client.ContainerListOptions) (client.ContainerListResult, error) {
	return client.ContainerListResult{}, nil
}

// withDeployed gives the engine version old of db_password, managed for
// vault, and a service of stack "leak" that uses it: a sync rotates it.
func (e *leakEngine) withDeployed(vault string) *leakEngine {
	const old = "00000000000000000000000000000000"
	e.secrets = append(e.secrets, swarmtypes.Secret{ID: "old", Spec: swarmtypes.SecretSpec{
		Annotations: swarmtypes.Annotations{Name: swarm.VersionedName("db_password", old), Labels: map[string]string{
			swarm.LabelManaged: "true", swarm.LabelSecret: "db_password", swarm.LabelVersion: old,
			swarm.LabelSource: vault, swarm.LabelVaultSecret: "db-password", swarm.LabelUpdated: "1",
		}},
	}})
	e.services = append(e.services, swarmtypes.Service{ID: "svc1", Spec: swarmtypes.ServiceSpec{
		Annotations: swarmtypes.Annotations{Name: "leak_app", Labels: map[string]string{swarm.LabelStack: "leak"}},
		TaskTemplate: swarmtypes.TaskSpec{ContainerSpec: &swarmtypes.ContainerSpec{Secrets: []*swarmtypes.SecretReference{{
			SecretID: "old", SecretName: swarm.VersionedName("db_password", old),
			File: &swarmtypes.SecretReferenceFileTarget{Name: "db_password", UID: "0", GID: "0", Mode: 0o444},
		}}}},
	}})
	return e
}

// leakStep is one command line of a path, and whether it must fail.
type leakStep struct {
	args    []string // the command's name, then its arguments
	wantErr bool
}

// leakCase is a project, the vault and engine it meets, and the commands
// run on it.
type leakCase struct {
	files    map[string]string
	vault    map[string]string
	faults   kvtest.Faults
	disabled []string
	engine   *leakEngine
	runner   func(out io.Writer) error // the docker CLI child of build
	runs     []leakStep
}

// loadRuns are the commands that load a project: every one must fail on a
// project that does not load, without quoting it.
func loadRuns(compose string) []leakStep {
	f := []string{"-f", compose}
	var out []leakStep
	for _, args := range [][]string{
		{"migrate"}, {"migrate", "--format", "json"}, {"migrate", "--dry-run"}, {"migrate", "--check"},
		{"migrate", "--to", "external", "--dry-run"}, {"migrate", "--to", "external", "--push"},
		{"sync", "--dry-run"}, {"sync", "--dry-run", "--format", "json"},
		{"ls"}, {"ls", "--format", "json"},
	} {
		out = append(out, leakStep{args: append(args, f...), wantErr: true})
	}
	return append(out, leakStep{args: []string{"build", "--compose", "--no-leak-check", "-f", compose}, wantErr: true})
}

const leakService = "services:\n  app:\n    image: postgres\n"

// leakPaths are the failing paths, each building a case around a value.
var leakPaths = []struct {
	name string
	make func(dir, v string) leakCase
}{
	{"bad .env: unterminated quote", func(dir, v string) leakCase {
		return leakCase{files: map[string]string{
			"compose.yaml": leakService + "    environment:\n      POSTGRES_PASSWORD: ${PW}\n",
			".env":         "A=1\nPW=\"" + dq(v) + "\nB=2\n",
		}, runs: loadRuns(filepath.Join(dir, "compose.yaml"))}
	}},
	{"bad .env: interpolation", func(dir, v string) leakCase {
		return leakCase{files: map[string]string{
			"compose.yaml": leakService + "    environment:\n      POSTGRES_PASSWORD: ${PW}\n",
			".env":         "A=1\nPW=\"" + dq(v) + "${x\"\n",
		}, runs: loadRuns(filepath.Join(dir, "compose.yaml"))}
	}},
	{"bad env_file", func(dir, v string) leakCase {
		return leakCase{files: map[string]string{
			"compose.yaml": leakService + "    env_file: [db.env]\n",
			"db.env":       "POSTGRES_USER=app\nPOSTGRES_PASSWORD=\"" + dq(v) + "${x\"\n",
		}, runs: loadRuns(filepath.Join(dir, "compose.yaml"))}
	}},
	{"bad interpolation", func(dir, v string) leakCase {
		return leakCase{files: map[string]string{
			"compose.yaml": leakService + "    environment:\n      POSTGRES_PASSWORD: \"" + ydq(v) + "${def\"\n",
		}, runs: loadRuns(filepath.Join(dir, "compose.yaml"))}
	}},
	{"bad YAML", func(dir, v string) leakCase {
		return leakCase{files: map[string]string{
			"compose.yaml": leakService + "    environment:\n      POSTGRES_PASSWORD: \"" + ydq(v) + "\n",
		}, runs: loadRuns(filepath.Join(dir, "compose.yaml"))}
	}},
	{"value in a typed key", func(dir, v string) leakCase {
		return leakCase{files: map[string]string{
			"compose.yaml": leakService + "    ports: [\"" + ydq(v) + "\"]\n    environment:\n      POSTGRES_PASSWORD: \"" + ydq(v) + "\"\n",
		}, runs: loadRuns(filepath.Join(dir, "compose.yaml"))}
	}},
	{"include: bad interpolation", func(dir, v string) leakCase {
		return leakCase{files: map[string]string{
			"compose.yaml": "include:\n  - db/compose.yaml\n" + leakService,
			"db/compose.yaml": "services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: \"" +
				ydq(v) + "${\"\n",
		}, runs: loadRuns(filepath.Join(dir, "compose.yaml"))}
	}},
	{"include: bad env file", func(dir, v string) leakCase {
		return leakCase{files: map[string]string{
			"compose.yaml":    "include:\n  - path: db/compose.yaml\n    env_file: db/db.env\n" + leakService,
			"db/compose.yaml": "services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: ${PW}\n",
			"db/db.env":       "PW=\"" + dq(v) + "\n",
		}, runs: loadRuns(filepath.Join(dir, "compose.yaml"))}
	}},
	{"include: remote", func(dir, v string) leakCase {
		return leakCase{files: map[string]string{
			"compose.yaml": "include:\n  - https://example.com/db/compose.yaml\n" + leakService +
				"    environment:\n      POSTGRES_PASSWORD: \"" + ydq(v) + "\"\n",
		}, runs: loadRuns(filepath.Join(dir, "compose.yaml"))}
	}},
	{"Key Vault: access denied", func(dir, v string) leakCase {
		f := filepath.Join(dir, "compose.yaml")
		return leakCase{files: map[string]string{"compose.yaml": leakExternal(""), "Dockerfile": leakDockerfile}, vault: map[string]string{"db-password": v},
			faults: kvtest.Faults{Forbidden: []string{"db-password"}}, engine: &leakEngine{},
			runs: []leakStep{
				{args: []string{"sync", "--dry-run", "-p", "leak", "-f", f}, wantErr: true},
				{args: []string{"sync", "-p", "leak", "--format", "json", "-f", f}, wantErr: true},
				{args: []string{"ls", "--versions", "-f", f}, wantErr: true},
				{args: []string{"build", "--compose", "--no-leak-check", "-f", f}, wantErr: true},
				{args: []string{"build", "--no-leak-check", dir}, wantErr: true},
			}}
	}},
	{"Key Vault: reply cut short", func(dir, v string) leakCase {
		f := filepath.Join(dir, "compose.yaml")
		return leakCase{files: map[string]string{"compose.yaml": leakExternal(""), "Dockerfile": leakDockerfile}, vault: map[string]string{"db-password": v},
			faults: kvtest.Faults{Malformed: []string{"GET /secrets/{name}/{version}"}}, engine: &leakEngine{},
			runs: []leakStep{
				{args: []string{"sync", "-p", "leak", "-f", f}, wantErr: true},
				{args: []string{"build", "--compose", "--no-leak-check", "-f", f}, wantErr: true},
				{args: []string{"build", "--no-leak-check", dir}, wantErr: true},
			}}
	}},
	{"Key Vault: disabled, push refused", func(dir, v string) leakCase {
		f := filepath.Join(dir, "compose.yaml")
		return leakCase{
			files: map[string]string{
				"compose.yaml": leakExternal("  cache:\n    image: mariadb\n    environment:\n      MARIADB_ROOT_PASSWORD: \"" + ydq(v) + "\"\n"),
			},
			vault: map[string]string{"db-password": v, "mariadb-root-password": "other-" + v}, disabled: []string{"db-password"},
			faults: kvtest.Faults{Forbidden: []string{"mariadb-root-password"}}, engine: &leakEngine{},
			runs: []leakStep{
				{args: []string{"sync", "-p", "leak", "-f", f}, wantErr: true},
				{args: []string{"migrate", "--to", "external", "--push", "-f", f}, wantErr: true},
				{args: []string{"build", "--compose", "--no-leak-check", "-f", f}, wantErr: true},
			}}
	}},
	{"engine: create refused", func(dir, v string) leakCase {
		f := filepath.Join(dir, "compose.yaml")
		return leakCase{files: map[string]string{"compose.yaml": leakExternal("")}, vault: map[string]string{"db-password": v},
			engine: &leakEngine{createErr: errors.New("Error response from daemon: rpc error: code = ResourceExhausted desc = raft: too many secrets")},
			runs: []leakStep{
				{args: []string{"sync", "-p", "leak", "-f", f}, wantErr: true},
				{args: []string{"sync", "-p", "leak", "--format", "json", "-f", f}, wantErr: true},
			}}
	}},
	{"engine: service update refused", func(dir, v string) leakCase {
		f := filepath.Join(dir, "compose.yaml")
		return leakCase{files: map[string]string{"compose.yaml": leakExternal("")}, vault: map[string]string{"db-password": v},
			engine: (&leakEngine{updateErr: errors.New("Error response from daemon: rpc error: code = Unknown desc = service is being removed")}).withDeployed(emulatorURL),
			runs: []leakStep{
				{args: []string{"sync", "-p", "leak", "-f", f}, wantErr: true},
			}}
	}},
	{"build: the Dockerfile does not parse", func(dir, v string) leakCase {
		// A quoted ENV value left open runs onto the next line, which
		// BuildKit then reads as an instruction and names.
		return leakCase{files: map[string]string{
			"Dockerfile": "FROM busybox\nENV PW=\"" + v + "\nX" + v + "\"\nRUN --mount=type=secret,id=db_password true\n",
		}, vault: map[string]string{"db-password": v},
			runs: []leakStep{
				{args: []string{"build", "--no-leak-check", dir}, wantErr: true},
			}}
	}},
	{"build: the child fails", func(dir, v string) leakCase {
		f := filepath.Join(dir, "compose.yaml")
		return leakCase{files: map[string]string{"compose.yaml": leakBuild, "Dockerfile": leakDockerfile},
			vault: map[string]string{"db-password": v},
			runner: func(out io.Writer) error {
				fmt.Fprintln(out, "#5 [app 2/2] RUN --mount=type=secret,id=db_password true\n#5 ERROR: process did not complete successfully: exit code: 1")
				return errors.New("exit status 1")
			},
			runs: []leakStep{
				{args: []string{"build", "--compose", "--no-leak-check", "-f", f}, wantErr: true},
				{args: []string{"build", "--no-leak-check", dir}, wantErr: true},
			}}
	}},
}

const leakDockerfile = "FROM busybox\nRUN --mount=type=secret,id=db_password true\n"

const emulatorURL = "https://emulator.vault.azure.net"

// leakExternal is a project whose db_password is an external secret, and
// whose builder service builds with the same Key Vault secret, with more
// services when given.
func leakExternal(more string) string {
	return leakService + "    secrets: [db_password]\n" +
		"  builder:\n    build:\n      context: .\n      secrets: [db_build]\n" + more +
		"secrets:\n  db_password:\n    external: true\n  db_build:\n    environment: DB_PASSWORD\n    x-vault: {name: db-password}\n"
}

const leakBuild = `services:
  app:
    build:
      context: .
      secrets: [db_password]
secrets:
  db_password:
    environment: DB_PASSWORD
    x-vault: {name: db-password}
`

// runLeak runs one command line on a real DockerCli with api as its
// engine, and returns what it printed (stdout and stderr) and its error.
func runLeakStep(t *testing.T, api client.APIClient, buildxDir string, runner func(io.Writer) error, args []string) (string, error) {
	t.Helper()
	dockerCLI, out := newTestCLI(t, api)
	var cmd *cobra.Command
	switch args[0] {
	case "migrate":
		cmd = newMigrateCommand(dockerCLI)
	case "sync":
		cmd = newSyncCommand(dockerCLI)
	case "ls":
		cmd = newLsCommand(dockerCLI)
	case "build":
		dockerCLI.ConfigFile().CLIPluginsExtraDirs = []string{buildxDir}
		find := func(name string) (*manager.Plugin, error) {
			return manager.GetPlugin(name, dockerCLI, &cobra.Command{})
		}
		cmd = newBuildCommandWith(dockerCLI, (&leakRunner{run: runner}).Run, find)
	}
	cmd.SetArgs(args[1:])
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return out.String(), err
}

// leakRunner stands for the docker CLI child of build.
type leakRunner struct{ run func(io.Writer) error }

func (r *leakRunner) Run(_ context.Context, c runner.Cmd) error {
	if r.run == nil {
		return errors.New("exit status 1")
	}
	return r.run(c.Stdout)
}

// leakFiles reads every file under dir.
func leakFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	assert.NilError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = b
		return err
	}))
	return files
}

func TestNoValueLeaksFromFailingPaths(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("DOCKER_VAULT_LEAK_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseInt(s, 10, 64)
		assert.NilError(t, err)
	}
	t.Logf("seed %d (DOCKER_VAULT_LEAK_SEED=%d repeats this run)", seed, seed)
	r := rand.New(rand.NewPCG(uint64(seed), 0x1ea4))

	kv := useSyncEmulator(t, nil)
	pluginArgs(t)
	buildxDir := fakeBuildxPlugin(t, "v0.38.2")
	failed := map[string]int{}
	for i := range leakRuns {
		path := leakPaths[i%len(leakPaths)]
		v := leakValue(r)
		dir := t.TempDir()
		c := path.make(dir, v)
		for name, content := range c.files {
			p := filepath.Join(dir, filepath.FromSlash(name))
			assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o700))
			assert.NilError(t, os.WriteFile(p, []byte(content), 0o600))
		}
		kv.SetFaults(c.faults)
		for name, value := range c.vault {
			kv.SetSecret(name, value)
			kv.SetEnabled(name, true)
		}
		for _, name := range c.disabled {
			kv.SetEnabled(name, false)
		}
		before := leakFiles(t, dir)
		var api client.APIClient = &fakeClient{}
		if c.engine != nil {
			api = c.engine
		}
		for _, run := range c.runs {
			out, err := runLeakStep(t, api, buildxDir, c.runner, run.args)
			where := fmt.Sprintf("%s: %q with value %q", path.name, run.args[:1], v)
			if run.wantErr && err == nil {
				failed[path.name]++
				t.Errorf("%s: succeeded, the path is not tried: %s", where, out)
			}
			msg := ""
			if err != nil {
				msg = err.Error() + "\n" + fmt.Sprintf("%+v", err)
			}
			for _, n := range needles(v) {
				assert.Check(t, !strings.Contains(out, n), "%s: the output holds %q:\n%s", where, n, out)
				assert.Check(t, !strings.Contains(msg, n), "%s: the error holds %q: %s", where, n, msg)
			}
		}
		kv.SetFaults(kvtest.Faults{})
		// Every file the commands created or changed.
		for p, b := range leakFiles(t, dir) {
			if old, ok := before[p]; ok && bytes.Equal(old, b) {
				continue
			}
			for _, n := range needles(v) {
				assert.Check(t, !bytes.Contains(b, []byte(n)), "%s: %s holds %q", path.name, p, n)
			}
		}
		if t.Failed() {
			t.Fatalf("stopped at run %d (seed %d)", i, seed)
		}
	}
}

// The empty value: a swarm secret cannot hold one, so sync says so for the
// secret and nothing reaches the engine; a secret file can, and is
// written empty.
func TestSyncEmptyValue(t *testing.T) {
	kv := useSyncEmulator(t, nil)
	kv.SetSecret("db-password", "")
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	assert.NilError(t, os.WriteFile(f, []byte(leakExternal("")), 0o600))
	eng := &leakEngine{}
	out, err := runLeakStep(t, eng, "", nil, []string{"sync", "-p", "leak", "-f", f})
	assert.Check(t, is.ErrorContains(err, `Key Vault secret "db-password" is empty: swarm secrets cannot be empty`))
	assert.Check(t, is.Contains(out, `db_password   error                         Key Vault secret "db-password" is empty: swarm secrets cannot be empty`))
	assert.Check(t, !strings.Contains(out+err.Error(), "larger than 0"))
	assert.Check(t, is.Len(eng.secrets, 0))

	// A file secret may be empty: compose mounts an empty file.
	assert.NilError(t, os.WriteFile(f, []byte(leakService+`    secrets: [db_password]
secrets:
  db_password:
    file: ./secrets/db_password
    x-vault: {name: db-password}
`), 0o600))
	_, err = runLeakStep(t, eng, "", nil, []string{"sync", "-p", "leak", "-f", f})
	assert.NilError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "secrets", "db_password"))
	assert.NilError(t, err)
	assert.Check(t, is.Len(b, 0))
}

// TestValueTypesPrintNoValue formats every type that holds a value, as
// the code makes them, with every verb and as JSON.
func TestValueTypesPrintNoValue(t *testing.T) {
	const v = "Type-Sentinel-8d1f"
	dir := t.TempDir()
	for name, content := range map[string]string{
		"compose.yaml": `services:
  db:
    image: postgres
    build: .
    environment:
      POSTGRES_PASSWORD: ` + v + `
      API_TOKEN: ${API_TOKEN}
    env_file: [db.env]
`,
		".env":       "API_TOKEN=" + v + "-env\n",
		"db.env":     "MYSQL_PASSWORD=" + v + "-file\n",
		"Dockerfile": "FROM busybox\nARG DB_PASSWORD=" + v + "-arg\n",
	} {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	lo := compose.LoadOptions{WorkingDir: dir, Environ: []string{"AZURE_CLIENT_SECRET=" + v + "-shell"}}
	prep, err := migrate.Prepare(context.Background(), lo, compose.DetectOptions{}, migrate.Options{To: migrate.ToExternal})
	assert.NilError(t, err)
	p, report, plan := prep.Project, prep.Report, prep.Plan
	assert.Assert(t, len(report.Secrets) > 0 && len(plan.Pushes) > 0 && len(plan.Files) > 0 && len(p.Dockerfiles) > 0)

	doc, err := yamledit.Parse("compose.yaml", p.Files[0].Content)
	assert.NilError(t, err)
	envFile, err := yamledit.ParseEnvFile(".env", p.EnvFiles[0].Content)
	assert.NilError(t, err)
	secret := build.Secret{ID: "token", Version: "v1", Value: []byte(v)}
	inv, err := build.Prepare(nil, []string{"."}, []build.Secret{secret}, nil, false)
	assert.NilError(t, err)

	values := []any{
		lo, p, *p, p.Files[0], *p.Files[0], p.EnvFiles[0], *p.EnvFiles[0], p.Dockerfiles[0], *p.Dockerfiles[0],
		report, *report, report.Findings, report.Secrets,
		prep, plan, plan.Files, plan.Pushes,
		keyvault.Secret{SecretProperties: keyvault.SecretProperties{Name: "db-password"}, Value: []byte(v)},
		secret, inv, doc, envFile, doc.EnvEntries("db"),
		envrun.Value{Var: "DB_PASSWORD", Key: "db_password", KVName: "db-password", Value: []byte(v)},
		scan.Value{Name: "db-password", Version: "v1", Value: []byte(v)},
		[]scan.Value{{Name: "api-token", Value: []byte(v)}},
	}
	for i, x := range values {
		var outs []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			outs = append(outs, fmt.Sprintf(verb, x))
		}
		if b, err := json.Marshal(x); err == nil {
			outs = append(outs, string(b))
		}
		// The value as text, as hex (%x) and as bytes in decimal (%d).
		forms := []string{v, fmt.Sprintf("%x", v), strings.Trim(fmt.Sprint([]byte(v)), "[]")}
		for _, o := range outs {
			for _, f := range forms {
				assert.Check(t, !strings.Contains(o, f), "value %d (%T) prints %s", i, x, o)
			}
		}
	}
}
