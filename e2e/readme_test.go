package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// The README's console examples are run as written: every `$ command` line
// of every ```console block of README.md is either in readmeRun (run for
// real, in a bash session per block, its exit status checked and the output
// lines the README shows after it compared) or in readmeIllustrative (not
// run, with the reason). A line in neither fails TestReadmeConsole, so a new
// example cannot go untested by accident; an entry no longer in the README
// fails it too, so the tables do not rot.
//
// What the sandbox changes, and nothing else:
//   - DOCKER_CONFIG is a folder of the test's: `make install` puts the plugin
//     there (MAKEFLAGS gives make a BIN outside the repository), and its
//     config.json lists the test bed's buildx and compose;
//   - "/tmp/" in a command is the test's temporary folder, so two runs (or a
//     user's own emulator) never share /tmp/kv.env;
//   - "mystack" in a command of a "stack" block is the test's own dvtest-
//     stack, and "app:1" in a "build" block a docker-vault-test/ image: tests
//     never create objects under names others may use;
//   - Azure, identity, proxy and CA variables of the caller are removed, and a
//     block run in a project (every place but inRepo) gets the variables of
//     an emulator of its own;
//   - such a block runs in a fresh project of local images
//     (docker-vault-test/busybox:1), so migrate's default --pull=missing pulls
//     nothing, and make demo runs migrate with --pull=never.

// place is where the commands of a block run.
type place string

const (
	inRepo    place = "repo"    // the repository's root, as a reader of the README would
	inProject place = "project" // readmeProject, with an emulator of the block's own
	// readmeProject after `docker vault migrate`: file secrets, and
	// token.txt holding the API token's value.
	inFileSecrets place = "file-secrets"
	// inFileSecrets after `docker vault migrate --to external --push`.
	inExternal place = "external"
	// readmeBuildProject: a Dockerfile and a compose.yaml whose service web
	// builds it with the secret npm_token, held in the emulator.
	inBuild place = "build"
	// readmeStackProject: a service of the test base image using an external
	// secret, all under dvtest- names; "mystack" in a command is the
	// project's stack, and its emulator's vault has a name of its own, by
	// which the swarm secrets deploy makes are removed.
	inStack place = "stack"
	inBlock place = "block" // wherever the block's other commands run
)

// readmeRun lists the commands run for real (the line after "$ ", its
// trailing comment removed) and where.
var readmeRun = map[string]place{
	// Quick start, Install: make builds with the Makefile's stamping.
	"make demo":                          inRepo,
	"make install":                       inRepo,
	"docker vault --help":                inRepo,
	"docker vault version":               inRepo,
	"docker vault version --format json": inRepo,
	"docker vault version --format '{{.Docker.Version}}'": inRepo,

	// The Key Vault emulator, as the README starts it (examples/seed.json).
	"go run ./scripts/kv-emulator --seed examples/seed.json --ca-out /tmp/kv-ca.pem --env-out /tmp/kv.env &": inRepo,
	". /tmp/kv.env":   inRepo,
	"docker vault ls": inBlock, // here and in the ls section

	// docker vault ls in a project.
	"docker vault ls -f compose.yaml":          inProject,
	"docker vault ls --versions --format json": inProject,
	"docker vault ls -q":                       inProject,

	// From file secrets to Key Vault, in steps (deploy is not run).
	"docker vault push --dry-run":             inFileSecrets,
	"docker vault push":                       inFileSecrets,
	"docker vault set api-token -f token.txt": inFileSecrets,

	// docker vault sync and deploy, on a stack of the test's.
	"docker vault deploy -c compose.yaml mystack": inStack,
	"docker vault sync --dry-run":                 inStack,
	"docker vault sync --wait":                    inStack,
	"docker vault sync --restart":                 inStack,
	"docker vault sync --stack mystack":           inStack,
	"docker vault sync --watch 5m":                inStack, // readmeInterrupt

	// docker vault build, with images under docker-vault-test/ names.
	"docker vault build -t app:1 --load .":                                                  inBuild,
	"docker vault build --vault-secret id=npm_token,name=ci-npm-token -f Dockerfile.prod .": inBuild,
	"docker vault build --compose -f compose.yaml web":                                      inBuild,

	// docker vault migrate, in order on one project.
	"docker vault migrate --dry-run":            inProject,
	"docker vault migrate":                      inProject,
	"docker vault migrate --check":              inProject,
	"docker vault migrate --to external --push": inBlock, // here and in the steps to Key Vault
	"docker vault migrate -f compose.yaml -f compose.prod.yaml --env-file prod.env --profile debug": inProject,

	// docker vault status, on the deployed stack: in sync, exit 0.
	"docker vault status --stack mystack":               inStack,
	"docker vault status --stack mystack --format json": inStack,
	"docker vault status --expiry-warning 7d":           inStack,
}

// readmeInterrupt lists the commands that run until Ctrl-C: once the
// emulator has answered the command's first list of the vault, the test
// sends SIGINT to it, as Ctrl-C would, and expects a clean exit.
var readmeInterrupt = map[string]bool{
	"docker vault sync --watch 5m": true,
}

// readmeIllustrative lists the commands not run, and why.
var readmeIllustrative = map[string]string{
	"make test":        "runs this test itself",
	"make test-unit":   "the whole unit suite: make test runs the same tests",
	"make test-corpus": "needs ../shared; CI runs it after make test",
	"make bench":       "minutes of benchmarks; CI does not run them",

	// From file secrets to Key Vault, in steps.
	"docker vault deploy mystack": "the example project's swarm secrets (api_token_...) would not carry the dvtest- prefix; the deploy of the sync section runs on a dvtest- project",

	// docker vault migrate --to environment.
	"docker vault migrate --to environment --push": "a block of its own would need a project of file secrets and an emulator; e2e/migrate_environment_test.go runs it, then docker vault run -- docker compose up",

	// docker vault scan: a CI gate exits 3 on what it finds.
	"docker vault scan":                                              "exits 3 on the findings it lists (the README test wants 0); e2e/scan_test.go runs it on a project with a secret in every place",
	"docker vault scan --format json":                                "exits 3 on the findings it lists (the README test wants 0); e2e/scan_test.go runs it on a project with a secret in every place",
	"docker vault scan --format sarif > docker-vault.sarif":          "exits 3 on the findings it lists (the README test wants 0); e2e/scan_test.go runs it on a project with a secret in every place; the SARIF is checked against the schema in internal/scan",
	"docker vault scan --write-baseline .docker-vault-baseline.json": "e2e/scan_test.go writes a baseline, then scans with it (exit 0)",
	"docker vault scan --baseline .docker-vault-baseline.json":       "e2e/scan_test.go writes a baseline, then scans with it (exit 0)",
	"docker vault scan . --no-ignore":                                "exits 3 on the findings it lists (the README test wants 0); e2e/scan_test.go runs it on a project with a secret in every place",
	"docker vault scan .":                                            "exits 3 on the findings it lists (the README test wants 0); e2e/scan_test.go runs it on a project with a secret in every place",
	"docker vault scan --no-ignore .":                                "exits 3 on the findings it lists (the README test wants 0); e2e/scan_test.go runs it on a project with a secret in every place",
	"docker vault scan deploy/ services/api/compose.yaml":            "illustrative paths; internal/scan's tree tests scan folders and files given as paths",
	"docker vault scan --image app:1":                                "e2e/scan_image_test.go builds images with secrets in ENV, history and layers and scans them (exit 3), and a clean one (exit 0)",
	"docker vault scan --image app:1 --vault myvault":                "e2e/scan_image_test.go scans images against the emulator (raw, base64, hex)",
	"docker vault scan --vault myvault --all docs/":                  "e2e/scan_test.go searches files for a vault's values (raw, base64, hex, URL-encoded)",
	"docker vault scan --image myapp:1":                              "e2e/scan_image_test.go (the output shown is illustrative)",
	"docker vault scan --image myapp:1 --vault myvault --all --format '{{.Rule}} {{.Path}} {{.Secret}} {{.Encoding}}'": "e2e/scan_image_test.go (the output shown is illustrative)",

	// docker vault run, up and compose.
	"docker vault run -- docker compose up -d":               "e2e/run_test.go runs docker vault run -- docker compose up on a project whose container checks its secret's digest",
	"docker vault run --no-override -- docker compose build": "illustrative: the README project has nothing to build; commands/run_test.go covers --no-override",
	"docker vault up -d":                                     "e2e/up_test.go starts a project of external secrets with docker vault up -d, then ps/logs/down without the tool",
	"docker vault up --dry-run":                              "e2e/up_test.go checks the dry run (the path /src/shop shown is illustrative)",
	"docker vault compose run --rm app ./migrate-db":         "illustrative: the README project has no migrate-db; e2e/up_test.go runs docker vault compose run",
}

// readmeVolatile are the parts of output lines that depend on the machine
// or the moment: both the README's line and the printed one have each match
// replaced by its placeholder, and runs of spaces collapsed (a column's
// width follows its values), before they are compared. TestReadmeConsole
// checks the value that matters, the stamped version, on its own.
var readmeVolatile = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`^( Version: +)v\d+\.\d+\.\d+\S*$`), "${1}<version>"},
	{regexp.MustCompile(`^( Git commit: +)[0-9a-f]{7,}$`), "${1}<commit>"},
	{regexp.MustCompile(`^( Go version: +)go\d+\.\d+\S*$`), "${1}<go>"},
	{regexp.MustCompile(`^( OS/Arch: +)[a-z0-9]+/[a-z0-9]+$`), "${1}<os/arch>"},
	{regexp.MustCompile(`^( Endpoint: +)\S+://\S+$`), "${1}<endpoint>"},
	{regexp.MustCompile(`^( Engine version: +)\d+\.\d+\.\d+\S*$`), "${1}<engine>"},
	{regexp.MustCompile(`^( API version: +)1\.\d+$`), "${1}<api>"},
	// version --format '{{.Docker.Version}}': the engine's version alone.
	{regexp.MustCompile(`^\d+\.\d+\.\d+(\+\S+)?$`), "<engine>"},
	// docker's units.HumanDuration, as ls prints the update time.
	{regexp.MustCompile(`\b(Less than a second|About an? \w+|\d+ \w+) ago\b`), "<time> ago"},
}

var spaces = regexp.MustCompile(` {2,}`)

// normalizeShown is a line as checkShownOutput compares it.
func normalizeShown(line string) string {
	for _, v := range readmeVolatile {
		line = v.re.ReplaceAllString(line, v.repl)
	}
	return spaces.ReplaceAllString(line, " ")
}

type readmeStep struct {
	line    int      // in README.md
	command string   // as written after "$ "
	key     string   // command without its trailing comment
	output  []string // the lines the README shows after it
}

type readmeBlock struct {
	line  int
	steps []readmeStep
}

var untaggedImage = regexp.MustCompile(`found in image (sha256:[0-9a-f]{64})\b`)

var trailingComment = regexp.MustCompile(`\s+#\s.*$`)

// readmeBlocks extracts the ```console blocks of the README.
func readmeBlocks(t *testing.T, text string) []readmeBlock {
	t.Helper()
	var blocks []readmeBlock
	var cur *readmeBlock
	for i, raw := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(raw)
		switch {
		case cur == nil && trimmed == "```console":
			blocks = append(blocks, readmeBlock{line: i + 1})
			cur = &blocks[len(blocks)-1]
		case cur != nil && trimmed == "```":
			cur = nil
		case cur != nil && strings.HasPrefix(trimmed, "$ "):
			cmd := strings.TrimPrefix(trimmed, "$ ")
			key := strings.TrimSpace(trailingComment.ReplaceAllString(cmd, ""))
			cur.steps = append(cur.steps, readmeStep{line: i + 1, command: cmd, key: key})
		case cur != nil:
			assert.Assert(t, len(cur.steps) > 0, "README.md:%d: output before any $ command in a console block", i+1)
			s := &cur.steps[len(cur.steps)-1]
			s.output = append(s.output, strings.TrimRight(raw, " \t"))
		}
	}
	assert.Assert(t, cur == nil, "README.md: a console block is not closed")
	return blocks
}

// readmeCoverage names each command of blocks in neither or both of
// readmeRun and readmeIllustrative, and each entry of those no block shows.
func readmeCoverage(blocks []readmeBlock) []string {
	var problems []string
	seen := map[string]bool{}
	for _, b := range blocks {
		for _, s := range b.steps {
			seen[s.key] = true
			_, run := readmeRun[s.key]
			_, skip := readmeIllustrative[s.key]
			if run == skip {
				problems = append(problems, fmt.Sprintf("README.md:%d: %q must be in exactly one of readmeRun and readmeIllustrative", s.line, s.key))
			}
		}
	}
	for _, table := range []map[string]string{keys(readmeRun), readmeIllustrative} {
		for k := range table {
			if !seen[k] {
				problems = append(problems, fmt.Sprintf("%q is listed, but README.md no longer shows it", k))
			}
		}
	}
	sort.Strings(problems)
	return problems
}

func keys(m map[string]place) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// The checks above can fail: a new command, a stale entry, and output that
// differs in more than the volatile parts are each caught.
func TestReadmeChecksFail(t *testing.T) {
	text := "intro\n```console\n$ docker vault brand-new --flag   # a new example\n$ make test\nout\n```\n```yaml\n$ not: console\n```\n"
	blocks := readmeBlocks(t, text)
	assert.Assert(t, is.Len(blocks, 1))
	assert.Check(t, is.DeepEqual(blocks[0].steps, []readmeStep{
		{line: 3, command: "docker vault brand-new --flag   # a new example", key: "docker vault brand-new --flag"},
		{line: 4, command: "make test", key: "make test", output: []string{"out"}},
	}, cmp.AllowUnexported(readmeStep{})))
	problems := strings.Join(readmeCoverage(blocks), "\n")
	assert.Check(t, is.Contains(problems, `README.md:3: "docker vault brand-new --flag" must be in exactly one`))
	assert.Check(t, is.Contains(problems, `"docker vault migrate" is listed, but README.md no longer shows it`))
	assert.Check(t, !strings.Contains(problems, `"make test"`), problems)

	for _, tc := range []struct {
		readme, printed string
		same            bool
	}{
		{" Version:    v0.0.0-dev+1a2b3c4", " Version:    v1.2.3-4-gabcdef0-dirty", true},
		{" Version:    v0.0.0-dev+1a2b3c4", " Version:    unknown", false},
		{" Git commit: 1a2b3c4", " Git commit: unknown", false},
		{" Context:        default", " Context:        other", false},
		{"20.10.24+dfsg1", "24.0.7", true},
		{"20.10.24+dfsg1", "{{.Docker.Version}}", false},
		{"api-token       enabled   4 seconds ago   -", "api-token       enabled   Less than a second ago   -", true},
		{"api-token       enabled   4 seconds ago   -", "db-password     enabled   4 seconds ago   -", false},
		{"api-token       enabled   4 seconds ago   -", "api-token       disabled  4 seconds ago   -", false},
	} {
		assert.Check(t, (normalizeShown(tc.readme) == normalizeShown(tc.printed)) == tc.same, "%q vs %q", tc.readme, tc.printed)
	}
}

func TestReadmeConsole(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(env.repoRoot, "README.md"))
	assert.NilError(t, err)
	blocks := readmeBlocks(t, string(text))
	assert.Assert(t, len(blocks) > 5, "found %d console blocks", len(blocks))

	// Every command is run or listed, and every entry is still used.
	problems := readmeCoverage(blocks)
	assert.Assert(t, len(problems) == 0, "readme_test.go's tables and README.md disagree:\n%s", strings.Join(problems, "\n"))

	sb := newReadmeSandbox(t)
	for _, b := range blocks {
		var run []readmeStep
		where := place("")
		for _, s := range b.steps {
			p, ok := readmeRun[s.key]
			if !ok {
				continue
			}
			if p != inBlock {
				assert.Assert(t, where == "" || where == p, "README.md:%d: one block runs in one place", s.line)
				where = p
			}
			run = append(run, s)
		}
		if len(run) == 0 {
			continue
		}
		assert.Assert(t, where != "", "README.md:%d: readmeRun gives no place to the block", b.line)
		t.Run(fmt.Sprintf("README.md:%d", b.line), func(t *testing.T) {
			sb.runBlock(t, where, run)
		})
	}
}

// readmeSandbox is what every block shares: the docker config with the
// plugin that `make install` built, and the environment.
type readmeSandbox struct {
	tmp       string
	configDir string
	environ   []string
}

func newReadmeSandbox(t *testing.T) *readmeSandbox {
	t.Helper()
	tmp := t.TempDir()
	sb := &readmeSandbox{tmp: tmp, configDir: filepath.Join(tmp, "docker-config")}
	assert.NilError(t, writeDockerConfig(sb.configDir, env.testbed["TESTBED_PLUGINS_DIR"]))
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AZURE_"), strings.HasPrefix(k, "IDENTITY_"), strings.HasPrefix(k, "MSI_"),
			strings.HasPrefix(k, "SSL_CERT_"), k == "IMDS_ENDPOINT", k == "DOCKER_VAULT_URL",
			strings.HasSuffix(strings.ToUpper(k), "_PROXY"), k == "DOCKER_CONFIG", k == "MAKEFLAGS", k == "MAKELEVEL":
			continue
		}
		sb.environ = append(sb.environ, kv)
	}
	sb.environ = append(sb.environ,
		"DOCKER_CONFIG="+sb.configDir,
		"MAKEFLAGS=BIN="+filepath.Join(tmp, "bin", "docker-vault"))
	// Every block finds the plugin installed, whichever runs first.
	install := exec.Command("make", "-s", "install")
	install.Dir = env.repoRoot
	install.Env = sb.environ
	start := time.Now()
	out, err := install.CombinedOutput()
	t.Logf("make install: %s", time.Since(start).Round(time.Millisecond))
	assert.NilError(t, err, "make install: %s", out)
	return sb
}

// runBlock runs the steps of one block in one bash session, in order, as a
// reader would type them: a `. file` or an export carries to the next line.
func (sb *readmeSandbox) runBlock(t *testing.T, where place, steps []readmeStep) {
	dir := env.repoRoot
	environ := sb.environ
	values := map[string]string{}
	subst := map[string]string{"/tmp/": t.TempDir() + "/"}
	var em *emulator
	if where != inRepo {
		dir = filepath.Join(t.TempDir(), "dvtest-readme")
		switch where {
		case inBuild:
			values = readmeBuildProject(t, dir)
			em = startEmulator(t, map[string]string{"npm-token": values["npm_token"], "ci-npm-token": values["ci_npm_token"]}, randSeed())
			img := fmt.Sprintf("docker-vault-test/readme-app:%d", os.Getpid())
			t.Cleanup(func() { docker(t, nil, "image", "rm", "-f", img) })
			subst["app:1"] = img
		case inStack:
			p := syncPrefix(t)
			stack, vaultName := "dvtest-readme-"+p, "dvtest"+p
			// The folder names the project (stack deploy refuses name:),
			// so sync's default stack is this one.
			dir = filepath.Join(filepath.Dir(dir), stack)
			values = readmeStackProject(t, dir, stack)
			em = startEmulator(t, map[string]string{"readme-token": values["readme_token"]}, "--name", vaultName)
			cleanupVaultSwarm(t, stack, vaultName)
			subst["mystack"] = stack
		default:
			values = readmeProject(t, dir)
			// Key Vault already holds the API token (ls has a row to print;
			// migrate --push and push find it unchanged).
			em = startEmulator(t, map[string]string{"api-token": values["API_TOKEN"]})
		}
		environ = append(append([]string{}, environ...), em.Env...)
		var setup [][]string
		switch where {
		case inFileSecrets:
			setup = [][]string{{"migrate"}}
		case inExternal:
			setup = [][]string{{"migrate"}, {"migrate", "--to", "external", "--push"}}
		}
		for _, args := range setup {
			cmd := icmd.Command("docker", append([]string{"vault"}, args...)...)
			cmd.Dir, cmd.Env = dir, environ
			res := icmd.RunCmd(cmd)
			assertNoValue(t, res, values)
			assert.Assert(t, res.ExitCode == 0, "setup: docker vault %s: %s", strings.Join(args, " "), res.Stderr())
		}
		if where == inFileSecrets {
			assert.NilError(t, os.WriteFile(filepath.Join(dir, "token.txt"), []byte(values["API_TOKEN"]), 0o600))
		}
	}
	outDir := t.TempDir()
	tmpDir := strings.TrimSuffix(subst["/tmp/"], "/")

	bash := exec.Command("bash", "--norc", "--noprofile")
	bash.Dir = dir
	bash.Env = environ
	bash.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := bash.StdinPipe()
	assert.NilError(t, err)
	stdout, err := bash.StdoutPipe()
	assert.NilError(t, err)
	bash.Stderr = os.Stderr
	assert.NilError(t, bash.Start())
	t.Cleanup(func() {
		stdin.Close()
		// The session's process group holds what a line started in the
		// background (the emulator of the README, under go run).
		_ = syscall.Kill(-bash.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = bash.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-bash.Process.Pid, syscall.SIGKILL)
		}
	})
	markers := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			markers <- sc.Text()
		}
		close(markers)
	}()

	for i, s := range steps {
		cmd := s.command
		for from, to := range subst {
			cmd = strings.ReplaceAll(cmd, from, to)
		}
		outFile := filepath.Join(outDir, fmt.Sprintf("%d.out", i))
		errFile := filepath.Join(outDir, fmt.Sprintf("%d.err", i))
		// The newline before } ends the line's own comment.
		if readmeInterrupt[s.key] {
			assert.Assert(t, em != nil, "README.md:%d: %s runs until Ctrl-C and needs an emulator to tell when to stop it", s.line, s.key)
			em.ResetCounters(t)
			go interruptAfterList(em, bash.Process.Pid)
		}
		fmt.Fprintf(stdin, "{ %s\n} >%s 2>%s </dev/null; echo \"rc $?\"\n", cmd, outFile, errFile)
		var rc string
		start := time.Now()
		select {
		case m, ok := <-markers:
			assert.Assert(t, ok, "README.md:%d: the shell ended", s.line)
			rc = strings.TrimPrefix(m, "rc ")
		case <-time.After(90 * time.Second):
			t.Fatalf("README.md:%d: %s did not finish in 90s", s.line, s.key)
		}
		stdoutText := readFileString(t, outFile)
		stderrText := readFileString(t, errFile)
		for name, v := range values {
			assert.Check(t, !strings.Contains(stdoutText+stderrText, v), "README.md:%d: %s printed the value of %s", s.line, s.key, name)
		}
		if t.Failed() {
			t.FailNow() // before printing anything that could hold one
		}
		t.Logf("README.md:%d: %s: exit %s in %s", s.line, s.key, rc, time.Since(start).Round(time.Millisecond))
		assert.Assert(t, rc == "0", "README.md:%d: %s exited %s\nstdout:\n%s\nstderr:\n%s", s.line, s.key, rc, stdoutText, stderrText)
		// A build without -t leaves an untagged image, which the leak check
		// names by its ID: the test's own, removed when it ends.
		for _, m := range untaggedImage.FindAllStringSubmatch(stderrText, -1) {
			id := m[1]
			t.Cleanup(func() { docker(t, nil, "image", "rm", "-f", id) })
		}
		if strings.HasSuffix(s.key, "&") {
			waitBackground(t, s, tmpDir, errFile)
		}
		checkShownOutput(t, s, stdoutText)
		if strings.Contains(s.key, "--format json") {
			checkJSONLines(t, s, stdoutText)
		}
		if s.key == "docker vault version" {
			checkStampedVersion(t, stdoutText, strings.Join(s.output, "\n"))
		}
	}
	migrated := where == inFileSecrets || where == inExternal
	skip := map[string]bool{"token.txt": true, "prod.env": true}
	for _, s := range steps {
		migrated = migrated || s.key == "docker vault migrate"
		if strings.Contains(s.key, "--env-file prod.env") {
			skip["prod.env"] = false
		}
	}
	if migrated {
		checkValuesOnlyInSecrets(t, dir, values, skip)
	}
}

// checkValuesOnlyInSecrets checks what the README promises of a migrated
// project: its values are left only in the secret files, and in the files
// in skip (token.txt, which the steps to Key Vault read, and prod.env when no
// step loaded it).
func checkValuesOnlyInSecrets(t *testing.T, dir string, values map[string]string, skip map[string]bool) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if rel == "secrets" {
				return filepath.SkipDir
			}
			return nil
		}
		if skip[rel] {
			return nil
		}
		n++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for name, v := range values {
			assert.Check(t, !strings.Contains(string(b), v), "%s still holds the value of %s", rel, name)
		}
		return nil
	})
	assert.NilError(t, err)
	assert.Assert(t, n >= 3, "only %d files in the project", n)
}

// interruptAfterList sends SIGINT to the children of the shell (the docker
// CLI of the line running, which passes it to the plugin) once the emulator
// has served a list of the vault, and a moment more for the round to end.
// It runs in a goroutine of its own, so it reads the counters without t:
// a failure there only makes it wait, and the line's timeout reports it.
func interruptAfterList(em *emulator, shell int) {
	listed := func() bool {
		resp, err := http.Get(em.Admin + "/counters")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var c map[string]int
		return json.NewDecoder(resp.Body).Decode(&c) == nil && c["GET /secrets"] >= 1
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && !listed() {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	for _, pid := range childrenOf(shell) {
		_ = syscall.Kill(pid, syscall.SIGINT)
	}
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after ')'.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		var state string
		var self, ppid int
		if _, err := fmt.Sscanf(rest, " %s %d", &state, &ppid); err != nil || ppid != pid {
			continue
		}
		if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(f)), "%d", &self); err == nil {
			out = append(out, self)
		}
	}
	return out
}

func readFileString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	assert.NilError(t, err)
	return string(b)
}

// waitBackground waits for what a line started with & to be ready, as a
// reader waits for the emulator to print its export lines before sourcing
// them.
func waitBackground(t *testing.T, s readmeStep, tmpDir, errFile string) {
	t.Helper()
	m := regexp.MustCompile(`--env-out /tmp/(\S+)`).FindStringSubmatch(s.command)
	assert.Assert(t, m != nil, "README.md:%d: readme_test.go knows no way to wait for %s", s.line, s.key)
	envFile := filepath.Join(tmpDir, m[1])
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(envFile); err == nil && strings.Contains(string(b), "DOCKER_VAULT_URL=") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("README.md:%d: %s wrote no %s in 90s; stderr:\n%s", s.line, s.key, envFile, readFileString(t, errFile))
}

// checkShownOutput compares the lines the README shows after a command with
// what it printed, as normalizeShown makes them.
func checkShownOutput(t *testing.T, s readmeStep, stdout string) {
	t.Helper()
	want := s.output
	for len(want) > 0 && want[len(want)-1] == "" {
		want = want[:len(want)-1]
	}
	if len(want) == 0 {
		return
	}
	got := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	for i := range got {
		got[i] = strings.TrimRight(got[i], " \t")
	}
	assert.Assert(t, len(got) == len(want), "README.md:%d: %s printed %d lines, the README shows %d:\n%s", s.line, s.key, len(got), len(want), stdout)
	for i := range want {
		assert.Check(t, normalizeShown(got[i]) == normalizeShown(want[i]), "README.md:%d: line %d of %s's output:\nREADME: %q\nprinted: %q", s.line+1+i, i+1, s.key, want[i], got[i])
	}
}

// checkJSONLines checks --format json as docker prints it: one JSON object
// per line.
func checkJSONLines(t *testing.T, s readmeStep, stdout string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	assert.Assert(t, stdout != "" && len(lines) > 0, "README.md:%d: %s printed nothing", s.line, s.key)
	for i, l := range lines {
		var obj map[string]any
		assert.Check(t, json.Unmarshal([]byte(l), &obj), "README.md:%d: line %d of %s is not one JSON object: %q", s.line, i+1, s.key, l)
	}
}

// checkStampedVersion checks that the plugin `make install` built prints the
// version the Makefile stamps: git describe of the nearest v* tag, or
// v0.0.0-dev+<commit>[-dirty] in a clone without one; and that the README
// shows a version of that same form, consistent with its own Git commit
// line (the README once showed a v0.1.0 no build printed).
func checkStampedVersion(t *testing.T, printed, readme string) {
	t.Helper()
	git := exec.Command("git", "tag", "--list", "v[0-9]*")
	git.Dir = env.repoRoot
	tags, err := git.Output()
	assert.NilError(t, err)
	tagged := strings.TrimSpace(string(tags)) != ""
	for _, out := range []struct{ what, text string }{{"printed", printed}, {"README.md shows", readme}} {
		version := regexp.MustCompile(`(?m)^ Version: +(\S+)$`).FindStringSubmatch(out.text)
		commit := regexp.MustCompile(`(?m)^ Git commit: +(\S+)$`).FindStringSubmatch(out.text)
		assert.Assert(t, version != nil && commit != nil, "%s:\n%s", out.what, out.text)
		if !tagged {
			assert.Check(t, is.Regexp(`^v0\.0\.0-dev\+`+regexp.QuoteMeta(commit[1])+`(-dirty)?$`, version[1]), "%s: no v* tag in the repository, so the version is v0.0.0-dev+<its Git commit>", out.what)
			continue
		}
		assert.Check(t, is.Regexp(`^v\d+\.\d+\.\d+(-\d+-g`+regexp.QuoteMeta(commit[1])+`)?(-dirty)?$`, version[1]), "%s: git describe of a v* tag", out.what)
	}
}

// readmeProject writes a project the README's project commands run in: the
// shapes migrate's examples name (compose.yaml, compose.prod.yaml, prod.env,
// a profile debug, a .env), with images the engine has. It returns its
// values, which no command may print.
func readmeProject(t *testing.T, dir string) map[string]string {
	t.Helper()
	values := map[string]string{
		"API_TOKEN":     uniqueValue(t, "readme-api-token"),
		"DB_PASSWORD":   uniqueValue(t, "readme-db-password"),
		"SMTP_PASSWORD": uniqueValue(t, "readme-smtp-password"),
	}
	image := env.baseImage
	files := map[string]string{
		"compose.yaml": fmt.Sprintf(`name: dvtest-readme
services:
  app:
    image: %[1]s
    command: ["sleep", "3600"]
    environment:
      API_TOKEN: ${API_TOKEN}
      DB_PASSWORD: %[2]s
  debug:
    image: %[1]s
    profiles: [debug]
    command: ["sleep", "3600"]
    environment:
      DB_PASSWORD: %[2]s
`, image, values["DB_PASSWORD"]),
		".env": "API_TOKEN=" + values["API_TOKEN"] + "\n",
		"compose.prod.yaml": `services:
  app:
    environment:
      SMTP_PASSWORD: ${SMTP_PASSWORD}
`,
		"prod.env": "SMTP_PASSWORD=" + values["SMTP_PASSWORD"] + "\n",
	}
	assert.NilError(t, os.MkdirAll(dir, 0o755))
	for name, content := range files {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	return values
}

// readmeStackProject writes a project (its folder names the stack) whose service uses an
// external secret held in Key Vault as readme-token, and returns its value.
func readmeStackProject(t *testing.T, dir, stack string) map[string]string {
	t.Helper()
	value := uniqueValue(t, "readme-token")
	compose := `services:
  app:
    image: ` + env.baseImage + `
    command: ["sleep", "3600"]
    secrets: [dvtest-readme-token]
secrets:
  dvtest-readme-token:
    external: true
    x-vault: readme-token
`
	assert.NilError(t, os.MkdirAll(dir, 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o600))
	return map[string]string{"readme_token": value}
}

// readmeBuildProject writes a project whose service web builds an image
// under a test name, its RUN step checking the secret's digest, and returns
// the secret's value.
func readmeBuildProject(t *testing.T, dir string) map[string]string {
	t.Helper()
	value := uniqueValue(t, "readme-npm-token")
	prod := uniqueValue(t, "readme-ci-npm-token")
	img := fmt.Sprintf("docker-vault-test/readme-web:%d", os.Getpid())
	t.Cleanup(func() { docker(t, nil, "image", "rm", "-f", img) })
	files := map[string]string{
		"Dockerfile": `FROM ` + env.baseImage + `
ARG DOCKER_VAULT_VERSIONS
RUN --mount=type=secret,id=npm_token,required=true \
    test "$(sha256sum /run/secrets/npm_token | cut -d' ' -f1)" = "` + digest(value) + `" || { echo "npm_token digest mismatch" >&2; exit 1; }
`,
		"Dockerfile.prod": `FROM ` + env.baseImage + `
ARG DOCKER_VAULT_VERSIONS
RUN --mount=type=secret,id=npm_token,required=true \
    test "$(sha256sum /run/secrets/npm_token | cut -d' ' -f1)" = "` + digest(prod) + `" || { echo "npm_token digest mismatch" >&2; exit 1; }
`,
		"compose.yaml": `services:
  web:
    image: ` + img + `
    build:
      context: .
      secrets: [npm_token]
secrets:
  npm_token:
    environment: NPM_TOKEN
`,
	}
	assert.NilError(t, os.MkdirAll(dir, 0o755))
	for name, content := range files {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	return map[string]string{"npm_token": value, "ci_npm_token": prod}
}

// The Makefile's stamping, in a repository of its own: no tag, a change, a
// version tag, a commit after it, a tag that is not a version.
func TestMakefileVersionStamp(t *testing.T) {
	dir := t.TempDir()
	mk, err := os.ReadFile(filepath.Join(env.repoRoot, "Makefile"))
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Makefile"), mk, 0o644))
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
		cmd.Env = append(cmd.Env, "MAKEFLAGS=")
		out, err := cmd.CombinedOutput()
		assert.NilError(t, err, "%s: %s", strings.Join(args, " "), out)
		return strings.TrimSpace(string(out))
	}
	stamped := func() (string, string) {
		t.Helper()
		out := run("make", "-n", "build")
		v := regexp.MustCompile(`internal/version\.Version=(\S+)`).FindStringSubmatch(out)
		c := regexp.MustCompile(`internal/version\.Commit=(\S+?)"?( |$)`).FindStringSubmatch(out)
		assert.Assert(t, v != nil && c != nil, out)
		return v[1], c[1]
	}

	// Not a repository at all.
	v, c := stamped()
	assert.Check(t, is.Equal(v, "v0.0.0-dev+unknown"))
	assert.Check(t, is.Equal(c, "unknown"))

	run("git", "init", "-q")
	run("git", "add", "Makefile")
	run("git", "commit", "-q", "-m", "one")
	head := run("git", "rev-parse", "--short", "HEAD")
	v, c = stamped()
	assert.Check(t, is.Equal(v, "v0.0.0-dev+"+head))
	assert.Check(t, is.Equal(c, head))

	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Makefile"), append(mk, "\n# changed\n"...), 0o644))
	v, _ = stamped()
	assert.Check(t, is.Equal(v, "v0.0.0-dev+"+head+"-dirty"))
	run("git", "commit", "-q", "-am", "two")

	run("git", "tag", "v1.2.3")
	v, _ = stamped()
	assert.Check(t, is.Equal(v, "v1.2.3"))

	assert.NilError(t, os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o644))
	run("git", "add", "x")
	run("git", "commit", "-q", "-m", "three")
	run("git", "tag", "release-candidate") // not a version: ignored
	head = run("git", "rev-parse", "--short", "HEAD")
	v, c = stamped()
	assert.Check(t, is.Equal(v, "v1.2.3-1-g"+head))
	assert.Check(t, is.Equal(c, head))
}

// A plain `go build ./plugin`, without the Makefile's -ldflags, takes the
// same fallback from the commit the go command records (-buildvcs): the plugin's
// metadata (what `docker --help` and `docker info` show) says
// v0.0.0-dev+<commit>, never an empty or made-up version.
func TestUnstampedBuildVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "docker-vault")
	// -buildvcs=true: the go command's default (auto) records the commit in
	// a git checkout, but GOFLAGS may turn it off, as on the development
	// machine; the version is then v0.0.0-dev (internal/version's tests).
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./plugin")
	build.Dir = env.repoRoot
	out, err := build.CombinedOutput()
	assert.NilError(t, err, "%s", out)
	meta, err := exec.Command(bin, "docker-cli-plugin-metadata").Output()
	assert.NilError(t, err)
	var m struct{ Version string }
	assert.NilError(t, json.Unmarshal(meta, &m), "%s", meta)
	assert.Check(t, is.Regexp(`^v0\.0\.0-dev\+[0-9a-f]{7}(-dirty)?$`, m.Version))
}
