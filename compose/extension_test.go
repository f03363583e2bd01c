package compose

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

const extensionCompose = `x-vault:
  exclude:
    - IGNORED_PASSWORD
x-common: &common
  SHARED_PASSWORD: shared-pw-1
x-db:
  credentials:
    password: nested-pw-1
    user: admin
  env:
    - API_TOKEN=list-token-1
    - MODE=prod
    - EMPTY_SECRET=
  ref: ${FROM_SHELL_PASSWORD}
  dollar_password: a$$b-pw-1
  IGNORED_PASSWORD: ignored-pw-1
  db_password_file: /run/secrets/db_pw
x-token: ghp_0123456789abcdefghijklmnopqrstuvwxyz
services:
  app:
    image: example/app
    x-meta:
      owner: team-a
      deploy_secret: svc-secret-1
    environment:
      <<: *common
      MODE: dev
  other:
    image: example/other
    profiles: [off]
    x-meta:
      other_password: off-pw-1
`

func TestExtensions(t *testing.T) {
	dir := fs.NewDir(t, "ext", fs.WithFile("compose.yaml", extensionCompose))
	compose := dir.Join("compose.yaml")
	p, err := Load(t.Context(), LoadOptions{WorkingDir: dir.Path(), Environ: []string{"FROM_SHELL_PASSWORD=from-shell-1"}})
	assert.NilError(t, err)

	// migrate does not ask for x- blocks: none reported.
	r, err := Detect(p, DetectOptions{})
	assert.NilError(t, err)
	for _, f := range r.Findings {
		assert.Check(t, f.Source.Kind != SourceExtension, f.String())
	}
	plain := len(r.Findings)

	r, err = Detect(p, DetectOptions{Extensions: true})
	assert.NilError(t, err)
	var got []string
	for _, f := range r.Findings {
		if f.Source.Kind != SourceExtension {
			continue
		}
		got = append(got, f.Service+"|"+f.Variable+"|"+f.Source.Position.String()+"|"+f.Source.Field+"|"+string(f.Action))
		if f.Action == ActionReport {
			assert.Check(t, is.Equal(f.Verdict, VerdictSecret), f.String())
			assert.Check(t, strings.HasSuffix(f.Reason, "; x- blocks are committed with the compose file"), f.Reason)
		}
	}
	at := func(line, col int) string { return Position{File: compose, Line: line, Column: col}.String() }
	assert.Check(t, is.DeepEqual(got, []string{
		"app|deploy_secret|" + at(24, 22) + "|x-meta|report",
		"|password|" + at(8, 15) + "|x-db.credentials|report",
		"|API_TOKEN|" + at(11, 7) + "|x-db.env|report",
		"|dollar_password|" + at(15, 20) + "|x-db|report",
		"|IGNORED_PASSWORD|" + at(16, 21) + "|x-db|skip",
		"|x-token|" + at(18, 10) + "|x-token|report",
	}))
	// Other findings are unchanged, and the anchor merged into app's
	// environment is found there (Shared), not again in x-common.
	assert.Check(t, is.Equal(len(r.Findings), plain+len(got)))
	f := finding(t, r, "app", "SHARED_PASSWORD")
	assert.Check(t, is.Equal(f.Source.Kind, SourceLiteral))
	assert.Check(t, f.Source.Shared)
	assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: compose, Line: 5, Column: 20}))

	f = finding(t, r, "", "API_TOKEN")
	assert.Check(t, is.Equal(f.Source.Form, "list"))
	assert.Check(t, is.Equal(string(f.Value), "list-token-1"))
	f = finding(t, r, "", "password")
	assert.Check(t, is.Equal(f.Source.Form, "map"))
	assert.Check(t, is.DeepEqual(f.Source.Key, Position{File: compose, Line: 8, Column: 5}))
	f = finding(t, r, "", "dollar_password")
	assert.Check(t, is.Equal(string(f.Value), "a$b-pw-1"), "$$ is a literal $")
	f = finding(t, r, "", "IGNORED_PASSWORD")
	assert.Check(t, is.Equal(f.Reason, "excluded by x-vault"))
	f = finding(t, r, "", "x-token")
	assert.Check(t, is.Contains(f.Reason, "value holds"))
	// ref: ${FROM_SHELL_PASSWORD} holds no value written in the file.
	noValue(t, r, "nested-pw-1", "list-token-1", "svc-secret-1", "a$b-pw-1")
}

func TestExtensionAnchorOverridden(t *testing.T) {
	// The anchor's value is overridden in the service: the x- block
	// still holds a password, committed, and it is reported there.
	r := detectWith(t, `x-env: &env
  DB_PASSWORD: anchored-pw-1
services:
  app:
    image: example/app
    environment:
      <<: *env
      DB_PASSWORD: own-pw-1
`, DetectOptions{Extensions: true})
	f := finding(t, r, "", "DB_PASSWORD")
	assert.Check(t, is.Equal(f.Source.Kind, SourceExtension))
	assert.Check(t, is.Equal(f.Source.Position.Line, 2))
	assert.Check(t, f.Source.Shared)
	f = finding(t, r, "app", "DB_PASSWORD")
	assert.Check(t, is.Equal(f.Source.Position.Line, 8))
}

func TestWrittenValue(t *testing.T) {
	for raw, want := range map[string]string{
		"plain":         "plain",
		"${X}":          "",
		"a${X}b":        "ab",
		"$$x":           "$x",
		"${X:?missing}": "",
	} {
		got, ok := writtenValue(raw)
		assert.Check(t, ok, raw)
		assert.Check(t, is.Equal(got, want), raw)
	}
	_, ok := writtenValue("${")
	assert.Check(t, !ok)
}
