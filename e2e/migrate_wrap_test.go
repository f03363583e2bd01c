package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// Issue 13 on the real engine: a project on three local images (one whose
// entrypoint reads APP_PASSWORD_FILE with file_env, one that only reads
// its environment, one without /bin/sh) is migrated, then run with
// `docker compose up` and as a stack. Every container checks, with
// check-digests, the sha256 of each variable it is given against a file of
// digests bind-mounted at /expect (digests only, never a value), and exits
// 0 only on a match.

// wrapValues are the secret values of the project. Each carries a random
// part, so no earlier run, cache or image holds it.
type wrapValues struct {
	pw      string // APP_PASSWORD of fileenv and DB_PASSWORD of plain: one secret
	apiKey  string // APP_API_KEY of fileenv (wrapped): two trailing newlines
	token   string // APP_TOKEN of plain, from .env: quotes, $, backslash, trailing newline
	pemKey  string // TLS_PRIVATE_KEY of plain: a multi-line PEM key
	dbURL   string // DATABASE_URL of plain: user:password@ in a URL
	admin   string // ADMIN_PASSWORD of setup, a service behind a profile: tab, CR, ends in x
	custom  string // CUSTOM_API_TOKEN of custom, a service with its own entrypoint
	noshell string // NOSHELL_PASSWORD of noshell: reported, it stays
	// cores are the random parts of the migrated values, by name: what
	// JSON (docker inspect) or YAML escaping of a value leaves as it is.
	cores map[string]string
}

func newWrapValues(t *testing.T) wrapValues {
	t.Helper()
	cores := map[string]string{}
	r := func(name string) string {
		b := make([]byte, 8)
		_, err := rand.Read(b)
		assert.NilError(t, err)
		cores[name+" core"] = hex.EncodeToString(b)
		return cores[name+" core"]
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	assert.NilError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	assert.NilError(t, err)
	return wrapValues{
		pw:      `pw 'single' "double" $HOME \back\slash  two  spaces ` + r("pw"),
		apiKey:  `key "quoted" $1 $$ \ end ` + r("apiKey") + "\n\n",
		token:   `tok "dq" $notavar \back  spaced ` + r("token") + "\n",
		pemKey:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		dbURL:   "postgres://app:u" + r("dbURL") + "@db:5432/app",
		admin:   "admin\tpw\r\n" + r("admin") + " ends in x",
		custom:  `custom "tok" $ ` + r("custom") + "\n",
		noshell: "noshell-" + r("noshell"),
		cores:   cores,
	}
}

// leaks maps a name to each string no output, file or inspect may hold:
// every migrated value, and the parts of one a diff or an error could show
// alone (each line of the PEM key, the URL's password, a value without its
// trailing newlines).
func (v wrapValues) leaks() map[string]string {
	m := map[string]string{
		"pw": v.pw, "apiKey": v.apiKey, "token": v.token, "pemKey": v.pemKey, "dbURL": v.dbURL, "admin": v.admin, "custom": v.custom,
		"apiKey trimmed": strings.TrimRight(v.apiKey, "\n"), "token trimmed": strings.TrimRight(v.token, "\n"),
	}
	for name, core := range v.cores {
		if name != "noshell core" {
			m[name] = core
		}
	}
	m["dbURL password"], _, _ = strings.Cut(strings.TrimPrefix(v.dbURL, "postgres://app:"), "@")
	for i, line := range strings.Split(v.pemKey, "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			m[fmt.Sprintf("pemKey line %d", i+1)] = line
		}
	}
	return m
}

// all is leaks plus the reported value: what an output may not show.
func (v wrapValues) all() map[string]string {
	m := v.leaks()
	m["noshell"] = v.noshell
	return m
}

// composeDQ writes a value as a YAML double-quoted scalar, with compose's
// $ escaped as $$.
func composeDQ(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "$", "$$").Replace(v) + `"`
}

// indentBlock writes a value that ends with one newline as the lines of a
// YAML literal block scalar.
func indentBlock(v, indent string) string {
	return indent + strings.ReplaceAll(strings.TrimSuffix(v, "\n"), "\n", "\n"+indent)
}

// writeWrapProject writes the project in dir: compose.yaml, .env and the
// digest files in expect/. forStack leaves out the service behind a
// profile (docker stack deploy has no profiles).
func writeWrapProject(t *testing.T, dir string, v wrapValues, forStack bool) {
	t.Helper()
	restart := "    deploy:\n      restart_policy:\n        condition: none\n"
	mount := "    volumes:\n      - ./expect:/expect:ro\n"
	var c strings.Builder
	c.WriteString("# issue 13: three images, one way each\nservices:\n")
	c.WriteString("  fileenv:\n    image: " + imgFileEnv + "\n" + mount + restart)
	c.WriteString("    environment:\n")
	c.WriteString("      APP_PASSWORD: " + composeDQ(v.pw) + "   # read through file_env\n")
	c.WriteString("      APP_API_KEY: " + composeDQ(v.apiKey) + "\n")
	c.WriteString("  plain:\n    image: " + imgPlain + "\n    command: [\"check-digests\", \"/expect/plain\"]\n" + mount + restart)
	c.WriteString("    environment:\n")
	c.WriteString("      APP_MODE: check\n")
	c.WriteString("      DB_PASSWORD: " + composeDQ(v.pw) + "\n")
	c.WriteString("      APP_TOKEN: ${APP_TOKEN}\n")
	c.WriteString("      DATABASE_URL: " + v.dbURL + "\n")
	c.WriteString("      TLS_PRIVATE_KEY: |\n" + indentBlock(v.pemKey, "        ") + "\n")
	c.WriteString("  custom:\n    image: " + imgPlain + "\n    entrypoint: /usr/local/bin/plain-entrypoint.sh check-digests /expect/custom\n" + mount + restart)
	c.WriteString("    environment:\n")
	c.WriteString("      APP_MODE: custom\n")
	c.WriteString("      CUSTOM_API_TOKEN: " + composeDQ(v.custom) + "\n")
	c.WriteString("      OTHER_THING: " + composeDQ(v.pw) + "   # a copy of the password\n")
	c.WriteString("  noshell:\n    image: " + imgNoShell + "\n" + mount + restart)
	c.WriteString("    environment:\n")
	c.WriteString("      NOSHELL_PASSWORD: " + v.noshell + "\n")
	if !forStack {
		c.WriteString("  setup:\n    image: " + imgPlain + "\n    profiles: [tools]\n    command: [\"check-digests\", \"/expect/setup\"]\n" + mount + restart)
		c.WriteString("    environment:\n")
		c.WriteString("      APP_MODE: setup\n")
		c.WriteString("      ADMIN_PASSWORD: " + composeDQ(v.admin) + "\n")
	}
	writeProjectFile(t, dir, "compose.yaml", c.String())
	// dotenv: single quotes keep $, \ and " as they are, and the newline
	// before the closing quote.
	writeProjectFile(t, dir, ".env", "# the app's token\nAPP_TOKEN='"+v.token+"'\nLOG_LEVEL=info\n")
	assert.NilError(t, os.MkdirAll(filepath.Join(dir, "expect"), 0o755))
	for name, body := range map[string]string{
		// file_env reads the file with $(cat): trailing newlines go, as
		// in the official images (pw has none).
		"fileenv": expectFile("APP_PASSWORD", v.pw, "APP_API_KEY", v.apiKey),
		"plain":   expectFile("APP_MODE", "check", "DB_PASSWORD", v.pw, "APP_TOKEN", v.token, "DATABASE_URL", v.dbURL, "TLS_PRIVATE_KEY", v.pemKey),
		"noshell": expectFile("NOSHELL_PASSWORD", v.noshell),
		"custom":  expectFile("APP_MODE", "custom", "CUSTOM_API_TOKEN", v.custom, "OTHER_THING", v.pw),
		"setup":   expectFile("APP_MODE", "setup", "ADMIN_PASSWORD", v.admin),
	} {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, "expect", name), []byte(body), 0o644))
	}
}

// assertComposeResolves checks that docker compose reads the project's
// variables as the values the test meant: the quoting of compose.yaml and
// .env is the test's, and a mistake there must not pass as migrate's.
func assertComposeResolves(t *testing.T, dir string, v wrapValues) {
	t.Helper()
	res := dockerIn(t, dir, nil, "compose", "--profile", "tools", "config", "--format", "json")
	res.Assert(t, icmd.Success)
	var cfg struct {
		Services map[string]struct {
			Environment map[string]*string `json:"environment"`
		} `json:"services"`
	}
	assert.NilError(t, json.Unmarshal([]byte(res.Stdout()), &cfg))
	for _, c := range []struct{ svc, name, want string }{
		{"fileenv", "APP_PASSWORD", v.pw}, {"fileenv", "APP_API_KEY", v.apiKey},
		{"plain", "DB_PASSWORD", v.pw}, {"plain", "APP_TOKEN", v.token}, {"plain", "DATABASE_URL", v.dbURL},
		{"plain", "TLS_PRIVATE_KEY", v.pemKey}, {"noshell", "NOSHELL_PASSWORD", v.noshell}, {"custom", "CUSTOM_API_TOKEN", v.custom}, {"custom", "OTHER_THING", v.pw}, {"setup", "ADMIN_PASSWORD", v.admin},
	} {
		// config prints a file compose can read again: $ as $$.
		got := cfg.Services[c.svc].Environment[c.name]
		assert.Check(t, got != nil && *got == strings.ReplaceAll(c.want, "$", "$$"), "the test's own project: docker compose does not read %s.%s as the value the test wrote", c.svc, c.name)
	}
}

// composeRunAll runs the project once (every profile given) and returns
// each service's exit code; a failure message quotes the logs, redacted.
func composeRunAll(t *testing.T, dir, project string, values map[string]string, profiles ...string) map[string]int {
	t.Helper()
	args := []string{"compose", "-p", project}
	for _, p := range profiles {
		args = append(args, "--profile", p)
	}
	res := dockerIn(t, dir, nil, append(args, "up", "--no-color")...)
	assertNoValue(t, res, values)
	assert.Assert(t, res.ExitCode == 0, "docker compose up: exit %d\n%s", res.ExitCode, redact(res.Combined(), values))
	ps := dockerIn(t, dir, nil, append(args, "ps", "-a", "--format", "{{.Service}} {{.ID}}")...)
	ps.Assert(t, icmd.Success)
	codes := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(ps.Stdout()), "\n") {
		svc, id, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		code := docker(t, nil, "inspect", "--format", "{{.State.ExitCode}}", id)
		code.Assert(t, icmd.Success)
		var n int
		_, err := fmt.Sscan(strings.TrimSpace(code.Stdout()), &n)
		assert.NilError(t, err)
		codes[svc] = n
		if n != 0 {
			logs := docker(t, nil, "logs", id)
			t.Logf("%s exited %d; its logs:\n%s", svc, n, redact(logs.Combined(), values))
		}
	}
	return codes
}

// composeInspect is `docker inspect` of every container of the project.
func composeInspect(t *testing.T, dir, project string) string {
	t.Helper()
	ps := dockerIn(t, dir, nil, "compose", "-p", project, "--profile", "tools", "ps", "-a", "-q")
	ps.Assert(t, icmd.Success)
	ids := strings.Fields(ps.Stdout())
	assert.Assert(t, len(ids) > 0, "the project has no container")
	res := docker(t, nil, append([]string{"inspect"}, ids...)...)
	res.Assert(t, icmd.Success)
	return res.Stdout()
}

// summaryLine reports whether a line of migrate's output that is not part
// of a diff holds every one of words.
func summaryLine(out string, words ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.ContainsAny(line[:1], " +-@") {
			continue
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			return true
		}
	}
	return false
}

// migrateFindings is the part of `migrate --format json` the tests read:
// each finding as the JSON object it is, so that the field telling which
// way a variable moved is found whatever its key.
type migrateFindings struct {
	Findings []map[string]any `json:"findings"`
}

func parseFindings(t *testing.T, res *icmd.Result) migrateFindings {
	t.Helper()
	var f migrateFindings
	assert.NilError(t, json.Unmarshal(migrateJSON(t, res.Stdout()), &f), "migrate --format json printed no JSON object")
	return f
}

// find returns the finding of service.variable.
func (f migrateFindings) find(service, variable string) map[string]any {
	for _, x := range f.Findings {
		if x["service"] == service && x["variable"] == variable {
			return x
		}
	}
	return nil
}

// way is the value among a finding's fields that names how the variable
// moved: "file-variable", "entrypoint" or "reported".
func way(finding map[string]any) string {
	for _, k := range sortedAnyKeys(finding) {
		if s, ok := finding[k].(string); ok && (s == "file-variable" || s == "entrypoint") {
			return s
		}
	}
	if finding["action"] == "reported" {
		return "reported"
	}
	return fmt.Sprintf("none of file-variable, entrypoint, reported in %v", sortedAnyKeys(finding))
}

func sortedAnyKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// wrapWays is how each variable of the project must move.
var wrapWays = []struct{ service, variable, way string }{
	{"fileenv", "APP_PASSWORD", "file-variable"},
	{"fileenv", "APP_API_KEY", "entrypoint"},
	{"plain", "DB_PASSWORD", "entrypoint"},
	{"plain", "APP_TOKEN", "entrypoint"},
	{"plain", "DATABASE_URL", "entrypoint"},
	{"plain", "TLS_PRIVATE_KEY", "entrypoint"},
	{"custom", "CUSTOM_API_TOKEN", "entrypoint"},
	{"custom", "OTHER_THING", "entrypoint"}, // a copy of the password: moved the same way
	{"noshell", "NOSHELL_PASSWORD", "reported"},
	{"setup", "ADMIN_PASSWORD", "entrypoint"},
}

// assertWays checks the JSON findings against wrapWays (setup only when
// the project has it) and that the no-shell variable's reason says why.
func assertWays(t *testing.T, f migrateFindings, withSetup bool) {
	t.Helper()
	for _, w := range wrapWays {
		if w.service == "setup" && !withSetup {
			continue
		}
		x := f.find(w.service, w.variable)
		if !assert.Check(t, x != nil, "no finding for %s.%s", w.service, w.variable) {
			continue
		}
		assert.Check(t, is.Equal(way(x), w.way), "%s.%s moved another way (finding: action %v, reason %v)", w.service, w.variable, x["action"], x["reason"])
		if w.way == "reported" {
			assert.Check(t, is.Equal(x["action"], "reported"), "%s.%s", w.service, w.variable)
			assert.Check(t, is.Contains(fmt.Sprint(x["reason"]), "/bin/sh"), "the reason of %s.%s does not say the image has no /bin/sh", w.service, w.variable)
		} else {
			assert.Check(t, is.Equal(x["action"], "migrated"), "%s.%s: reason %v", w.service, w.variable, x["reason"])
		}
	}
	// One value (the password, its copy) is one secret.
	shared := f.find("fileenv", "APP_PASSWORD")
	for _, o := range [][2]string{{"plain", "DB_PASSWORD"}, {"custom", "OTHER_THING"}} {
		other := f.find(o[0], o[1])
		if shared != nil && other != nil {
			assert.Check(t, shared["secret"] != nil && shared["secret"] == other["secret"], "one value used by fileenv.APP_PASSWORD and %s.%s must be one secret: %v and %v", o[0], o[1], shared["secret"], other["secret"])
		}
	}
}

// assertFilesHoldNo checks the project's compose.yaml and .env (when it
// has one).
func assertFilesHoldNo(t *testing.T, dir string, values map[string]string) {
	t.Helper()
	for _, name := range []string{"compose.yaml", ".env"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if name == ".env" && os.IsNotExist(err) {
			continue
		}
		assert.NilError(t, err)
		assertNoValueInText(t, name, string(b), values)
	}
}

// TestMigrateWrap runs issue 13's end-to-end tests on one set of test
// images, made once: what an image reads is cached per image ID, so the
// subtests after the first read it from the cache, as a user's second run
// does.
func TestMigrateWrap(t *testing.T) {
	ids := wrapImages(t)
	t.Run("Images", testWrapImages)
	t.Run("ComposeUp", func(t *testing.T) { testWrapComposeUp(t, ids) })
	t.Run("Stack", testWrapStack)
	t.Run("BadInput", testWrapBadInput)
	t.Run("StepsFileToExternal", testWrapStepsFileToExternal)
	t.Run("NonRoot", testWrapNonRoot)
}

// testWrapComposeUp: migrate, then docker compose up; a second run
// changes nothing; --check; the wrapper follows a new CMD of its image.
func testWrapComposeUp(t *testing.T, ids map[string]string) {
	v := newWrapValues(t)
	dir := t.TempDir()
	writeWrapProject(t, dir, v, false)
	assertComposeResolves(t, dir, v)
	project := "dvtest-" + syncPrefix(t)
	t.Cleanup(func() {
		dockerIn(t, dir, nil, "compose", "-p", project, "--profile", "tools", "down", "-v", "--remove-orphans")
	})
	all := v.all()
	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		t.Helper()
		res := dockerIn(t, dir, nil, args...)
		outputs = append(outputs, res)
		return res
	}

	// The control run: with the values in the environment every check
	// passes, so the digests and the checker are right, and a failure
	// after the migration is the migration's.
	codes := composeRunAll(t, dir, project, all, "tools")
	assert.Assert(t, is.DeepEqual(codes, map[string]int{"fileenv": 0, "plain": 0, "custom": 0, "noshell": 0, "setup": 0}), "the control run (before migrate) must pass")
	assert.Check(t, strings.Contains(composeInspect(t, dir, project), v.cores["token core"]), "the control run should show the leak in docker inspect")
	dockerIn(t, dir, nil, "compose", "-p", project, "--profile", "tools", "down", "-v").Assert(t, icmd.Success)

	before := snapshotTree(t, dir)
	res := run("vault", "migrate", "--check")
	assert.Check(t, is.Equal(res.ExitCode, 3), "migrate --check before the migration: %s", redact(res.Combined(), all))
	res = run("vault", "migrate", "--dry-run", "--format", "json")
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), all))
	assertWays(t, parseFindings(t, res), true)
	// --no-wrap: only what the image reads from a file moves.
	res = run("vault", "migrate", "--dry-run", "--no-wrap", "--format", "json")
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), all))
	noWrap := parseFindings(t, res)
	for _, w := range wrapWays {
		x := noWrap.find(w.service, w.variable)
		if !assert.Check(t, x != nil, "--no-wrap: no finding for %s.%s", w.service, w.variable) {
			continue
		}
		want := "reported"
		if w.way == "file-variable" {
			want = "file-variable"
		}
		assert.Check(t, is.Equal(way(x), want), "--no-wrap: %s.%s (reason %v)", w.service, w.variable, x["reason"])
	}
	res = run("vault", "migrate", "--dry-run")
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), all))
	assert.Check(t, summaryLine(res.Stdout(), "profile", "tools"), "the summary does not name the profiles it read")
	assert.Check(t, is.DeepEqual(snapshotTree(t, dir), before), "--dry-run and --check wrote")

	res = run("vault", "migrate")
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), all))
	for _, w := range wrapWays {
		row := regexp.MustCompile(`(?m)^` + w.service + ` +` + w.variable + `\b.*$`).FindString(res.Stdout())
		assert.Check(t, is.Contains(row, w.way), "the table row of %s.%s does not say %s", w.service, w.variable, w.way)
	}
	assertFilesHoldNo(t, dir, v.leaks())
	compose, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(compose), "NOSHELL_PASSWORD: "+v.noshell), "the reported variable must stay as it was")
	for _, ref := range []string{imgFileEnv, imgPlain} {
		assert.Check(t, is.Contains(string(compose), strings.TrimPrefix(ids[ref], "sha256:")), "no x-vault annotation records the image ID of %s the wrapper was made from", ref)
	}

	codes = composeRunAll(t, dir, project, all, "tools")
	assert.Check(t, is.DeepEqual(codes, map[string]int{"fileenv": 0, "plain": 0, "custom": 0, "noshell": 0, "setup": 0}), "after the migration every container must read the same bytes")
	assertNoValueInText(t, "docker inspect", composeInspect(t, dir, project), v.leaks())
	dockerIn(t, dir, nil, "compose", "-p", project, "--profile", "tools", "down", "-v").Assert(t, icmd.Success)

	// A second run changes nothing, byte for byte.
	migrated := snapshotTree(t, dir)
	res = run("vault", "migrate")
	assert.Check(t, is.Equal(res.ExitCode, 0), redact(res.Combined(), all))
	assert.Check(t, is.Contains(res.Stdout(), "nothing to migrate"))
	assert.Check(t, is.DeepEqual(snapshotTree(t, dir), migrated), "a second migrate changed files")
	// A reported secret is still a secret in the file: --check fails
	// unless --allow-reported.
	res = run("vault", "migrate", "--check")
	assert.Check(t, is.Equal(res.ExitCode, 3), "migrate --check with a variable still reported: %s", redact(res.Combined(), all))
	res = run("vault", "migrate", "--check", "--allow-reported")
	assert.Check(t, is.Equal(res.ExitCode, 0), "migrate --check --allow-reported after the migration: %s", redact(res.Combined(), all))
	assert.Check(t, is.Contains(res.Stdout(), "nothing to migrate"))

	// The image's CMD changes (a new version under the same tag): --check
	// sees the wrapper is stale, migrate refreshes it, and the service
	// runs the new CMD with the same values.
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "expect", "fileenv-v2"), []byte(expectFile("APP_PASSWORD", v.pw, "APP_API_KEY", v.apiKey)), 0o644))
	t.Cleanup(func() { docker(t, nil, "tag", ids[imgFileEnv], imgFileEnv) }) // for the subtests after this one
	ids[imgFileEnv+" v2"] = importImage(t, imgFileEnv, rootfs(t, exportBase(t),
		tarFile{"usr/local/bin/docker-entrypoint.sh", 0o755, fileEnvEntrypoint},
		tarFile{"usr/local/bin/check-digests", 0o755, checkDigests("#!/bin/sh", "")},
	), "ENV PATH=/usr/local/bin:/bin", `ENTRYPOINT ["docker-entrypoint.sh"]`, `CMD ["check-digests", "/expect/fileenv-v2"]`)
	res = run("vault", "migrate", "--check", "--allow-reported")
	assert.Check(t, is.Equal(res.ExitCode, 3), "migrate --check after the image's CMD changed: %s", redact(res.Combined(), all))
	assert.Check(t, is.Contains(res.Combined(), "fileenv"), "migrate --check sees the stale wrapper (exit 3) but does not name the service (fileenv) whose image CMD changed")
	res = run("vault", "migrate")
	assert.Check(t, is.Equal(res.ExitCode, 0), redact(res.Combined(), all))
	compose, err = os.ReadFile(filepath.Join(dir, "compose.yaml"))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(compose), "/expect/fileenv-v2"), "migrate did not refresh the wrapper's command from the image's new CMD")
	assert.Check(t, is.Contains(string(compose), strings.TrimPrefix(ids[imgFileEnv+" v2"], "sha256:")), "the annotation does not record the new image ID")
	codes = composeRunAll(t, dir, project, all)
	assert.Check(t, is.Equal(codes["fileenv"], 0), "after the refresh fileenv must read the same bytes")
	assertFilesHoldNo(t, dir, v.leaks())

	for _, r := range outputs {
		assertNoValue(t, r, all) // the reported value too: no output shows it
	}
}

// cleanupVaultSwarm removes, when the test ends, the stack, then the swarm
// secrets that deploy made from this test's vault (its source label names
// the emulator's vault, unique to the test).
func cleanupVaultSwarm(t *testing.T, stack, vaultName string) {
	t.Helper()
	t.Cleanup(func() {
		docker(t, nil, "stack", "rm", stack)
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			res := docker(t, nil, "secret", "ls", "--format", `{{.ID}} {{.Label "com.docker.vault.source"}}`)
			var left []string
			for _, line := range strings.Split(strings.TrimSpace(res.Stdout()), "\n") {
				id, source, _ := strings.Cut(line, " ")
				if strings.Contains(source, "//"+vaultName+".") {
					if docker(t, nil, "secret", "rm", id).ExitCode != 0 {
						left = append(left, id)
					}
				}
			}
			if len(left) > 0 {
				return poll.Continue("swarm secrets still in use: %v", left)
			}
			return poll.Success()
		}, poll.WithTimeout(60*time.Second), poll.WithDelay(time.Second))
	})
}

// waitTasksDone waits, at most timeout, until every service has a task in
// a final state, and returns the state of each ("complete", "failed"...).
// A failure message quotes the service's logs, redacted.
func waitTasksDone(t *testing.T, stack string, services []string, values map[string]string, timeout time.Duration) map[string]string {
	t.Helper()
	states := map[string]string{}
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		for _, svc := range services {
			res := docker(t, nil, "service", "ps", "--no-trunc", "--format", "{{.CurrentState}}|{{.Error}}", stack+"_"+svc)
			if res.ExitCode != 0 {
				return poll.Continue("service %s_%s: %s", stack, svc, res.Stderr())
			}
			first, _, _ := strings.Cut(strings.TrimSpace(res.Stdout()), "\n")
			state, _, _ := strings.Cut(strings.ToLower(first), " ")
			switch state {
			case "complete", "failed", "rejected", "shutdown":
				states[svc] = state
			default:
				return poll.Continue("%s_%s is %s", stack, svc, first)
			}
		}
		return poll.Success()
	}, poll.WithTimeout(timeout), poll.WithDelay(time.Second))
	for svc, state := range states {
		if state != "complete" {
			res := docker(t, nil, "service", "ps", "--no-trunc", "--format", "{{.CurrentState}}: {{.Error}}", stack+"_"+svc)
			logs := docker(t, nil, "service", "logs", "--raw", stack+"_"+svc)
			t.Logf("%s_%s: %s\nlogs:\n%s", stack, svc, redact(res.Stdout(), values), redact(logs.Combined(), values))
		}
	}
	return states
}

// testWrapStack: the same project as a stack, after migrate --to external
// --push and docker vault deploy.
func testWrapStack(t *testing.T) {
	v := newWrapValues(t)
	dir := t.TempDir()
	writeWrapProject(t, dir, v, true)
	p := syncPrefix(t)
	stack := "dvtest-" + p
	vaultName := "dvtest" + p
	em := startEmulator(t, map[string]string{}, "--name", vaultName)
	cleanupVaultSwarm(t, stack, vaultName)
	all := v.all()
	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, em.Env, dir, args...)
		outputs = append(outputs, res)
		return res
	}

	res := run("vault", "migrate", "--to", "external", "--push", "--format", "json")
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), all))
	assertWays(t, parseFindings(t, res), false)
	assertFilesHoldNo(t, dir, v.leaks())
	_, err := os.Stat(filepath.Join(dir, "secrets"))
	assert.Check(t, os.IsNotExist(err), "--push writes no secret file")

	res = run("vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stack)
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), all))
	states := waitTasksDone(t, stack, []string{"fileenv", "plain", "custom", "noshell"}, all, 60*time.Second)
	assert.Check(t, is.DeepEqual(states, map[string]string{"fileenv": "complete", "plain": "complete", "custom": "complete", "noshell": "complete"}), "every task must read the same bytes from its swarm secrets")
	assertNoValueInText(t, "docker inspect", inspectAll(t, stack), v.leaks())

	res = run("vault", "migrate", "--to", "external", "--push")
	assert.Check(t, is.Equal(res.ExitCode, 0), redact(res.Combined(), all))
	assert.Check(t, is.Contains(res.Stdout(), "nothing to migrate"))

	for _, r := range outputs {
		assertNoValue(t, r, all) // the reported value too: no output shows it
	}
}

// testWrapBadInput: an image that cannot be pulled leaves its variable
// reported with the pull error, and the rest is migrated; a run that fails
// writes nothing; no value appears in an error, a reason or the diff.
func testWrapBadInput(t *testing.T) {
	dir := t.TempDir()
	// Its registry is a closed port on 127.0.0.1: the pull fails in the
	// engine without reaching any other host.
	missing := "127.0.0.1:1/docker-vault-test/missing-" + syncPrefix(t) + ":1"
	good, gone := newSecretValue("good"), newSecretValue("gone")
	values := map[string]string{"good": good, "gone": gone}
	writeProjectFile(t, dir, "compose.yaml", `services:
  good:
    image: `+imgPlain+`
    environment:
      APP_MODE: check
      APP_TOKEN: `+good+`
  gone:
    image: `+missing+`
    environment:
      GONE_PASSWORD: `+gone+`
`)
	t.Cleanup(func() { docker(t, nil, "image", "rm", "-f", missing) })
	var outputs []*icmd.Result
	run := func(kvEnv []string, args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, kvEnv, dir, args...)
		outputs = append(outputs, res)
		return res
	}
	before := snapshotTree(t, dir)
	unchanged := func(what string) {
		t.Helper()
		assert.Check(t, is.DeepEqual(snapshotTree(t, dir), before), "%s wrote", what)
	}

	res := run(nil, "vault", "migrate", "--dry-run", "--pull=missing", "--format", "json")
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), values))
	f := parseFindings(t, res)
	x := f.find("gone", "GONE_PASSWORD")
	assert.Assert(t, x != nil, "no finding for gone.GONE_PASSWORD")
	assert.Check(t, is.Equal(x["action"], "reported"))
	reason := fmt.Sprint(x["reason"])
	assert.Check(t, is.Contains(strings.ToLower(reason), "pull"), "the reason does not give the pull error: %q", redact(reason, values))
	assert.Check(t, is.Contains(reason, "docker-vault-test/missing-"), "the reason does not name the image: %q", redact(reason, values))
	x = f.find("good", "APP_TOKEN")
	assert.Assert(t, x != nil, "no finding for good.APP_TOKEN")
	assert.Check(t, is.Equal(x["action"], "migrated"), "one image that cannot be pulled must not stop the rest: %v", x["reason"])
	t.Logf("reason of gone.GONE_PASSWORD: %s", redact(reason, values))
	unchanged("--dry-run --format json")

	res = run(nil, "vault", "migrate", "--dry-run")
	assert.Check(t, is.Equal(res.ExitCode, 0), redact(res.Combined(), values))
	assert.Check(t, is.Contains(res.Stdout(), "+++"), "--dry-run shows no diff")
	unchanged("--dry-run")

	res = run(nil, "vault", "migrate", "--dry-run", "--pull=never", "--format", "json")
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), values))
	x = parseFindings(t, res).find("gone", "GONE_PASSWORD")
	assert.Assert(t, x != nil)
	assert.Check(t, is.Equal(x["action"], "reported"))
	assert.Check(t, is.Contains(fmt.Sprint(x["reason"]), "docker-vault-test/missing-"), "with --pull=never the reason names the image that is not in the engine")

	// No engine at all: every image is unreadable, each variable says why,
	// and nothing is written.
	res = run(nil, "-H", "tcp://127.0.0.1:1", "vault", "migrate", "--dry-run", "--format", "json")
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), values))
	x = parseFindings(t, res).find("good", "APP_TOKEN")
	assert.Assert(t, x != nil)
	assert.Check(t, is.Equal(x["action"], "reported"), "with no engine the image cannot be read, so its start cannot be wrapped")
	assert.Check(t, is.Contains(fmt.Sprint(x["reason"]), "127.0.0.1:1"), "the reason does not say the engine could not be reached: %q", redact(fmt.Sprint(x["reason"]), values))
	unchanged("a dry run with no engine")

	// Errors: nothing written.
	res = run(nil, "vault", "migrate", "--pull=sometimes")
	assert.Check(t, res.ExitCode != 0, "--pull=sometimes was accepted")
	assert.Check(t, is.Contains(res.Stderr(), "sometimes"))
	unchanged("a refused --pull")
	res = run(nil, "vault", "migrate", "--to", "external")
	assert.Check(t, res.ExitCode != 0, "--to external without --push was accepted")
	unchanged("--to external without --push")
	em := startEmulator(t, map[string]string{})
	em.SetFaults(t, `{"forbidden":["*"]}`)
	res = run(em.Env, "vault", "migrate", "--to", "external", "--push")
	assert.Check(t, res.ExitCode != 0, "a push Key Vault refuses (403) must fail")
	assert.Check(t, is.Contains(res.Stderr(), "no file was changed"))
	assert.Check(t, is.Contains(res.Stderr(), "access denied"), "the error does not say Key Vault refused: %s", redact(res.Stderr(), values))
	unchanged("a failed --push")
	em.SetFaults(t, `{"forbidden":[]}`)

	// The migration: the rest moves, the unpullable one stays reported.
	res = run(nil, "vault", "migrate")
	assert.Assert(t, res.ExitCode == 0, redact(res.Combined(), values))
	assert.Check(t, is.Regexp(`(?m)^gone +GONE_PASSWORD\b.*reported`, res.Stdout()))
	b, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(b), good), "the pullable service's value is still in compose.yaml")
	assert.Check(t, strings.Contains(string(b), gone), "the reported value must stay where it was")

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
}
