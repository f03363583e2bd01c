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

// lsSeed is what the emulator holds; no output of the plugin may contain a
// value.
var lsSeed = map[string]string{
	"db-password":  "e2e-ls-db-c0ffee",
	"prod-api-key": "e2e-ls-api-f00d",
	"smtp-user":    "e2e-ls-smtp-beef",
}

func TestLs(t *testing.T) {
	em := startEmulator(t, lsSeed)
	kvEnv := em.Env
	dir := t.TempDir()

	t.Run("table", func(t *testing.T) {
		res := vaultDocker(t, kvEnv, dir, "vault", "ls")
		res.Assert(t, icmd.Success)
		assertNoValue(t, res, lsSeed)
		lines := strings.Split(strings.TrimSpace(res.Stdout()), "\n")
		assert.Assert(t, is.Len(lines, 4), res.Stdout())
		assert.Check(t, is.Regexp(`^NAME +STATUS +UPDATED +CONTENT TYPE$`, lines[0]))
		assert.Check(t, is.Regexp(`^db-password +enabled +\S.* ago +-$`, lines[1]))
		assert.Check(t, is.Regexp(`^prod-api-key +enabled `, lines[2]))
		assert.Check(t, is.Regexp(`^smtp-user +enabled `, lines[3]))
	})

	t.Run("json", func(t *testing.T) {
		res := vaultDocker(t, kvEnv, dir, "vault", "ls", "--format", "json")
		res.Assert(t, icmd.Success)
		assertNoValue(t, res, lsSeed)
		var rows []struct {
			Name      string
			Enabled   bool
			UpdatedAt time.Time
		}
		assert.NilError(t, json.Unmarshal(jsonArray(t, res.Stdout()), &rows))
		assert.Assert(t, is.Len(rows, 3))
		for i, name := range []string{"db-password", "prod-api-key", "smtp-user"} {
			assert.Check(t, is.Equal(rows[i].Name, name))
			assert.Check(t, rows[i].Enabled)
			assert.Check(t, time.Since(rows[i].UpdatedAt) < time.Hour)
		}
	})

	t.Run("quiet and template", func(t *testing.T) {
		res := vaultDocker(t, kvEnv, dir, "vault", "ls", "-q")
		res.Assert(t, icmd.Expected{Out: "db-password\nprod-api-key\nsmtp-user\n"})
		assertNoValue(t, res, lsSeed)

		res = vaultDocker(t, kvEnv, dir, "vault", "ls", "--format", "{{.Name}} {{.Status}}")
		res.Assert(t, icmd.Expected{Out: "db-password enabled\nprod-api-key enabled\nsmtp-user enabled\n"})
	})

	// One run with every flag: a compose project (x-vault name, derived
	// name, a missing secret, a local file secret whose derived name the
	// vault holds), versions, an explicit credential and vault name, a
	// timeout, and the custom-domain switch (harmless here).
	t.Run("compose file and every flag", func(t *testing.T) {
		compose := filepath.Join(dir, "compose.yaml")
		assert.NilError(t, os.WriteFile(compose, []byte(`
services:
  app:
    image: `+env.baseImage+`
    secrets: [db_password, api_key, not_there, smtp_user]
secrets:
  db_password:
    file: ./db_password.txt
    x-vault: true
  smtp_user:
    file: ./smtp_user.txt
  api_key:
    external: true
    x-vault:
      name: prod-api-key
  not_there:
    external: true
`), 0o600))
		em.ResetCounters(t)
		res := vaultDocker(t, kvEnv, dir, "vault", "ls", "-f", compose, "--versions",
			"--vault", "emulator", "--credential", "managed-identity", "--timeout", "60s",
			"--disable-challenge-resource-verification")
		res.Assert(t, icmd.Success)
		assertNoValue(t, res, lsSeed)
		lines := strings.Split(strings.TrimSpace(res.Stdout()), "\n")
		assert.Assert(t, is.Len(lines, 5), res.Stdout())
		assert.Check(t, is.Regexp(`^NAME +STATUS +VERSION +UPDATED +CONTENT TYPE +COMPOSE SECRET$`, lines[0]))
		assert.Check(t, is.Regexp(`^db-password +enabled +[0-9a-f]{32} +\S.* ago +- +db_password$`, lines[1]))
		assert.Check(t, is.Regexp(`^not-there +missing +- +- +- +not_there$`, lines[2]))
		assert.Check(t, is.Regexp(`^prod-api-key +enabled +[0-9a-f]{32} +.* api_key$`, lines[3]))
		// smtp_user is an unmarked file secret: local, and the vault's
		// smtp-user, its derived name, is not its own.
		assert.Check(t, is.Regexp(`^- +local +- +- +- +smtp_user$`, lines[4]))
		assert.Check(t, !strings.Contains(res.Stdout(), "smtp-user"), "not mapped by the project")
		// One version list per backed secret the vault has, none for the
		// local one.
		c := em.Counters(t)
		assert.Check(t, is.Equal(c["GET /secrets/{name}/versions"], 2), "%v", c)
		assert.Check(t, is.Equal(c["GET /secrets/{name}/{version}"], 0), "%v", c)
	})

	t.Run("http vault refused", func(t *testing.T) {
		res := vaultDocker(t, kvEnv, dir, "vault", "ls", "--vault", "http://x")
		res.Assert(t, icmd.Expected{ExitCode: 1})
		assert.Check(t, is.Equal(res.Stdout(), ""))
		assert.Check(t, is.Equal(strings.TrimSpace(res.Stderr()), `invalid vault in --vault: vault URL "http://x" must use https: use https://x`))
	})
}
