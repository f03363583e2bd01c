//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// TestPushAndSet drives `docker vault push` and `set` against the emulator:
// a dry run reads only the names that exist, a push stores the file
// secrets' values byte for byte, a different value is a conflict until
// --overwrite, and set takes a value from a pipe or a file. No value is ever
// printed.
func TestPushAndSet(t *testing.T) {
	values := map[string]string{
		"db":    newSecretValue("push-db") + "\n",
		"api":   newSecretValue("push-api"),
		"local": newSecretValue("push-local"),
		"other": newSecretValue("push-other"),
		"piped": newSecretValue("set-piped"),
		"file":  newSecretValue("set-file"),
	}
	em := startEmulator(t, map[string]string{"prod-api-key": values["api"], "unrelated": values["other"]}, randSeed())
	dir := t.TempDir()
	writeProjectFile(t, dir, "compose.yaml", `services:
  app:
    image: `+env.baseImage+`
    secrets: [db_password, api_key, tls]
secrets:
  db_password:
    file: ./secrets/db_password
  api_key:
    file: ./secrets/api_key
    x-vault: prod-api-key
  tls:
    file: ./tls.pem
    x-vault: false
`)
	assert.NilError(t, os.Mkdir(filepath.Join(dir, "secrets"), 0o700))
	writeProjectFile(t, dir, "secrets/db_password", values["db"])
	writeProjectFile(t, dir, "secrets/api_key", values["api"])
	writeProjectFile(t, dir, "tls.pem", values["local"])

	var outputs []*icmd.Result
	run := func(cmd icmd.Cmd) *icmd.Result {
		t.Helper()
		res := icmd.RunCmd(cmd)
		outputs = append(outputs, res)
		return res
	}
	push := func(args ...string) *icmd.Result {
		t.Helper()
		return run(vaultDockerCmd(em.Env, dir, append([]string{"vault", "push"}, args...)...))
	}
	names := func() string {
		t.Helper()
		res := run(vaultDockerCmd(em.Env, dir, "vault", "ls", "--format", "{{.Name}}"))
		res.Assert(t, icmd.Success)
		return res.Stdout()
	}

	em.ResetCounters(t)
	res := push("--dry-run")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), `SECRET        VAULT SECRET   ACTION
api_key       prod-api-key   unchanged
db_password   db-password    create
dry run: 1 create, 1 unchanged; nothing stored
`))
	c := em.Counters(t)
	assert.Check(t, is.Equal(c["GET /secrets/{name}/{version}"], 1), "a dry run reads only the values of names that exist: %v", c)
	assert.Check(t, is.Equal(c["PUT /secrets/{name}"], 0))

	res = push()
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "stored 1 values in Key Vault (1 create, 1 unchanged)"))
	assert.Check(t, is.Contains(names(), "db-password\n"))

	// What Key Vault holds is the file's value, byte for byte: sync writes
	// it into a marked file secret of another project.
	writeProjectFile(t, dir, "check.yaml", `services:
  app:
    image: `+env.baseImage+`
    secrets: [copy]
secrets:
  copy:
    file: ./copy
    x-vault: db-password
`)
	res = run(vaultDockerCmd(em.Env, dir, "vault", "sync", "-f", "check.yaml"))
	res.Assert(t, icmd.Success)
	got, err := os.ReadFile(filepath.Join(dir, "copy"))
	assert.NilError(t, err)
	assert.Check(t, string(got) == values["db"], "the value in Key Vault is not the file's, byte for byte")

	// Someone else's value: a conflict (exit 1), nothing stored.
	em.SetSecret(t, "db-password", values["other"])
	res = push("db_password")
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "Key Vault secret db-password already holds a different value: rerun with --overwrite"})
	assert.Check(t, is.Contains(res.Stdout(), "conflict"))
	res = push("--overwrite", "--format", "json", "db_password")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(strings.TrimSpace(res.Stdout()), `{"Action":"update","Reason":"Key Vault holds another value","Secret":"db_password","VaultSecret":"db-password"}`))
	res = push("tls")
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "secret tls is marked x-vault: false (local)"})

	// set: from a pipe, from a file; a value is never an argument.
	cmd := vaultDockerCmd(em.Env, dir, "vault", "set", "piped-secret")
	cmd.Stdin = strings.NewReader(values["piped"])
	res = run(cmd)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "piped-secret   piped-secret   create"))
	path := filepath.Join(t.TempDir(), "value")
	assert.NilError(t, os.WriteFile(path, []byte(values["file"]), 0o600))
	res = run(vaultDockerCmd(em.Env, dir, "vault", "set", "-f", path, "piped-secret"))
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "Key Vault secret piped-secret already holds a different value: rerun with --overwrite"})
	res = run(vaultDockerCmd(em.Env, dir, "vault", "set", "--overwrite", "-f", path, "piped-secret"))
	res.Assert(t, icmd.Success)
	cmd = vaultDockerCmd(em.Env, dir, "vault", "set", "empty-secret")
	cmd.Stdin = strings.NewReader("")
	res = run(cmd)
	res.Assert(t, icmd.Expected{ExitCode: 1, Err: "the value read from stdin is empty"})
	res = run(vaultDockerCmd(em.Env, dir, "vault", "set", "--value", "x", "name"))
	assert.Check(t, res.ExitCode != 0)
	assert.Check(t, is.Contains(res.Stderr(), "unknown flag: --value"))

	for _, r := range outputs {
		assertNoValue(t, r, trimmed(values))
	}
}

// TestFileSecretsToKeyVault is the path in steps: a project migrated to
// file secrets (step 1) is pushed, converted to external secrets with
// `migrate --to external --push` (step 2) and deployed as a stack; the task
// reads the same value, checked by digest. A second migrate changes nothing.
func TestFileSecretsToKeyVault(t *testing.T) {
	p := "dvtest" + strings.TrimPrefix(syncPrefix(t), "dv")
	stack := p
	cleanupSwarm(t, p, stack)
	variable := strings.ToUpper(p) + "_PASSWORD"
	values := map[string]string{"v1": newSecretValue("steps")}
	em := startEmulator(t, map[string]string{})
	dir := t.TempDir()
	writeProjectFile(t, dir, "compose.yaml", digestProject(variable, values["v1"]))

	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, em.Env, dir, args...)
		outputs = append(outputs, res)
		return res
	}
	secret := strings.ToLower(variable)
	kvName := strings.ReplaceAll(secret, "_", "-")

	// Step 1: file secrets.
	run("vault", "migrate", "--pull", "never").Assert(t, icmd.Success)
	held, err := os.ReadFile(filepath.Join(dir, "secrets", secret))
	assert.NilError(t, err)
	assert.Check(t, string(held) == values["v1"])

	// Step 2: push, then convert. The dry run says the value is there.
	res := run("vault", "push")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), secret+"   "+kvName+"   create"))
	res = run("vault", "migrate", "--pull", "never", "--to", "external", "--push", "--dry-run", "--format", "json")
	res.Assert(t, icmd.Success)
	res = run("vault", "migrate", "--pull", "never", "--to", "external", "--push")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stderr(), "`docker vault deploy STACK`"))
	assert.Check(t, is.Contains(res.Stderr(), "delete them once `docker vault deploy` works: "+filepath.Join("secrets", secret)))
	rewritten, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(rewritten), "  "+secret+":\n    external: true\n    x-vault: {name: "+kvName+"}\n"))

	res = run("vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stack)
	res.Assert(t, icmd.Success)
	waitServiceSeen(t, stack+"_web", sum(values["v1"]))

	res = run("vault", "migrate", "--pull", "never", "--to", "external", "--push")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "nothing to migrate"))

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
	assertNoValueInText(t, "docker inspect", inspectAll(t, p), values)
	compose, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	assert.NilError(t, err)
	assertNoValueInText(t, "compose.yaml", string(compose), values)
}

// trimmed is values without surrounding white space: a value printed
// whole, or without its final newline, is a leak either way.
func trimmed(values map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range values {
		out[k] = strings.TrimSpace(v)
	}
	return out
}
