package mapping

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig(map[string]any{
		"url":     "https://v.vault.azure.net",
		"include": "ONE",
		"exclude": []any{"db.USER"},
		"file-variables": map[string]any{
			"PG_PASSWORD":   "PG_PASSWORD_FILE",
			"SA_PASSWORD":   false,
			"pihole/pihole": map[string]any{"WEBPASSWORD": map[string]any{"variable": "WEBPASSWORD_FILE", "kind": "name"}},
			"api.TOKEN":     map[string]any{"variable": "TOKEN_FILE"},
		},
		"version": 2, // someone else's key: left alone
	})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(cfg, Config{
		URL:     "https://v.vault.azure.net",
		Include: []string{"ONE"},
		Exclude: []string{"db.USER"},
		FileVariables: map[string]FileVariable{
			"PG_PASSWORD": {Variable: "PG_PASSWORD_FILE", Kind: "path"},
			"SA_PASSWORD": {},
			"api.TOKEN":   {Variable: "TOKEN_FILE", Kind: "path"},
		},
		ImageFileVariables: map[string]map[string]FileVariable{
			"pihole/pihole": {"WEBPASSWORD": {Variable: "WEBPASSWORD_FILE", Kind: "name"}},
		},
	}))
}

func TestClaims(t *testing.T) {
	c := Claims{}
	assert.NilError(t, c.Claim("a", "x", ""))
	assert.NilError(t, c.Claim("pinned", "x", "v1"), "a pinned version is another secret")
	assert.Check(t, is.Error(c.Claim("b", "X", ""), "secrets a and b both map to Key Vault secret X: give one an x-vault name"))
	assert.Check(t, is.Error(c.Claim("c", "x", "V1"), "secrets pinned and c both map to Key Vault secret x: give one an x-vault name"))
	assert.Check(t, is.ErrorContains(CheckKVName("k", "bad_name"), `secret k maps to "bad_name", which is not a valid Key Vault secret name`))
	assert.NilError(t, CheckKVName("k", "good-name-1"))
}
