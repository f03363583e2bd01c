package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// stepsProject is a project for the path from file secrets (step 1) to Key
// Vault (step 2): fileenv reads APP_PASSWORD through file_env, plain gets
// APP_TOKEN (trailing newline, quotes, $) through the wrapper.
func stepsProject(t *testing.T, dir, pw, token string) {
	t.Helper()
	writeProjectFile(t, dir, "compose.yaml", `services:
  fileenv:
    image: `+imgFileEnv+`
    volumes: ["./expect:/expect:ro"]
    deploy:
      restart_policy:
        condition: none
    environment:
      APP_PASSWORD: `+composeDQ(pw)+`
      APP_API_KEY: ${APP_TOKEN}
  plain:
    image: `+imgPlain+`
    volumes: ["./expect:/expect:ro"]
    deploy:
      restart_policy:
        condition: none
    environment:
      APP_MODE: check
      APP_TOKEN: ${APP_TOKEN}
`)
	writeProjectFile(t, dir, ".env", "APP_TOKEN='"+token+"'\n")
	assert.NilError(t, os.MkdirAll(filepath.Join(dir, "expect"), 0o755))
	for name, body := range map[string]string{
		"fileenv": expectFile("APP_PASSWORD", pw, "APP_API_KEY", token),
		"plain":   expectFile("APP_TOKEN", token),
	} {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, "expect", name), []byte(body), 0o644))
	}
}

// testWrapStepsFileToExternal: step 1, migrate to file secrets and run
// with docker compose; step 2, `docker vault push` stores the files'
// values in Key Vault, `migrate --to external --push` converts the file
// secrets, `deploy` runs the stack, and its tasks read the same bytes.
func testWrapStepsFileToExternal(t *testing.T) {
	p := syncPrefix(t)
	project, stack, vaultName := "dvtest-"+p+"c", "dvtest-"+p, "dvtest"+p
	pw := `step pw "q" $x \ ` + newSecretValue("pw")
	token := `step "tok" $$ \ ` + newSecretValue("token") + "\n"
	values := map[string]string{"pw": pw, "token": token, "token trimmed": strings.TrimSuffix(token, "\n")}
	dir := t.TempDir()
	stepsProject(t, dir, pw, token)
	em := startEmulator(t, map[string]string{}, "--name", vaultName)
	cleanupVaultSwarm(t, stack, vaultName)
	t.Cleanup(func() { dockerIn(t, dir, nil, "compose", "-p", project, "down", "-v", "--remove-orphans") })
	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, em.Env, dir, args...)
		outputs = append(outputs, res)
		return res
	}

	// Step 1: file secrets, docker compose up.
	res := run("vault", "migrate")
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), values))
	assertFilesHoldNo(t, dir, values)
	codes := composeRunAll(t, dir, project, values)
	assert.Assert(t, is.DeepEqual(codes, map[string]int{"fileenv": 0, "plain": 0}), "step 1: the containers must read the same bytes from the secret files")
	dockerIn(t, dir, nil, "compose", "-p", project, "down", "-v").Assert(t, icmd.Success)

	// Step 2: push the files' values, convert, deploy.
	res = run("vault", "push")
	assert.Assert(t, res.ExitCode == 0, "docker vault push: %s", redact(res.Combined(), values))
	res = run("vault", "ls", "--format", "{{.Name}}")
	assert.Check(t, is.Equal(res.ExitCode, 0), redact(res.Combined(), values))
	assert.Check(t, len(strings.Fields(res.Stdout())) >= 2, "Key Vault holds %q after push, want a secret per file secret", res.Stdout())
	res = run("vault", "push")
	assert.Check(t, is.Equal(res.ExitCode, 0), "a second push of the same values: %s", redact(res.Combined(), values))

	// The token changes in its file: push refuses to replace another value
	// in Key Vault, and stores it with --overwrite. The tasks must then
	// see the new value.
	token2 := `step2 "tok" $$ ` + newSecretValue("token2") + "\n"
	values["token2"], values["token2 trimmed"] = token2, strings.TrimSuffix(token2, "\n")
	entries, err := os.ReadDir(filepath.Join(dir, "secrets"))
	assert.NilError(t, err)
	tokenFile := ""
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(dir, "secrets", e.Name())); err == nil && string(b) == token {
			tokenFile = filepath.Join(dir, "secrets", e.Name())
		}
	}
	assert.Assert(t, tokenFile != "", "no file in secrets/ holds the token byte for byte")
	st, err := os.Stat(tokenFile)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(tokenFile, []byte(token2), st.Mode().Perm()))
	res = run("vault", "push")
	assert.Check(t, res.ExitCode != 0, "push replaced a Key Vault secret that holds another value without --overwrite")
	assert.Check(t, is.Contains(res.Stderr(), "--overwrite"), "the error does not name --overwrite: %s", redact(res.Stderr(), values))
	// A dry run of the conversion with --push tells, without a value, what
	// Key Vault holds: the token differs, the password is there already.
	// (It may exit 1: the push it previews would fail.)
	beforeDry := snapshotTree(t, dir)
	res = run("vault", "migrate", "--to", "external", "--push", "--dry-run", "--format", "json")
	assert.Check(t, is.DeepEqual(snapshotTree(t, dir), beforeDry), "migrate --dry-run --push wrote")
	if res.ExitCode != 0 {
		assert.Check(t, is.Contains(res.Stderr(), "--overwrite"), "a dry run that fails must say how to go on: %s", redact(res.Stderr(), values))
	}
	var dry struct {
		VaultCheck []struct{ Secret, Action string } `json:"vaultCheck"`
	}
	assert.Check(t, json.Unmarshal(migrateJSON(t, res.Stdout()), &dry), "migrate --dry-run --push --format json printed no JSON object")
	checks := map[string]string{}
	for _, c := range dry.VaultCheck {
		checks[c.Secret] = c.Action
	}
	assert.Check(t, is.Len(checks, 2), "vaultCheck: %v", checks)
	for secret, action := range checks {
		want := "unchanged"
		if secret == filepath.Base(tokenFile) {
			want = "conflict"
		}
		assert.Check(t, is.Equal(action, want), "vaultCheck of %s", secret)
	}
	res = run("vault", "push", "--overwrite")
	assert.Check(t, is.Equal(res.ExitCode, 0), "push --overwrite: %s", redact(res.Combined(), values))
	for name, body := range map[string]string{
		"fileenv": expectFile("APP_PASSWORD", pw, "APP_API_KEY", token2),
		"plain":   expectFile("APP_TOKEN", token2),
	} {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, "expect", name), []byte(body), 0o644))
	}

	res = run("vault", "migrate", "--to", "external", "--push")
	assert.Assert(t, res.ExitCode == 0, "migrate --to external on a project of file secrets: %s", redact(res.Combined(), values))
	assert.Check(t, is.Contains(res.Combined(), "docker vault deploy"), "migrate --to external does not say which command runs external secrets")
	compose, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(compose), "external: true"), "the file secrets were not converted")
	assert.Check(t, !strings.Contains(string(compose), "file: ./secrets/"), "a file secret is left after --to external")
	assertFilesHoldNo(t, dir, values)

	res = run("vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stack)
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), values))
	states := waitTasksDone(t, stack, []string{"fileenv", "plain"}, values, 60*time.Second)
	assert.Check(t, is.DeepEqual(states, map[string]string{"fileenv": "complete", "plain": "complete"}), "step 2: the tasks must read the same bytes from swarm secrets")
	assertNoValueInText(t, "docker inspect", inspectAll(t, stack), values)

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
}

// testWrapNonRoot: a service that runs as uid 999 starts under docker
// compose up after migrate and reads its secret, and the value stays
// unreadable by other users of the host.
func testWrapNonRoot(t *testing.T) {
	project := "dvtest-" + syncPrefix(t)
	token := `non-root "tok" $ ` + newSecretValue("nonroot") + "\n"
	values := map[string]string{"token": token}
	dir := t.TempDir()
	writeProjectFile(t, dir, "compose.yaml", `services:
  plain:
    image: `+imgPlain+`
    user: "999:999"
    volumes: ["./expect:/expect:ro"]
    environment:
      APP_MODE: check
      APP_TOKEN: `+composeDQ(token)+`
`)
	assert.NilError(t, os.MkdirAll(filepath.Join(dir, "expect"), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "expect", "plain"), []byte(expectFile("APP_TOKEN", token)), 0o644))
	t.Cleanup(func() { dockerIn(t, dir, nil, "compose", "-p", project, "down", "-v", "--remove-orphans") })

	res := dockerIn(t, dir, nil, "vault", "migrate")
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), values))
	assertNoValue(t, res, values)
	assertFilesHoldNo(t, dir, values)
	codes := composeRunAll(t, dir, project, values)
	assert.Check(t, is.DeepEqual(codes, map[string]int{"plain": 0}), "the uid 999 container must read its secret")

	// No other host user can read the value: the folder shuts them out,
	// or the file does.
	secrets := filepath.Join(dir, "secrets")
	ds, err := os.Stat(secrets)
	assert.NilError(t, err)
	entries, err := os.ReadDir(secrets)
	assert.NilError(t, err)
	assert.Assert(t, len(entries) > 0, "no secret file")
	for _, e := range entries {
		fs, err := os.Stat(filepath.Join(secrets, e.Name()))
		assert.NilError(t, err)
		others := ds.Mode().Perm()&0o001 != 0 && fs.Mode().Perm()&0o004 != 0
		assert.Check(t, !others, "secrets/%s (%v in a %v folder) is readable by every host user", e.Name(), fs.Mode().Perm(), ds.Mode().Perm())
	}
	assertNoValueInText(t, "docker inspect", composeInspect(t, dir, project), values)
}
