package migrate

import (
	"path/filepath"
	"testing"

	"github.com/docker-vault/docker-vault/compose"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestVariables(t *testing.T) {
	v := NewVariables(map[string]bool{"API_KEY": true, "API_KEY_SECRET": true})
	for _, tc := range []struct{ secret, want string }{
		{"db_password", "DB_PASSWORD"},
		{"db_password", "DB_PASSWORD"}, // the same on every call
		{"DB_PASSWORD", "DB_PASSWORD_SECRET"},
		{"db.password", "DB_PASSWORD_SECRET_2"},
		{"api_key", "API_KEY_SECRET_2"},
		{"docker_password", "SECRET_DOCKER_PASSWORD"},
		{"compose-token", "SECRET_COMPOSE_TOKEN"},
		{"path", "SECRET_PATH"},
		{"lc", "LC"},
		{"LC", "SECRET_LC"}, // LC is taken, and LC_SECRET is a locale
		{"1st", "SECRET_1ST"},
		{"googlekey", "GOOGLEKEY"},
	} {
		assert.Check(t, is.Equal(v.For(tc.secret), tc.want), tc.secret)
	}
}

// TestUsedVariables: what compose reads from its own environment, in the
// files as rewritten: interpolations (not $$ escapes), env file keys,
// environment and build args keys, other secrets' environment: sources.
func TestUsedVariables(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": `services:
  app:
    image: busybox
    command: ["sh", "-c", "echo $$NOT_USED ${IN_COMMAND:-x}"]
    environment:
      - PASSED
      - KEYED=1
    build:
      context: .
      args: {BUILD_ARG: null}
    env_file: app.env
    secrets: [tok]
secrets:
  tok:
    environment: TOKEN_VAR
`,
		".env":    "DOTENV_KEY=1\nREF=${IN_DOTENV}\n",
		"app.env": "APP_ENV_KEY=1\n",
	})
	p, _ := load(t, dir, compose.LoadOptions{})
	used, err := UsedVariables(p, nil)
	assert.NilError(t, err)
	for _, v := range []string{"IN_COMMAND", "PASSED", "KEYED", "BUILD_ARG", "DOTENV_KEY", "REF", "IN_DOTENV", "APP_ENV_KEY", "TOKEN_VAR"} {
		assert.Check(t, used[v], "%s is used", v)
	}
	assert.Check(t, !used["NOT_USED"], "$$NOT_USED is an escape, not a variable")

	// In the files as rewritten.
	used, err = UsedVariables(p, map[string][]byte{filepath.Join(dir, ".env"): []byte("OTHER=1\n")})
	assert.NilError(t, err)
	assert.Check(t, !used["DOTENV_KEY"] && used["OTHER"])
}
