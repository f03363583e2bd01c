//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// TestFormat: --format through the real docker binary, as docker's own
// commands take it: table with a header, table TEMPLATE with a header,
// json one object per line keyed by the template fields, a template with
// a real tab, -q; version --format table is the default layout.
func TestFormat(t *testing.T) {
	p := syncPrefix(t)
	cleanupSwarm(t, p)
	values := map[string]string{"db-password": newSecretValue("db"), "api-key": newSecretValue("api")}
	em := startEmulator(t, values)
	dir := secretsProject(t, p, "api-key", "db-password")
	var outputs []*icmd.Result
	run := func(args ...string) *icmd.Result {
		t.Helper()
		res := vaultDocker(t, em.Env, dir, args...)
		res.Assert(t, icmd.Success)
		outputs = append(outputs, res)
		return res
	}

	res := run("vault", "ls", "--format", "table {{.Name}}")
	assert.Check(t, is.Equal(res.Stdout(), "NAME\napi-key\ndb-password\n"))
	res = run("vault", "ls", "--format", `{{.Name}}\t{{.Status}}`)
	assert.Check(t, is.Equal(res.Stdout(), "api-key\tenabled\ndb-password\tenabled\n"))
	res = run("vault", "ls", "--format", "json")
	lines := strings.Split(strings.TrimSpace(res.Stdout()), "\n")
	assert.Assert(t, is.Len(lines, 2))
	assert.Check(t, strings.HasPrefix(lines[0], `{"ComposeSecrets":"","ContentType":"-","CreatedAt":"`), lines[0])
	res = run("vault", "ls", "-q")
	assert.Check(t, is.Equal(res.Stdout(), "api-key\ndb-password\n"))

	res = run("vault", "sync", "--dry-run", "--format", "{{.Secret}} {{.Action}}")
	assert.Check(t, is.Equal(res.Stdout(), p+"_api_key create\n"+p+"_db_password create\n"), "a template is allowed, and prints no summary")
	res = run("vault", "sync", "--dry-run", "--format", `table {{.Secret}}\t{{.Action}}`)
	w := len(p+"_db_password") + 3
	assert.Check(t, is.Equal(res.Stdout(), fmt.Sprintf("%-*s%s\n%-*s%s\n%-*s%s\n", w, "SECRET", "ACTION", w, p+"_api_key", "create", w, p+"_db_password", "create")))
	res = run("vault", "sync", "--dry-run", "--format", "table")
	assert.Check(t, is.Regexp(`^SECRET +ACTION +DOCKER +VERSION +DETAIL\n`, res.Stdout()))
	assert.Check(t, is.Contains(res.Stdout(), "dry run: 2 changes planned, nothing changed\n"))
	assert.Check(t, is.Len(swarmSecrets(t, p), 0))

	res = run("vault", "version", "--format", "table")
	assert.Check(t, is.Contains(res.Stdout(), "docker vault:\n Version:"))
	assert.Check(t, !strings.Contains(res.Stdout(), "table"), res.Stdout())
	res = run("vault", "version", "--format", `{{.Version}}\t{{.Docker.Context}}`)
	assert.Check(t, is.Equal(res.Stdout(), "v0.0.0-e2e\tdefault\n"))

	for _, r := range outputs {
		assertNoValue(t, r, values)
	}
}
