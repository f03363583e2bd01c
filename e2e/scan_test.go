//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// scanProject is a compose project in a git repository's app/ folder,
// holding one secret in each place a project leaks one: an environment:
// literal, a .env line, an env_file line, a build arg, a URL, a
// healthcheck, a Dockerfile ARG; and one literal silenced by an ignore
// comment.
type scanProject struct {
	repo, dir string
	values    map[string]string
}

func writeScanProject(t *testing.T) scanProject {
	t.Helper()
	p := scanProject{repo: t.TempDir(), values: map[string]string{
		"literal":     uniqueValue(t, "e2e-scan-lit-"),
		"dotenv":      uniqueValue(t, "e2e-scan-env-"),
		"env_file":    uniqueValue(t, "e2e-scan-envf-"),
		"build arg":   uniqueValue(t, "e2e-scan-arg-"),
		"url":         uniqueValue(t, "e2e-scan-url-"),
		"healthcheck": uniqueValue(t, "e2e-scan-hc-"),
		"dockerfile":  uniqueValue(t, "e2e-scan-df-"),
		"ignored":     uniqueValue(t, "e2e-scan-ign-"),
	}}
	git := exec.Command("git", "init", "-q", p.repo)
	out, err := git.CombinedOutput()
	assert.NilError(t, err, "%s", out)
	p.dir = filepath.Join(p.repo, "app")
	v := p.values
	files := map[string]string{
		"compose.yaml": `services:
  db:
    image: ` + env.baseImage + `
    environment:
      POSTGRES_PASSWORD: "` + v["literal"] + `"
      DATABASE_URL: "postgres://app:` + v["url"] + `@db:5432/app"
      LEGACY_PASSWORD: "` + v["ignored"] + `" # docker-vault:ignore rotated, kept for the old client
    env_file: [db.env]
    healthcheck:
      test: ["CMD-SHELL", "check --password=` + v["healthcheck"] + `"]
  api:
    build:
      context: .
      args:
        NPM_TOKEN: "` + v["build arg"] + `"
    environment:
      API_KEY: ${API_KEY}
`,
		".env":       "API_KEY=" + v["dotenv"] + "\n",
		"db.env":     "REDIS_PASSWORD=" + v["env_file"] + "\n",
		"Dockerfile": "FROM " + env.baseImage + "\nARG GITHUB_TOKEN=" + v["dockerfile"] + "\nRUN echo built > /built\n",
	}
	assert.NilError(t, os.Mkdir(p.dir, 0o700))
	for name, body := range files {
		assert.NilError(t, os.WriteFile(filepath.Join(p.dir, name), []byte(body), 0o600))
	}
	return p
}

// scanRow is a row of scan --format json.
type scanRow struct {
	Rule, Severity, File, Service, Variable, Secret, Encoding, Fix, Fingerprint, Suppressed, Message string
	Line, Column                                                                                     int
}

func scanRows(t *testing.T, stdout string) []scanRow {
	t.Helper()
	var rows []scanRow
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var r scanRow
		assert.NilError(t, json.Unmarshal([]byte(line), &r), "not one JSON object a line: %q", line)
		rows = append(rows, r)
	}
	return rows
}

// placesOf lists "rule file variable" of each row, sorted, suppressed ones
// marked.
func placesOf(rows []scanRow) []string {
	var out []string
	for _, r := range rows {
		s := r.Rule + " " + r.File + " " + r.Variable
		if r.Secret != "" && r.Encoding != "" {
			s += " " + r.Secret + "/" + r.Encoding
		}
		if r.Suppressed != "" {
			s += " (suppressed)"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestScanProject(t *testing.T) {
	p := writeScanProject(t)
	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		res := dockerIn(t, p.dir, nil, append([]string{"vault", "scan"}, args...)...)
		outputs = append(outputs, res)
		return res
	}

	// The table: every place, exit 3.
	res := run()
	res.Assert(t, icmd.Expected{ExitCode: 3})
	for _, want := range []string{"POSTGRES_PASSWORD", "DATABASE_URL", "REDIS_PASSWORD", "API_KEY", "NPM_TOKEN", "healthcheck", "GITHUB_TOKEN"} {
		assert.Check(t, is.Contains(res.Stdout(), want))
	}
	assert.Check(t, is.Regexp(`(?m)^SEVERITY +RULE +LOCATION +SERVICE +VARIABLE +SECRET +MESSAGE$`, res.Stdout()))
	assert.Check(t, !strings.Contains(res.Stdout(), "LEGACY_PASSWORD"), "the ignored line is not in the table")
	assert.Check(t, is.Regexp(`(?m)^7 secrets found \(1 suppressed\) in \d+ files$`, res.Stderr()))

	// json: one object a line; paths relative to the repository root.
	res = run("--format", "json")
	res.Assert(t, icmd.Expected{ExitCode: 3})
	rows := scanRows(t, res.Stdout())
	assert.DeepEqual(t, placesOf(rows), []string{
		"build-arg app/compose.yaml NPM_TOKEN",
		"dockerfile app/Dockerfile GITHUB_TOKEN",
		"env-file app/.env API_KEY",
		"env-file app/db.env REDIS_PASSWORD",
		"environment app/compose.yaml DATABASE_URL",
		"environment app/compose.yaml LEGACY_PASSWORD (suppressed)",
		"environment app/compose.yaml POSTGRES_PASSWORD",
		"healthcheck app/compose.yaml healthcheck.test",
	})
	for _, r := range rows {
		assert.Check(t, r.Line > 0 && r.Column > 0 && r.Fingerprint != "" && r.Fix != "" && r.Severity != "", "%+v", r)
	}
	byVar := map[string]scanRow{}
	for _, r := range rows {
		byVar[r.Variable] = r
	}
	assert.Check(t, is.Equal(byVar["POSTGRES_PASSWORD"].Line, 5))
	assert.Check(t, is.Equal(byVar["POSTGRES_PASSWORD"].Service, "db"))
	assert.Check(t, is.Equal(byVar["API_KEY"].Line, 1))
	assert.Check(t, is.Equal(byVar["GITHUB_TOKEN"].Line, 2))
	assert.Check(t, is.Contains(byVar["GITHUB_TOKEN"].Fix, "RUN --mount=type=secret"))
	assert.Check(t, is.Contains(byVar["LEGACY_PASSWORD"].Suppressed, "docker-vault:ignore"))

	// SARIF: parses, results located below %SRCROOT%, the ignored one
	// suppressed in source.
	res = run("--format", "sarif")
	res.Assert(t, icmd.Expected{ExitCode: 3})
	var log struct {
		Version string
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string
					Rules []struct{ ID string }
				}
			}
			OriginalURIBaseIDs map[string]struct{ URI string } `json:"originalUriBaseIds"`
			Results            []struct {
				RuleID    string
				RuleIndex int
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI, URIBaseID string } `json:"artifactLocation"`
						Region           struct{ StartLine int }
					}
				}
				PartialFingerprints map[string]string
				Suppressions        []struct{ Kind string }
			}
		}
	}
	assert.NilError(t, json.Unmarshal([]byte(res.Stdout()), &log))
	assert.Equal(t, log.Version, "2.1.0")
	run0 := log.Runs[0]
	assert.Equal(t, run0.Tool.Driver.Name, "docker-vault")
	repo, err := filepath.EvalSymlinks(p.repo)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(run0.OriginalURIBaseIDs["%SRCROOT%"].URI, "file://"+repo+"/"))
	assert.Equal(t, len(run0.Results), 8)
	suppressed := 0
	for _, r := range run0.Results {
		assert.Check(t, is.Equal(run0.Tool.Driver.Rules[r.RuleIndex].ID, r.RuleID))
		loc := r.Locations[0].PhysicalLocation
		assert.Check(t, is.Equal(loc.ArtifactLocation.URIBaseID, "%SRCROOT%"))
		assert.Check(t, strings.HasPrefix(loc.ArtifactLocation.URI, "app/"), loc.ArtifactLocation.URI)
		assert.Check(t, loc.Region.StartLine > 0)
		assert.Check(t, r.PartialFingerprints["dockerVault/v1"] != "")
		if len(r.Suppressions) > 0 {
			suppressed++
			assert.Check(t, is.Equal(r.Suppressions[0].Kind, "inSource"))
		}
	}
	assert.Equal(t, suppressed, 1)

	// A baseline accepts them all; the next scan passes, and a new
	// secret fails it again.
	res = run("--write-baseline", "../.docker-vault-scan-baseline.json")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stderr(), "wrote 7 findings to the baseline"))
	baseline := filepath.Join(p.repo, ".docker-vault-scan-baseline.json")
	data, err := os.ReadFile(baseline)
	assert.NilError(t, err)
	assertNoValueInText(t, "the baseline", string(data), p.values)
	res = run("--baseline", baseline)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), ""))
	assert.Check(t, is.Contains(res.Stderr(), "no secrets found (8 suppressed)"))

	more := uniqueValue(t, "e2e-scan-more-")
	p.values["more"] = more
	assert.NilError(t, os.WriteFile(filepath.Join(p.dir, "db.env"), []byte("REDIS_PASSWORD="+p.values["env_file"]+"\nSMTP_PASSWORD="+more+"\n"), 0o600))
	res = run("--baseline", baseline, "--format", "{{.Variable}} {{.Suppressed}}")
	res.Assert(t, icmd.Expected{ExitCode: 3})
	assert.Check(t, is.Contains(res.Stdout(), "SMTP_PASSWORD \n"))
	assert.Check(t, is.Contains(res.Stdout(), "REDIS_PASSWORD baseline\n"))

	// PATHs: the files themselves, .gitignore respected unless
	// --no-ignore (an env file no compose file uses: compose's own
	// env_file entries are read as the project reads them).
	local := uniqueValue(t, "e2e-scan-local-")
	p.values["local"] = local
	assert.NilError(t, os.WriteFile(filepath.Join(p.dir, "local.env"), []byte("LOCAL_PASSWORD="+local+"\n"), 0o600))
	assert.NilError(t, os.WriteFile(filepath.Join(p.repo, ".gitignore"), []byte("app/local.env\n"), 0o600))
	res = dockerIn(t, p.repo, nil, "vault", "scan", "--format", "{{.File}}", "app")
	outputs = append(outputs, res)
	res.Assert(t, icmd.Expected{ExitCode: 3})
	assert.Check(t, is.Contains(res.Stdout(), "app/db.env"))
	assert.Check(t, !strings.Contains(res.Stdout(), "app/local.env"), res.Stdout())
	res = dockerIn(t, p.repo, nil, "vault", "scan", "--format", "{{.File}}", "--no-ignore", "app")
	outputs = append(outputs, res)
	res.Assert(t, icmd.Expected{ExitCode: 3})
	assert.Check(t, is.Contains(res.Stdout(), "app/local.env"))

	// A file that cannot be read (here a compose file that does not
	// load: permissions do not stop root) is named, skipped, and makes the
	// exit 1 even with findings: the scan is incomplete.
	assert.NilError(t, os.MkdirAll(filepath.Join(p.dir, "broken"), 0o700))
	assert.NilError(t, os.WriteFile(filepath.Join(p.dir, "broken", "compose.yaml"), []byte("services: [\n"), 0o600))
	res = dockerIn(t, p.repo, nil, "vault", "scan", "--format", "{{.File}}", "app")
	outputs = append(outputs, res)
	res.Assert(t, icmd.Expected{ExitCode: 1})
	assert.Check(t, is.Contains(res.Stdout(), "app/compose.yaml"), "the other files are still scanned")
	assert.Check(t, is.Regexp(`(?m)^error: app/broken/compose.yaml: `, res.Stderr()))
	assert.Check(t, is.Contains(res.Stderr(), "1 file could not be read (the scan is incomplete)"))

	for _, r := range outputs {
		assertNoValue(t, r, p.values)
	}
}

func TestScanCleanProject(t *testing.T) {
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`services:
  db:
    image: `+env.baseImage+`
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
secrets:
  db_password:
    external: true
`), 0o600))
	res := dockerIn(t, dir, nil, "vault", "scan")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), ""))
	assert.Check(t, is.Regexp(`^no secrets found in \d+ files?\n$`, res.Stderr()))

	res = dockerIn(t, dir, nil, "vault", "scan", "--format", "sarif")
	res.Assert(t, icmd.Success)
	var log map[string]any
	assert.NilError(t, json.Unmarshal([]byte(res.Stdout()), &log))
	assert.DeepEqual(t, log["runs"].([]any)[0].(map[string]any)["results"], []any{})
}

// TestScanVault searches files for the current value of the project's
// mapped Key Vault secret, in every form, against the emulator; the
// unmapped secret is searched for only with --all.
func TestScanVault(t *testing.T) {
	mapped := uniqueValue(t, "e2e-scan kv/") // a space and a slash: URL-encoding differs
	other := uniqueValue(t, "e2e-scan-other-")
	em := startEmulator(t, map[string]string{"db-password": mapped, "unmapped": other})
	var vaultURL string
	for _, kv := range em.Env {
		if v, ok := strings.CutPrefix(kv, "DOCKER_VAULT_URL="); ok {
			vaultURL = v
		}
	}
	values := map[string]string{"other": other}
	for enc, form := range encodings(mapped) {
		values["mapped "+enc] = form
	}
	values["mapped URL-encoded"] = url.QueryEscape(mapped)

	dir := t.TempDir()
	files := map[string]string{
		"compose.yaml": `services:
  app:
    image: ` + env.baseImage + `
    secrets: [db_password]
secrets:
  db_password:
    external: true
`,
		"notes/raw.txt":    "password: " + mapped + "\n",
		"notes/b64.txt":    "\n\nblob " + base64.StdEncoding.EncodeToString([]byte(mapped)) + "\n",
		"notes/hex.txt":    hex.EncodeToString([]byte(mapped)) + "\n",
		"notes/url.txt":    "https://example.invalid/login?pw=" + url.QueryEscape(mapped) + "\n",
		"notes/other.txt":  "other " + other + "\n",
		"notes/nothing.md": "nothing here\n",
	}
	for name, body := range files {
		assert.NilError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700))
		assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		res := vaultDocker(t, em.Env, dir, append([]string{"vault", "scan"}, args...)...)
		outputs = append(outputs, res)
		return res
	}

	// DOCKER_VAULT_URL (set by the emulator's environment) alone reads
	// nothing from Key Vault.
	em.ResetCounters(t)
	res := run("notes")
	res.Assert(t, icmd.Success)
	for route, n := range em.Counters(t) {
		assert.Check(t, n == 0 || !strings.Contains(route, "/secrets"), "%s: %d requests without --vault", route, n)
	}

	// With -f, the project's mapped secret only.
	res = run("-f", "compose.yaml", "--vault", vaultURL, "--format", "json", "notes")
	res.Assert(t, icmd.Expected{ExitCode: 3})
	assert.DeepEqual(t, placesOf(scanRows(t, res.Stdout())), []string{
		"vault-value notes/b64.txt  db-password/base64",
		"vault-value notes/hex.txt  db-password/hex",
		"vault-value notes/raw.txt  db-password/raw",
		"vault-value notes/url.txt  db-password/URL-encoded",
	})
	for _, r := range scanRows(t, res.Stdout()) {
		if r.File == "notes/b64.txt" {
			assert.Check(t, is.Equal(r.Line, 3))
			assert.Check(t, is.Equal(r.Column, 6))
		}
	}

	// --all: every secret of the vault.
	res = run("--vault", vaultURL, "--all", "--format", "{{.File}} {{.Secret}}", "notes")
	res.Assert(t, icmd.Expected{ExitCode: 3})
	assert.Check(t, is.Contains(res.Stdout(), "notes/other.txt unmapped\n"))

	// Without the get permission the scan stops and says what it needs.
	em.SetFaults(t, `{"forbidden":["db-password"],"forbiddenCode":"AccessDenied"}`)
	res = run("-f", "compose.yaml", "--vault", vaultURL, "notes")
	res.Assert(t, icmd.Expected{ExitCode: 1})
	assert.Check(t, is.Contains(res.Stderr(), "needs the secrets get permission"))
	assert.Check(t, is.Equal(res.Stdout(), ""))

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
}
