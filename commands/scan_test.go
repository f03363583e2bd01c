package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker-vault/docker-vault/internal/scan"
	"github.com/docker/cli/cli"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

// scanFindings are two findings in a compose file, the second suppressed in
// source.
func scanFindings() *scan.Result {
	r := &scan.Result{Files: 2, Findings: []scan.Finding{
		{Rule: scan.RuleEnvironment, Severity: scan.SeverityError, File: "compose.yaml", Line: 6, Column: 20, Service: "db", Variable: "POSTGRES_PASSWORD",
			Message: "POSTGRES_PASSWORD is a password by its name", Fix: "docker vault migrate"},
		{Rule: scan.RuleLabel, Severity: scan.SeverityError, File: "compose.yaml", Line: 9, Column: 9, Service: "db", Variable: "basic.auth",
			Message: "the label holds a password", Fix: "remove it", Suppressed: "# docker-vault:ignore test fixture"},
	}}
	scan.SetFingerprints(r.Findings)
	return r
}

func TestScanFlagErrors(t *testing.T) {
	dir := fs.NewDir(t, "scan-flags")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--all"}, "--all goes with --vault"},
		{[]string{"-q", "--format", "sarif"}, "--quiet cannot be used with --format sarif"},
		{[]string{"--format", "{{.Value}}"}, `can't evaluate field Value`},
		{[]string{"--baseline", dir.Join("none.json")}, "failed to read baseline"},
	} {
		_, err := runCommand(t, newScanCommand, nil, tc.args...)
		assert.Check(t, is.ErrorContains(err, tc.want), "%q", tc.args)
	}
}

func TestScanStatus(t *testing.T) {
	o := scanOptions{}
	var errOut bytes.Buffer

	// Findings: exit 3, and the summary line is the status.
	err := scanStatus(&errOut, o, scanFindings())
	var st cli.StatusError
	assert.Assert(t, is.ErrorType(err, cli.StatusError{}))
	st = err.(cli.StatusError)
	assert.Equal(t, st.StatusCode, 3)
	assert.Equal(t, st.Status, "1 secret found (1 suppressed) in 2 files")

	// Only suppressed ones: exit 0, the summary on stderr.
	errOut.Reset()
	r := scanFindings()
	r.Findings = r.Findings[1:]
	assert.NilError(t, scanStatus(&errOut, o, r))
	assert.Equal(t, errOut.String(), "no secrets found (1 suppressed) in 2 files\n")

	// An unreadable file: exit 1, even with findings; the file is named.
	errOut.Reset()
	r = scanFindings()
	r.Errors = []scan.FileError{{File: "secrets.env", Err: "permission denied"}}
	err = scanStatus(&errOut, o, r)
	assert.Assert(t, is.ErrorType(err, cli.StatusError{}))
	st = err.(cli.StatusError)
	assert.Equal(t, st.StatusCode, 1)
	assert.Equal(t, st.Status, "1 secret found (1 suppressed) in 2 files; 1 file could not be read (the scan is incomplete)")
	assert.Equal(t, errOut.String(), "error: secrets.env: permission denied\n")

	// -q: nothing on success.
	errOut.Reset()
	assert.NilError(t, scanStatus(&errOut, scanOptions{quiet: true}, &scan.Result{}))
	assert.Equal(t, errOut.String(), "")
}

func TestScanWriteBaseline(t *testing.T) {
	dir := fs.NewDir(t, "scan-baseline")
	path := dir.Join("ci", "baseline.json")
	var errOut bytes.Buffer
	// --write-baseline accepts the findings and passes.
	assert.NilError(t, scanStatus(&errOut, scanOptions{writeBaseline: path}, scanFindings()))
	assert.Check(t, is.Contains(errOut.String(), "note: wrote 1 findings to the baseline "+path+"\n"))

	b, err := scan.ReadBaseline(path)
	assert.NilError(t, err)
	r := scanFindings()
	assert.Equal(t, b.Apply(r.Findings), 0)
	errOut.Reset()
	assert.NilError(t, scanStatus(&errOut, scanOptions{}, r))
	assert.Equal(t, errOut.String(), "no secrets found (2 suppressed) in 2 files\n")
}

func TestPrintScan(t *testing.T) {
	var out bytes.Buffer
	// The default table lists what counts.
	assert.NilError(t, printScan(&out, scanOptions{}, scanFindings(), "/src", false))
	assert.Equal(t, out.String(), `SEVERITY   RULE          LOCATION            SERVICE   VARIABLE            SECRET    MESSAGE
error      environment   compose.yaml:6:20   db        POSTGRES_PASSWORD             POSTGRES_PASSWORD is a password by its name
`)
	// Nothing that counts: no table at all.
	out.Reset()
	r := scanFindings()
	r.Findings = r.Findings[1:]
	assert.NilError(t, printScan(&out, scanOptions{}, r, "/src", false))
	assert.Equal(t, out.String(), "")

	// json lists every finding, one object a line, with Suppressed.
	out.Reset()
	assert.NilError(t, printScan(&out, scanOptions{format: "json"}, scanFindings(), "/src", false))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	assert.Equal(t, len(lines), 2)
	var row map[string]any
	assert.NilError(t, json.Unmarshal([]byte(lines[1]), &row))
	assert.Equal(t, row["Suppressed"], "# docker-vault:ignore test fixture")
	assert.Equal(t, row["Line"], float64(9))

	// -q: fingerprints, suppressed ones too (docker's -q lists every id).
	out.Reset()
	f := scanFindings().Findings
	assert.NilError(t, printScan(&out, scanOptions{quiet: true}, scanFindings(), "/src", false))
	assert.Equal(t, out.String(), f[0].Fingerprint+"\n"+f[1].Fingerprint+"\n")

	// A template.
	out.Reset()
	assert.NilError(t, printScan(&out, scanOptions{format: "{{.Rule}} {{.Location}}"}, scanFindings(), "/src", false))
	assert.Equal(t, out.String(), "environment compose.yaml:6:20\nlabel compose.yaml:9:9\n")

	// SARIF, with the repository root as %SRCROOT%.
	out.Reset()
	assert.NilError(t, printScan(&out, scanOptions{format: "sarif"}, scanFindings(), "/src", true))
	var log struct {
		Version string
		Runs    []struct {
			OriginalURIBaseIDs map[string]struct{ URI string } `json:"originalUriBaseIds"`
			Results            []json.RawMessage
		}
	}
	assert.NilError(t, json.Unmarshal(out.Bytes(), &log))
	assert.Equal(t, log.Version, "2.1.0")
	assert.Equal(t, log.Runs[0].OriginalURIBaseIDs["%SRCROOT%"].URI, "file:///src/")
	assert.Equal(t, len(log.Runs[0].Results), 2)
}

// writeScanProject is a compose project with one literal secret and one
// Key Vault-backed secret, in a folder of its own.
func writeScanProject(t *testing.T, literal string) *fs.Dir {
	t.Helper()
	return fs.NewDir(t, "scan-project",
		fs.WithFile("compose.yaml", `services:
  db:
    image: postgres:16
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: "`+literal+`"
    secrets: [db_password]
secrets:
  db_password:
    external: true
`),
	)
}

func TestScanProject(t *testing.T) {
	const literal = "n0t-a-real-Passw0rd-4711"
	dir := writeScanProject(t, literal)
	t.Chdir(dir.Path())
	out, err := runCommand(t, newScanCommand, map[string]string{"literal": literal})
	assert.Assert(t, is.ErrorType(err, cli.StatusError{}), "%v: %s", err, out)
	assert.Equal(t, err.(cli.StatusError).StatusCode, 3)
	assert.Check(t, is.Contains(out, "environment"))
	assert.Check(t, is.Contains(out, "compose.yaml:6"))
	assert.Check(t, is.Contains(out, "POSTGRES_PASSWORD"))

	// Accepted in a baseline: exit 0.
	base := dir.Join("baseline.json")
	_, err = runCommand(t, newScanCommand, map[string]string{"literal": literal}, "--write-baseline", base)
	assert.NilError(t, err)
	data, err := os.ReadFile(base)
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(data), literal))
	out, err = runCommand(t, newScanCommand, map[string]string{"literal": literal}, "--baseline", base)
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "no secrets found (1 suppressed)"))
}

func TestScanVault(t *testing.T) {
	const value = "kv-Value-that-leaked-9921"
	s := useEmulator(t, kvtest.NewServer(t, kvtest.Options{Seed: map[string]string{"db-password": value, "unrelated": "other-value-0042"}}))
	dir := writeScanProject(t, "changeme")
	assert.NilError(t, os.WriteFile(filepath.Join(dir.Path(), "notes.txt"), []byte("dump: "+value+"\n"), 0o600))
	t.Chdir(dir.Path())

	// DOCKER_VAULT_URL alone does not search: no Key Vault request.
	_, _ = runCommand(t, newScanCommand, map[string]string{"value": value}, "notes.txt")
	assert.Equal(t, s.Count(kvtest.RouteGetSecret), 0)

	out, err := runCommand(t, newScanCommand, map[string]string{"value": value}, "--vault", s.VaultURL(), "notes.txt")
	assert.Assert(t, is.ErrorType(err, cli.StatusError{}), "%v: %s", err, out)
	assert.Equal(t, err.(cli.StatusError).StatusCode, 3)
	assert.Check(t, is.Contains(out, "vault-value"))
	assert.Check(t, is.Contains(out, "notes.txt:1"))
	assert.Check(t, is.Contains(out, "db-password"))
	// Only the mapped secret was read.
	assert.Equal(t, s.Count(kvtest.RouteGetSecret), 1)

	// The get permission, named.
	s.SetFaults(kvtest.Faults{Forbidden: []string{"db-password"}, ForbiddenCode: "AccessDenied"})
	_, err = runCommand(t, newScanCommand, map[string]string{"value": value}, "--vault", s.VaultURL(), "notes.txt")
	assert.Check(t, is.ErrorContains(err, "needs the secrets get permission"))
}

type fakeImages struct {
	items []image.Summary
	err   error
}

func (f *fakeImages) ImageList(context.Context, client.ImageListOptions) (client.ImageListResult, error) {
	return client.ImageListResult{Items: f.items}, f.err
}

func TestCompleteScan(t *testing.T) {
	comps, d := complete(t, "scan", "--format", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.DeepEqual(comps, []string{"table", "json", "sarif"}))
	comps, _ = complete(t, "scan", "--format", "s")
	assert.Check(t, is.DeepEqual(comps, []string{"sarif"}))
	// PATH...: any file or folder.
	_, d = complete(t, "scan", "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveDefault))

	engine := &fakeImages{items: []image.Summary{
		{RepoTags: []string{"shop/api:1.2", "shop/api:latest"}},
		{RepoTags: []string{"<none>:<none>"}},
		{RepoTags: []string{"busybox:stable"}},
	}}
	c := &completer{images: func(*cobra.Command) (imageLister, error) { return engine, nil }}
	comps, d = c.imageNames(&cobra.Command{}, nil, "")
	assert.Check(t, is.Equal(d, cobra.ShellCompDirectiveNoFileComp))
	assert.Check(t, is.DeepEqual(comps, []string{"busybox:stable", "shop/api:1.2", "shop/api:latest"}))
	comps, _ = c.imageNames(&cobra.Command{}, nil, "shop/api:l")
	assert.Check(t, is.DeepEqual(comps, []string{"shop/api:latest"}))

	// Errors offer nothing, silently.
	engine.err = errors.New("engine down")
	comps, _ = c.imageNames(&cobra.Command{}, nil, "")
	assert.Check(t, is.Len(comps, 0))
	c = &completer{images: func(*cobra.Command) (imageLister, error) { return nil, errors.New("no engine") }}
	comps, _ = c.imageNames(&cobra.Command{}, nil, "")
	assert.Check(t, is.Len(comps, 0))
	comps, _ = (&completer{}).imageNames(&cobra.Command{}, nil, "")
	assert.Check(t, is.Len(comps, 0))
}
