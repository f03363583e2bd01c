package e2e

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// These tests drive `docker vault sync`, `deploy` and `ls -f` on projects
// whose file secrets are someone else's: unmarked (local), marked
// `x-vault: false`, outside the project, or written by hand. Sync writes
// only the files it may, and nothing else on disk or in any output holds a
// value.

const stateFile = ".docker-vault-state.json"

// fileRuns runs docker vault in one project with one emulator, and keeps
// every result for the leak check at the end of the test.
type fileRuns struct {
	em      *emulator
	dir     string
	outputs []*icmd.Result
}

func (r *fileRuns) run(t *testing.T, args ...string) *icmd.Result {
	t.Helper()
	res := vaultDocker(t, r.em.Env, r.dir, args...)
	r.outputs = append(r.outputs, res)
	return res
}

// fileSnapshot is what a test checks stays as it was: the bytes, mode and
// modification time of a file, or the target of a symlink.
type fileSnapshot struct {
	data    string
	mode    fs.FileMode
	modTime time.Time
	link    string
}

func snapshot(t *testing.T, path string) fileSnapshot {
	t.Helper()
	fi, err := os.Lstat(path)
	assert.NilError(t, err)
	s := fileSnapshot{mode: fi.Mode(), modTime: fi.ModTime()}
	if fi.Mode()&fs.ModeSymlink != 0 {
		s.link, err = os.Readlink(path)
		assert.NilError(t, err)
		return s
	}
	b, err := os.ReadFile(path)
	assert.NilError(t, err)
	s.data = string(b)
	return s
}

// assertUnchanged checks path is as snapshot found it. It names the file,
// never its bytes.
func assertUnchanged(t *testing.T, path string, before fileSnapshot) {
	t.Helper()
	after := snapshot(t, path)
	assert.Check(t, after.data == before.data, "%s was written", path)
	assert.Check(t, is.Equal(after.mode, before.mode), path)
	assert.Check(t, after.modTime.Equal(before.modTime), "%s was touched", path)
	assert.Check(t, is.Equal(after.link, before.link), path)
}

// assertHolds checks a secret file holds the value of values[key], mode 0600.
func assertHolds(t *testing.T, path string, values map[string]string, key string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if !assert.Check(t, err) {
		return
	}
	assert.Check(t, string(b) == values[key], "%s does not hold the value of %s", path, key)
	fi, err := os.Stat(path)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o600)), path)
}

// writeSecretFile writes a file by hand, as a user keeps a certificate or
// migrate writes a local secret.
func writeSecretFile(t *testing.T, path, value string) {
	t.Helper()
	assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	assert.NilError(t, os.WriteFile(path, []byte(value), 0o600))
}

// assertNoLeaks checks that no output holds a value, and that no file under
// root holds one but the secret files in own, each of which holds exactly
// its own value (own maps a path to a key of values). Symlinks are not
// followed: what they lead to inside root is checked where it is.
func assertNoLeaks(t *testing.T, outputs []*icmd.Result, root string, values map[string]string, own map[string]string) {
	t.Helper()
	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if key, ok := own[path]; ok {
			assert.Check(t, string(b) == values[key], "%s does not hold exactly the value of %s", path, key)
			return nil
		}
		assertNoValueInText(t, path, string(b), values)
		for k, v := range values {
			assertNoValueInText(t, path, string(b), map[string]string{k + " digest": sum(v)})
		}
		return nil
	})
	assert.NilError(t, err)
}

// projectDir makes the project folder root/name: a project with a
// neighbour, so that a test can see what sync does outside it.
func projectDir(t *testing.T, root, name string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	assert.NilError(t, os.Mkdir(dir, 0o700))
	return dir
}

// stateFiles lists, relative to root, every state file under it.
func stateFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == stateFile {
			rel, _ := filepath.Rel(root, path)
			out = append(out, rel)
		}
		return err
	})
	assert.NilError(t, err)
	slices.Sort(out)
	return out
}

// recorded lists the files a state file records.
func recorded(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	assert.NilError(t, err)
	var doc struct {
		Files map[string]json.RawMessage `json:"files"`
	}
	assert.NilError(t, json.Unmarshal(b, &doc))
	var out []string
	for k := range doc.Files {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// lastLine is the last line a command printed on stderr.
func lastLine(res *icmd.Result) string {
	lines := strings.Split(strings.TrimSpace(res.Stderr()), "\n")
	return lines[len(lines)-1]
}

// TestFilesUnmarkedNeverWritten: a file secret without x-vault is local.
// sync never writes (or creates) its file, even though Key Vault holds a secret of its derived
// name (another project's), and --force-file cannot make it Key
// Vault-backed.
func TestFilesUnmarkedNeverWritten(t *testing.T) {
	values := map[string]string{
		"token":    newSecretValue("kv-token"), // another project's, of the derived name
		"absent":   newSecretValue("kv-absent"),
		"other-kv": newSecretValue("kv-other"),
		"local":    newSecretValue("local-token"),
	}
	em := startEmulator(t, map[string]string{"token": values["token"], "absent": values["absent"], "other-kv": values["other-kv"]})
	root := t.TempDir()
	dir := projectDir(t, root, "project")
	token := filepath.Join(dir, "secrets", "token")
	other := filepath.Join(dir, "secrets", "other")
	absent := filepath.Join(dir, "secrets", "absent")
	writeSecretFile(t, token, values["local"])
	before := snapshot(t, token)
	r := &fileRuns{em: em, dir: dir}

	t.Run("only local secrets: nothing to do", func(t *testing.T) {
		writeProjectFile(t, dir, "compose.yaml", `secrets:
  token:
    file: ./secrets/token
`)
		for _, args := range [][]string{{"vault", "sync"}, {"vault", "sync", "--force-file", "secrets/token"}} {
			res := r.run(t, args...)
			assertOneLineError(t, res, "the project declares no Key Vault-backed secret (an external secret, or a file secret marked with x-vault): run `docker vault migrate` first")
			assert.Check(t, is.Equal(res.Stdout(), ""))
		}
		assertUnchanged(t, token, before)
		assert.Check(t, is.Len(stateFiles(t, root), 0))
	})

	t.Run("beside a Key Vault-backed secret", func(t *testing.T) {
		writeProjectFile(t, dir, "compose.yaml", `secrets:
  token:
    file: ./secrets/token
  absent:
    file: ./secrets/absent
  other:
    file: ./secrets/other
    x-vault: other-kv
`)
		res := r.run(t, "vault", "sync")
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Regexp(`(?m)^other +create +`+regexp.QuoteMeta(other)+` +[0-9a-f]{8} *$`, res.Stdout()))
		assert.Check(t, !regexp.MustCompile(`(?m)^(token|absent) `).MatchString(res.Stdout()), "a local secret is in the plan:\n%s", res.Stdout())
		assert.Check(t, is.Contains(res.Stdout(), "1 changes applied"))
		assert.Check(t, !strings.Contains(res.Stderr(), token), res.Stderr())
		assertHolds(t, other, values, "other-kv")
		assertUnchanged(t, token, before)
		_, err := os.Lstat(absent)
		assert.Check(t, os.IsNotExist(err), "a local secret's missing file was created")
		assert.Check(t, is.DeepEqual(stateFiles(t, root), []string{filepath.Join("project", "secrets", stateFile)}))
		assert.Check(t, is.DeepEqual(recorded(t, filepath.Join(dir, "secrets", stateFile)), []string{"other"}), "the local file is recorded as sync's own")

		// Forcing the local file is a mistake, refused before anything is
		// read or written.
		em.ResetCounters(t)
		res = r.run(t, "vault", "sync", "--force-file", "secrets/token")
		assertOneLineError(t, res, "--force-file "+token+" is not the file of a Key Vault-backed file secret of the project")
		assert.Check(t, is.Equal(em.Counters(t)["GET /secrets/{name}/{version}"], 0))
		assertUnchanged(t, token, before)

		res = r.run(t, "vault", "sync")
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Contains(res.Stdout(), "everything is up to date"))
		assertUnchanged(t, token, before)
	})

	assertNoLeaks(t, r.outputs, root, values, map[string]string{token: "local", other: "other-kv"})
}

// TestFilesLocalMarker: `x-vault: false` marks a secret local for sync,
// deploy and ls -f, for an external secret (a swarm secret made by hand)
// and for a file secret, even under a top-level `files: true`. Key Vault
// holds secrets of both derived names, as traps.
func TestFilesLocalMarker(t *testing.T) {
	p := syncPrefix(t)
	stack := p
	cleanupSwarm(t, p, stack)
	values := map[string]string{
		"legacy": newSecretValue("kv-legacy"), // traps: the derived names
		"cert":   newSecretValue("kv-cert"),
		"db-kv":  newSecretValue("kv-db"),
		"token":  newSecretValue("kv-token"),
		"hand":   newSecretValue("hand-legacy"),
		"local":  newSecretValue("local-cert"),
	}
	em := startEmulator(t, map[string]string{"legacy": values["legacy"], "cert": values["cert"], "db-kv": values["db-kv"], "token": values["token"]})
	// The folder is named after the prefix: it is the compose project
	// name, which scopes sync to this stack.
	root := t.TempDir()
	dir := projectDir(t, root, p)
	cert := filepath.Join(dir, "secrets", "cert")
	token := filepath.Join(dir, "secrets", "token")
	writeSecretFile(t, cert, values["local"])
	certBefore := snapshot(t, cert)
	writeProjectFile(t, dir, "compose.yaml", `x-vault:
  files: true
services:
  web:
    image: `+env.baseImage+`
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sha256sum /run/secrets/legacy | cut -c1-64 > /tmp/seen; sleep 1 & wait; done"]
    stop_grace_period: 2s
    secrets: [legacy, db]
secrets:
  legacy:
    external: true
    name: `+p+`_legacy
    x-vault: false
  db:
    external: true
    name: `+p+`_db
    x-vault: db-kv
  cert:
    file: ./secrets/cert
    x-vault: false
  token:
    file: ./secrets/token
`)
	legacy := p + "_legacy"
	create := icmd.Command("docker", "secret", "create", legacy, "-")
	create.Env = append(os.Environ(), "DOCKER_CONFIG="+env.configDir)
	create.Stdin = strings.NewReader(values["hand"])
	icmd.RunCmd(create).Assert(t, icmd.Success)
	inspectLegacy := func() string {
		t.Helper()
		res := docker(t, nil, "secret", "inspect", "--format", "{{.ID}} {{.Version.Index}} {{json .Spec.Labels}}", legacy)
		res.Assert(t, icmd.Success)
		return strings.TrimSpace(res.Stdout())
	}
	legacyBefore := inspectLegacy()
	r := &fileRuns{em: em, dir: dir}

	t.Run("sync", func(t *testing.T) {
		res := r.run(t, "vault", "sync")
		res.Assert(t, icmd.Success)
		out := res.Stdout()
		assert.Check(t, is.Regexp(`(?m)^`+p+`_db +create +`+p+`_db_[0-9a-f]{8} `, out))
		assert.Check(t, is.Regexp(`(?m)^token +create +`+regexp.QuoteMeta(token)+` `, out))
		assert.Check(t, !regexp.MustCompile(`(?m)^(`+legacy+`|cert) `).MatchString(out), "a local secret is in the plan:\n%s", out)
		assert.Check(t, is.Contains(out, "2 changes applied"))
		assertHolds(t, token, values, "token")
		assertUnchanged(t, cert, certBefore)
		assert.Check(t, is.Equal(inspectLegacy(), legacyBefore), "the hand-made swarm secret changed")
		secrets := swarmSecrets(t, p)
		assert.Check(t, is.Len(secrets, 2), "%v", secrets)
		assert.Check(t, is.Len(swarmSecrets(t, legacy+"_"), 0), "a versioned secret was made for the local one")
		assert.Check(t, is.DeepEqual(recorded(t, filepath.Join(dir, "secrets", stateFile)), []string{"token"}))
	})

	t.Run("deploy", func(t *testing.T) {
		res := r.run(t, "vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", "--dry-run", stack)
		res.Assert(t, icmd.Success)
		override := res.Stdout()[strings.Index(res.Stdout(), "would run docker stack deploy"):]
		assert.Check(t, is.Regexp(`name: `+p+`_db_[0-9a-f]{8}\n`, override))
		assert.Check(t, !strings.Contains(override, "legacy"), "the override renames the local secret:\n%s", override)

		res = r.run(t, "vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stack)
		res.Assert(t, icmd.Success)
		used := docker(t, nil, "service", "inspect", "--format",
			"{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}={{.File.Name}} {{end}}", stack+"_web")
		used.Assert(t, icmd.Success)
		assert.Check(t, is.Regexp(`^(`+legacy+`=legacy `+p+`_db_[0-9a-f]{8}=db|`+p+`_db_[0-9a-f]{8}=db `+legacy+`=legacy) $`, strings.TrimSuffix(used.Stdout(), "\n")))
		// The task reads the value made by hand, not Key Vault's "legacy".
		waitServiceSeen(t, stack+"_web", sum(values["hand"]))
		assert.Check(t, is.Equal(inspectLegacy(), legacyBefore), "the hand-made swarm secret changed")
		assert.Check(t, is.Len(swarmSecrets(t, legacy+"_"), 0), "a versioned secret was made for the local one")
		assertUnchanged(t, cert, certBefore)
	})

	t.Run("ls -f", func(t *testing.T) {
		em.ResetCounters(t)
		res := r.run(t, "vault", "ls", "-f", "compose.yaml", "--versions")
		res.Assert(t, icmd.Success)
		lines := strings.Split(strings.TrimSpace(res.Stdout()), "\n")
		assert.Assert(t, is.Len(lines, 5), res.Stdout())
		assert.Check(t, is.Regexp(`^NAME +STATUS +VERSION +UPDATED +CONTENT TYPE +COMPOSE SECRET$`, lines[0]))
		assert.Check(t, is.Regexp(`^db-kv +enabled +[0-9a-f]{32} +.* db$`, lines[1]))
		assert.Check(t, is.Regexp(`^token +enabled +[0-9a-f]{32} +.* token$`, lines[2]))
		assert.Check(t, is.Regexp(`^- +local +- +- +- +cert$`, lines[3]))
		assert.Check(t, is.Regexp(`^- +local +- +- +- +legacy$`, lines[4]))
		// One list; versions of the two backed secrets only; no value.
		c := em.Counters(t)
		assert.Check(t, is.Equal(c["GET /secrets"], 1), "%v", c)
		assert.Check(t, is.Equal(c["GET /secrets/{name}/versions"], 2), "%v", c)
		assert.Check(t, is.Equal(c["GET /secrets/{name}/{version}"], 0), "%v", c)

		res = r.run(t, "vault", "ls", "-f", "compose.yaml", "-q")
		res.Assert(t, icmd.Expected{Out: "db-kv\ntoken\n"})
	})

	assertNoLeaks(t, r.outputs, root, values, map[string]string{cert: "local", token: "token"})
	assertNoValueInText(t, "docker inspect", inspectAll(t, p), values)
}

// TestFilesOutsideProject: a file: path outside the project, and a symlink
// inside it that leads out, are refused with one line saying what to fix,
// --force-file or not, and the file outside is left as it was.
func TestFilesOutsideProject(t *testing.T) {
	values := map[string]string{
		"victim": newSecretValue("kv-victim"),
		"link":   newSecretValue("kv-link"),
		"out1":   newSecretValue("outside-1"),
		"out2":   newSecretValue("outside-2"),
	}
	em := startEmulator(t, map[string]string{"victim": values["victim"], "link": values["link"]})
	root := t.TempDir()
	dir := projectDir(t, root, "project")
	victim := filepath.Join(root, "outside", "victim")
	victim2 := filepath.Join(root, "outside", "victim2")
	writeSecretFile(t, victim, values["out1"])
	writeSecretFile(t, victim2, values["out2"])
	r := &fileRuns{em: em, dir: dir}

	t.Run("file: ../outside/victim", func(t *testing.T) {
		writeProjectFile(t, dir, "compose.yaml", `secrets:
  victim:
    file: ../outside/victim
    x-vault: true
`)
		before := snapshot(t, victim)
		want := "nothing was synced: victim: " + victim + " is outside the project directory " + dir +
			": docker vault writes files only inside the project; move the file inside it, or mark the secret local with x-vault: false"
		for _, args := range [][]string{{"vault", "sync"}, {"vault", "sync", "--force-file", "../outside/victim"}} {
			res := r.run(t, args...)
			assertOneLineError(t, res, want)
			assert.Check(t, is.Equal(strings.TrimSpace(res.Stderr()), want))
			assert.Check(t, is.Regexp(`(?m)^victim +error +`, res.Stdout()))
			assertUnchanged(t, victim, before)
		}
	})

	t.Run("symlink leading out", func(t *testing.T) {
		writeProjectFile(t, dir, "compose.yaml", `secrets:
  link:
    file: ./secrets/link
    x-vault: true
`)
		link := filepath.Join(dir, "secrets", "link")
		assert.NilError(t, os.MkdirAll(filepath.Dir(link), 0o700))
		assert.NilError(t, os.Symlink(victim2, link))
		before, linkBefore := snapshot(t, victim2), snapshot(t, link)
		want := "nothing was synced: link: " + link + " leads to " + victim2 + ", outside the project directory " + dir +
			": docker vault writes files only inside the project; point the file: path (or the symlink) inside it, or mark the secret local with x-vault: false"
		for _, args := range [][]string{{"vault", "sync"}, {"vault", "sync", "--force-file", "secrets/link"}} {
			res := r.run(t, args...)
			assertOneLineError(t, res, want)
			assert.Check(t, is.Equal(strings.TrimSpace(res.Stderr()), want))
			assertUnchanged(t, victim2, before)
			assertUnchanged(t, link, linkBefore)
		}
	})

	assert.Check(t, is.Len(stateFiles(t, root), 0), "a refused sync wrote a state file")
	entries, err := os.ReadDir(filepath.Join(root, "outside"))
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 2), "files were left outside the project")
	assertNoLeaks(t, r.outputs, root, values, map[string]string{victim: "out1", victim2: "out2"})
}

// TestFilesForceFile: a file sync did not write is refused, written with
// --force-file, then recorded: a later rotation needs no flag.
func TestFilesForceFile(t *testing.T) {
	values := map[string]string{
		"hand": newSecretValue("hand"),
		"v1":   newSecretValue("token1"),
		"v2":   newSecretValue("token2"),
	}
	em := startEmulator(t, map[string]string{"app-token": values["v1"]})
	root := t.TempDir()
	dir := projectDir(t, root, "project")
	token := filepath.Join(dir, "secrets", "token")
	writeSecretFile(t, token, values["hand"])
	writeProjectFile(t, dir, "compose.yaml", `secrets:
  token:
    file: ./secrets/token
    x-vault: app-token
`)
	before := snapshot(t, token)
	r := &fileRuns{em: em, dir: dir}

	res := r.run(t, "vault", "sync")
	want := "nothing was synced: token: " + token + " exists and was not written by docker vault; remove it, or pass --force-file " + token
	assertOneLineError(t, res, want)
	assert.Check(t, is.Equal(strings.TrimSpace(res.Stderr()), want))
	assertUnchanged(t, token, before)
	assert.Check(t, is.Len(stateFiles(t, root), 0))

	res = r.run(t, "vault", "sync", "--force-file", "secrets/token")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Regexp(`(?m)^token +update +`+regexp.QuoteMeta(token)+` +[0-9a-f]{8} *$`, res.Stdout()))
	assert.Check(t, is.Contains(res.Stdout(), "1 changes applied"))
	assert.Check(t, is.Regexp(`^updated `+regexp.QuoteMeta(token)+` \(version [0-9a-f]{32}\)$`, strings.TrimSpace(res.Stderr())))
	assertHolds(t, token, values, "v1")
	assert.Check(t, is.DeepEqual(stateFiles(t, root), []string{filepath.Join("project", "secrets", stateFile)}))
	assert.Check(t, is.DeepEqual(recorded(t, filepath.Join(dir, "secrets", stateFile)), []string{"token"}))

	rotateLater(t, em, "app-token", values["v2"])
	res = r.run(t, "vault", "sync")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Regexp(`(?m)^token +update +`, res.Stdout()))
	assert.Check(t, is.Contains(res.Stdout(), "1 changes applied"))
	assertHolds(t, token, values, "v2")

	res = r.run(t, "vault", "sync")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "everything is up to date"))

	entries, err := os.ReadDir(filepath.Join(dir, "secrets"))
	assert.NilError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Check(t, is.DeepEqual(names, []string{stateFile, "token"}), "temporary files left behind")
	assertNoLeaks(t, r.outputs, root, values, map[string]string{token: "v2"})
}

// TestFilesPartial: three Key Vault-backed file secrets (marked each its own
// way), all rotated, one disabled: the other two files are written, the
// disabled one keeps its value, the exit is 1 and the last line names it.
func TestFilesPartial(t *testing.T) {
	names := []string{"fa", "fb", "fc"}
	values := map[string]string{}
	seed := map[string]string{}
	for _, n := range names {
		values[n] = newSecretValue(n)
		seed[n] = values[n]
	}
	em := startEmulator(t, seed)
	root := t.TempDir()
	dir := projectDir(t, root, "project")
	writeProjectFile(t, dir, "compose.yaml", `x-vault:
  files: true
secrets:
  fa:
    file: ./secrets/fa
    x-vault: true
  fb:
    file: ./secrets/fb
    x-vault:
      name: fb
  fc:
    file: ./secrets/fc
`)
	path := func(n string) string { return filepath.Join(dir, "secrets", n) }
	r := &fileRuns{em: em, dir: dir}

	res := r.run(t, "vault", "sync")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "3 changes applied"))
	for _, n := range names {
		assertHolds(t, path(n), values, n)
	}

	rotateAll(t, em, names, values, "2")
	em.disable(t, "fb")
	res = r.run(t, "vault", "sync")
	assert.Check(t, is.Equal(res.ExitCode, 1), res.Combined())
	assert.Check(t, is.Equal(lastLine(res), `1 of 3 secrets failed, the others were synced: fb: Key Vault secret "fb" is disabled: enable it, or map the secret to another with x-vault.name`))
	assert.Check(t, is.Regexp(`(?m)^fa +update +`, res.Stdout()))
	assert.Check(t, is.Regexp(`(?m)^fb +error +.*is disabled`, res.Stdout()))
	assert.Check(t, is.Regexp(`(?m)^fc +update +`, res.Stdout()))
	assertHolds(t, path("fa"), values, "fa-2")
	assertHolds(t, path("fb"), values, "fb")
	assertHolds(t, path("fc"), values, "fc-2")

	assertNoLeaks(t, r.outputs, root, values, map[string]string{path("fa"): "fa-2", path("fb"): "fb", path("fc"): "fc-2"})
}

// TestFilesStateInProject: the state file is written in the folder that
// really holds the files (through a symlink inside the project, or a folder
// sync creates), never outside the project.
func TestFilesStateInProject(t *testing.T) {
	values := map[string]string{"token": newSecretValue("token"), "db-password": newSecretValue("db")}
	em := startEmulator(t, values)
	root := t.TempDir()
	dir := projectDir(t, root, "project")
	writeProjectFile(t, dir, "compose.yaml", `x-vault:
  files: true
secrets:
  token:
    file: ./secrets/token
  db_password:
    file: ./config/db/password
`)
	assert.NilError(t, os.Mkdir(filepath.Join(dir, "private"), 0o700))
	assert.NilError(t, os.Symlink("private", filepath.Join(dir, "secrets")))
	r := &fileRuns{em: em, dir: dir}

	res := r.run(t, "vault", "sync")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "2 changes applied"))
	token := filepath.Join(dir, "private", "token")
	password := filepath.Join(dir, "config", "db", "password")
	assertHolds(t, token, values, "token")
	assertHolds(t, password, values, "db-password")
	fi, err := os.Lstat(filepath.Join(dir, "secrets"))
	assert.NilError(t, err)
	assert.Check(t, fi.Mode()&fs.ModeSymlink != 0, "the symlink was replaced")
	fi, err = os.Stat(filepath.Join(dir, "config", "db"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o700)))
	assert.Check(t, is.DeepEqual(stateFiles(t, root), []string{
		filepath.Join("project", "config", "db", stateFile),
		filepath.Join("project", "private", stateFile),
	}))
	assert.Check(t, is.DeepEqual(recorded(t, filepath.Join(dir, "private", stateFile)), []string{"token"}))
	assert.Check(t, is.DeepEqual(recorded(t, filepath.Join(dir, "config", "db", stateFile)), []string{"password"}))

	// The state is read back: nothing changed, nothing read.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	r.run(t, "vault", "sync").Assert(t, icmd.Success) // settles a version read within its second
	em.ResetCounters(t)
	res = r.run(t, "vault", "sync")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "everything is up to date"))
	assert.Check(t, is.Equal(em.Counters(t)["GET /secrets/{name}/{version}"], 0))

	assertNoLeaks(t, r.outputs, root, values, map[string]string{token: "token", password: "db-password"})
}
