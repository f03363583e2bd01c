package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/internal/convert"
	"github.com/docker-vault/docker-vault/internal/migrate"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// jsonLines decodes out as docker's --format json prints rows: one JSON
// object per line, nothing else.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for line := range strings.Lines(out) {
		assert.Assert(t, strings.HasPrefix(line, "{") && strings.HasSuffix(line, "}\n"), "not one JSON object per line: %q", line)
		var row map[string]any
		d := json.NewDecoder(strings.NewReader(line))
		d.UseNumber()
		assert.NilError(t, d.Decode(&row), line)
		rows = append(rows, row)
	}
	return rows
}

// keys are a row's keys, sorted.
func keys(row map[string]any) []string {
	var k []string
	for key := range row {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

// assertTemplateFields checks that every key of every row is a template
// field: executing {{.KEY}} through the command's --format prints the
// row's value (run prints one line per row). Fields that change between
// two runs (a relative time) are named in moving: only their presence is
// checked.
func assertTemplateFields(t *testing.T, rows []map[string]any, run func(format string) string, moving ...string) {
	t.Helper()
	assert.Assert(t, len(rows) > 0)
	for _, k := range keys(rows[0]) {
		if slices.Contains(moving, k) {
			out := run("{{." + k + "}}")
			assert.Check(t, is.Len(strings.Split(strings.TrimSuffix(out, "\n"), "\n"), len(rows)), "{{.%s}}: %q", k, out)
			continue
		}
		out := run("{{json ." + k + "}}")
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		assert.Assert(t, is.Len(lines, len(rows)), "{{json .%s}}: %q", k, out)
		for i, line := range lines {
			want, err := json.Marshal(rows[i][k])
			assert.NilError(t, err)
			var got, w any
			assert.NilError(t, json.Unmarshal([]byte(line), &got), "{{json .%s}}: %q", k, line)
			assert.NilError(t, json.Unmarshal(want, &w))
			assert.Check(t, is.DeepEqual(got, w), "row %d field %s", i, k)
		}
	}
}

func TestNewFormat(t *testing.T) {
	for _, tc := range []struct {
		source string
		quiet  bool
		want   string
	}{
		{"", false, "table {{.A}}"},
		{"table", false, "table {{.A}}"},
		{" table ", false, "table {{.A}}"},
		{"", true, "{{.Q}}"},
		{"table", true, "{{.Q}}"},
		{"json", true, "json"},
		{"table {{.B}}", true, "table {{.B}}"},
		{"{{.B}}", false, "{{.B}}"},
	} {
		assert.Check(t, is.Equal(string(newFormat(tc.source, "table {{.A}}", "{{.Q}}", tc.quiet)), tc.want), "%q quiet=%v", tc.source, tc.quiet)
	}
}

func TestCheckFormat(t *testing.T) {
	for _, ok := range []string{"", "table", "json", "{{.Name}}", "table {{.Name}}\t{{.Status}}", "{{json .}}", `{{join .X ","}}`} {
		assert.Check(t, checkFormat(ok), ok)
	}
	for _, bad := range []string{"{{.Name", "table {{.Name", "{{nosuchfunc .}}"} {
		assert.Check(t, is.ErrorContains(checkFormat(bad), "template parsing error"), bad)
	}
	// With the command's empty rows, a field they lack is refused too.
	assert.Check(t, checkPushFormat("{{.Secret}} {{.Reason}}"))
	assert.Check(t, is.ErrorContains(checkPushFormat("{{.Value}}"), "can't evaluate field Value"))
	assert.Check(t, checkSyncFormat(`table {{.Kind}}\t{{.Detail}}\t{{.Version}}\t{{.Path}}`))
	assert.Check(t, is.ErrorContains(checkSyncFormat("{{.Nope}}"), "can't evaluate field Nope"))
}

// TestSyncFormatCheckedFirst: sync refuses a format it cannot print before
// it loads the project (the command has no Docker CLI and no project).
func TestSyncFormatCheckedFirst(t *testing.T) {
	for _, f := range []string{"{{.Secret", "{{.Value}}"} {
		cmd := newSyncCommand(nil)
		cmd.SetArgs([]string{"--format", f})
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		assert.Check(t, is.ErrorContains(cmd.Execute(), "template parsing error"), f)
	}
}

// rowContext is a formatter row of two fields.
type rowContext struct {
	formatter.HeaderContext
	name, status string
}

func (c *rowContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }
func (c *rowContext) Name() string                 { return c.name }
func (c *rowContext) Status() string               { return c.status }

func TestWriteRows(t *testing.T) {
	rows := []*rowContext{{name: "a", status: "on"}, {name: "long-name", status: "off"}}
	header := map[string]string{"Name": "NAME", "Status": "STATUS"}
	var out bytes.Buffer
	assert.NilError(t, writeRows(&out, "table {{.Name}}\t{{.Status}}", header, rows))
	assert.Check(t, is.Equal(out.String(), "NAME        STATUS\na           on\nlong-name   off\n"))

	out.Reset()
	assert.NilError(t, writeRows(&out, `{{.Name}}\t{{.Status}}`, header, rows))
	assert.Check(t, is.Equal(out.String(), "a\ton\nlong-name\toff\n"), "a \\t in a template is a tab")

	out.Reset()
	assert.NilError(t, writeRows(&out, "json", header, rows))
	assert.Check(t, is.Equal(out.String(), `{"Name":"a","Status":"on"}`+"\n"+`{"Name":"long-name","Status":"off"}`+"\n"))

	out.Reset()
	assert.NilError(t, writeRows(&out, "table {{.Name}}", header, []*rowContext{}))
	assert.Check(t, is.Equal(out.String(), "NAME\n"), "a table of no rows is its header")
}

// TestPrintMigrateRows: with a Key Vault check, every row says what the
// push finds; a converted file secret is a row of its own in json and
// templates, and a line of its own in the default table.
func TestPrintMigrateRows(t *testing.T) {
	res := &migrateResult{
		Findings: []migrate.Item{
			{Service: "db", Variable: "PG_PASSWORD", FileVariable: "PG_PASSWORD_FILE", Source: "literal", Secret: "pg_password", Action: migrate.Migrated, Via: "file-variable"},
			{Service: "db", Variable: "PG_USER", Source: "literal", Action: migrate.Skipped, Reason: "not a secret"},
		},
		Converted:  []convert.Source{{Secret: "tls_key", KVName: "tls-key", Path: "/p/tls.key"}},
		VaultCheck: []migrate.PushCheck{{Secret: "pg_password", KVName: "pg-password", Action: migrate.PushCreate}, {Secret: "tls_key", KVName: "tls-key", Action: migrate.PushConflict}},
		Secrets:    []string{"pg_password"}, DryRun: true,
	}
	print := func(format string) string {
		t.Helper()
		var out bytes.Buffer
		assert.NilError(t, printMigrate(&out, migrateOptions{format: format}, res))
		return out.String()
	}
	rows := jsonLines(t, print("json"))
	assert.Assert(t, is.Len(rows, 2), "the skipped finding is no row")
	assert.Check(t, is.Equal(rows[0]["VaultAction"], "create"))
	assert.Check(t, is.Equal(rows[0]["VaultSecret"], "pg-password"))
	assert.Check(t, is.DeepEqual(rows[1], map[string]any{"Service": "", "Variable": "", "FileVariable": "", "Source": "/p/tls.key", "Action": "convert",
		"Via": "", "Secret": "tls_key", "Reason": "", "VaultSecret": "tls-key", "VaultAction": "conflict"}))
	assertTemplateFields(t, rows, print)
	assert.Check(t, is.Equal(print(`table {{.Secret}}\t{{.Action}}\t{{.VaultAction}}`),
		"SECRET        ACTION     VAULT\npg_password   migrated   create\ntls_key       convert    conflict\n"))

	table := print("")
	assert.Check(t, is.Contains(table, "SERVICE   VARIABLE                          SOURCE    ACTION     VIA             SECRET        REASON\n"+
		"db        PG_PASSWORD -> PG_PASSWORD_FILE   literal   migrated   file-variable   pg_password   \n"))
	assert.Check(t, is.Contains(table, "would convert 1 file secrets to external ones: tls_key -> tls-key\n"))
	assert.Check(t, is.Contains(table, "Key Vault, as the push would find it:\n"))
	assert.Check(t, !strings.Contains(table, "convert    "), "no convert row in the default table")
}

// TestVersionJSONEngineDown: the JSON says why the engine is unreachable,
// and the command still fails.
func TestVersionJSONEngineDown(t *testing.T) {
	api := &fakeClient{serverVersionFunc: func(context.Context, client.ServerVersionOptions) (client.ServerVersionResult, error) {
		return client.ServerVersionResult{}, errors.New("connection refused")
	}}
	dockerCLI, out := newTestCLI(t, api)
	cmd := newVersionCommand(dockerCLI)
	cmd.SetArgs([]string{"--format", "json"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	assert.Check(t, is.ErrorContains(cmd.Execute(), "cannot reach the Docker engine"))
	rows := jsonLines(t, out.String())
	assert.Assert(t, is.Len(rows, 1))
	docker := rows[0]["Docker"].(map[string]any)
	assert.Check(t, is.Equal(docker["Error"], "connection refused"))
	assert.Check(t, is.DeepEqual(keys(docker), []string{"Context", "Endpoint", "Error"}))
}
