package keyvault

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

func TestValidSecretName(t *testing.T) {
	for _, ok := range []string{"Db-Password-2", "a", "-", strings.Repeat("a", 127)} {
		assert.Check(t, ValidSecretName(ok), ok)
	}
	for _, bad := range []string{"", "db_password", "tls.key", "a/b", "é", strings.Repeat("a", 128)} {
		assert.Check(t, !ValidSecretName(bad), bad)
	}
}
