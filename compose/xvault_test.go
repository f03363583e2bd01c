package compose

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

const xvaultCompose = `x-vault:
  url: https://example.vault.azure.net
  include:
    - LICENSE_CODE            # every service
    - api.SESSION_SEED        # one service
    - discovery.seed          # a variable whose name has a dot
  exclude:
    - db.POSTGRES_PASSWORD
    - NOT_A_VARIABLE
  file-variables:
    LICENSE_CODE: LICENSE_CODE_PATH
    api.SESSION_SEED: SESSION_SEED_FILE
    example/api:
      DB_PASS: DB_PASS_FILE
      "*": _FILE
    worker:
      PG_PASSWORD: ""
    pihole/pihole:
      WEBPASSWORD: {variable: WEBPASSWORD_FILE, kind: name}
    postgres:
      OTHER_PASSWORD: false
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: excluded-pw-1
      OTHER_PASSWORD: other-pw-1
  api:
    image: registry.example.com/example/api:2
    environment:
      LICENSE_CODE: lic-1
      SESSION_SEED: seed-1
      DB_PASS: db-pass-1
      API_TOKEN: api-token-1
      DATABASE_URL: postgres://u:url-pw-1@db/app
  worker:
    image: example/worker
    environment:
      LICENSE_CODE: lic-1
      SESSION_SEED: seed-2
      PG_PASSWORD: pg-pw-1
      discovery.seed: seed-3
`

func TestVaultConfig(t *testing.T) {
	dir := fs.NewDir(t, "xvault", fs.WithFile("compose.yaml", xvaultCompose))
	p, r := detect(t, LoadOptions{WorkingDir: dir.Path()})

	cfg, err := ParseVaultConfig(p.Compose.Extensions["x-vault"])
	assert.NilError(t, err)
	assert.Check(t, is.Equal(cfg.URL, "https://example.vault.azure.net"))

	for _, tc := range []struct {
		service, variable string
		verdict           Verdict
		action            Action
		fileVar           string
		reason            string
	}{
		{"db", "POSTGRES_PASSWORD", VerdictNotSecret, ActionSkip, "", "excluded by x-vault"},
		{"db", "OTHER_PASSWORD", VerdictSecret, ActionReport, "", "x-vault says image postgres has no file variant"},
		{"api", "LICENSE_CODE", VerdictSecret, ActionMigrate, "LICENSE_CODE_PATH", "included by x-vault"},
		{"worker", "LICENSE_CODE", VerdictSecret, ActionMigrate, "LICENSE_CODE_PATH", "included by x-vault"},
		{"api", "SESSION_SEED", VerdictSecret, ActionMigrate, "SESSION_SEED_FILE", "included by x-vault"},
		{"worker", "SESSION_SEED", VerdictNotSecret, ActionSkip, "", ""},
		{"worker", "discovery.seed", VerdictSecret, ActionReport, "", "included by x-vault"},
		{"api", "DB_PASS", VerdictSecret, ActionMigrate, "DB_PASS_FILE", "per x-vault"},
		{"api", "API_TOKEN", VerdictSecret, ActionMigrate, "API_TOKEN_FILE", "per x-vault"},
		// The image reads the whole URL from a file: the URL migrates.
		{"api", "DATABASE_URL", VerdictSecret, ActionMigrate, "DATABASE_URL_FILE", "URL holds a password"},
		{"worker", "PG_PASSWORD", VerdictSecret, ActionReport, "", "x-vault says"},
	} {
		f := finding(t, r, tc.service, tc.variable)
		assert.Check(t, is.Equal(f.Verdict, tc.verdict), "%s.%s: %s", tc.service, tc.variable, f.Reason)
		assert.Check(t, is.Equal(f.Action, tc.action), "%s.%s: %s", tc.service, tc.variable, f.Reason)
		assert.Check(t, is.Equal(f.FileVariable, tc.fileVar), "%s.%s", tc.service, tc.variable)
		assert.Check(t, is.Contains(f.Reason, tc.reason), "%s.%s", tc.service, tc.variable)
	}
	// Both LICENSE_CODE hold one value: one secret.
	assert.Check(t, is.Equal(finding(t, r, "api", "LICENSE_CODE").SecretName, "license_code"))
	assert.Check(t, is.Equal(finding(t, r, "worker", "LICENSE_CODE").SecretName, "license_code"))
	assert.Check(t, is.DeepEqual(r.Warnings, []string{"x-vault entry NOT_A_VARIABLE matches no variable"}))
}

func TestVaultConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		ext  any
		want string
	}{
		{"nope", "x-vault must be a mapping"},
		{map[string]any{"url": 1}, "x-vault.url must be a string"},
		{map[string]any{"include": map[string]any{}}, "x-vault.include must be a list of strings"},
		{map[string]any{"exclude": []any{"A", 2}}, "x-vault.exclude must be a list of strings"},
		{map[string]any{"file-variables": []any{}}, "x-vault.file-variables must be a mapping"},
		{map[string]any{"file-variables": map[string]any{"A": true}}, "x-vault.file-variables.A: true is not a variable name"},
		{map[string]any{"file-variables": map[string]any{"A": map[string]any{"variable": "A_FILE", "kind": "dir"}}}, "kind must be path or name"},
	} {
		_, err := ParseVaultConfig(tc.ext)
		assert.Check(t, is.ErrorContains(err, tc.want), "%v", tc.ext)
	}
	cfg, err := ParseVaultConfig(map[string]any{"file-variables": map[string]any{
		"pihole/pihole": map[string]any{"WEBPASSWORD": map[string]any{"variable": "WEBPASSWORD_FILE", "kind": "name"}},
	}})
	assert.NilError(t, err)
	fs, ok, explicit := cfg.fileSupport("dns", "pihole/pihole:2024.07.0", "WEBPASSWORD")
	assert.Check(t, ok && explicit)
	assert.Check(t, is.DeepEqual(fs, FileSupport{Variable: "WEBPASSWORD_FILE", Kind: FileVarName, Source: "x-vault"}))
}

func TestDetectOptionsAddToVaultConfig(t *testing.T) {
	dir := fs.NewDir(t, "xvault", fs.WithFile("compose.yaml", "services:\n  a:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: pw-1\n      FEATURE_SEED: seed-1\n"))
	p, _ := detect(t, LoadOptions{WorkingDir: dir.Path()})
	r, err := Detect(p, DetectOptions{Include: []string{"a.FEATURE_SEED"}, Exclude: []string{"POSTGRES_PASSWORD"}})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(finding(t, r, "a", "FEATURE_SEED").Verdict, VerdictSecret))
	assert.Check(t, is.Equal(finding(t, r, "a", "POSTGRES_PASSWORD").Action, ActionSkip))
}
