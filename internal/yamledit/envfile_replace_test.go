package yamledit

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestEnvFileReplace(t *testing.T) {
	in := "# db\r\nDB_PASS=old-one\r\nexport API_TOKEN='s3cr3t' # inline\r\nDB_PASS=\"later\"\r\nUSER=app"
	e, err := ParseEnvFile(".env", []byte(in))
	assert.NilError(t, err)

	assert.NilError(t, e.Replace("API_TOKEN", "API_TOKEN_FILE", "/run/secrets/api_token"))
	assert.NilError(t, e.Replace("DB_PASS", "DB_PASS_FILE", "/run/secrets/db_pass"))
	assert.Check(t, is.Equal(string(e.Bytes()),
		"# db\r\nAPI_TOKEN_FILE=/run/secrets/api_token # inline\r\nDB_PASS_FILE=/run/secrets/db_pass\r\nUSER=app"))
	assert.DeepEqual(t, e.Keys(), []string{"API_TOKEN_FILE", "DB_PASS_FILE", "USER"})

	assert.Check(t, is.ErrorIs(e.Replace("USER", "USER", "x"), ErrUnsupported))
	assert.Check(t, is.ErrorIs(e.Replace("NOPE", "NOPE_FILE", "x"), ErrNotFound))
	assert.Check(t, is.ErrorIs(e.Replace("USER", "USER_FILE", "needs quoting"), ErrUnsupported))
}
