package migrate

import (
	"testing"

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
	assert.Check(t, is.Equal(v.Map()["api_key"], "API_KEY_SECRET_2"))
}
