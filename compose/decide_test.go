package compose

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/internal/imageinfo"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

// shellImage is an image with /bin/sh whose entrypoint reads vars from
// files (VAR -> VAR_FILE, as file_env does).
func shellImage(ref string, vars ...string) *imageinfo.Image {
	img := &imageinfo.Image{Ref: ref, ID: "sha256:" + ref, Shell: true, Entrypoint: []string{"/entrypoint.sh"}, Cmd: []string{"run"}}
	if len(vars) > 0 {
		img.Files.Vars = map[string]string{}
		for _, v := range vars {
			img.Files.Vars[v] = v + "_FILE"
		}
	}
	return img
}

func detectWith(t *testing.T, compose string, opts DetectOptions, files ...fs.PathOp) *Report {
	t.Helper()
	dir := fs.NewDir(t, "decide", append([]fs.PathOp{fs.WithFile("compose.yaml", compose)}, files...)...)
	p, err := Load(context.Background(), LoadOptions{WorkingDir: dir.Path()})
	assert.NilError(t, err)
	r, err := Detect(p, opts)
	assert.NilError(t, err)
	return r
}

// noValue checks that no reason, and no rendering of the report, holds
// any of values.
func noValue(t *testing.T, r *Report, values ...string) {
	t.Helper()
	var b strings.Builder
	r.WriteTable(&b, true)
	out := b.String() + r.GoString()
	for _, f := range r.Findings {
		out += f.Reason + f.GoString()
	}
	for _, v := range values {
		assert.Check(t, !strings.Contains(out, v), "a value is in the report: %q", v)
	}
}

const decideCompose = `services:
  db:
    image: mariadb:11
    environment:
      MARIADB_PASSWORD: maria-pw-1
      MYSQL_PASSWORD: mysql-pw-1
  app:
    image: example/app:2
    environment:
      APP_TOKEN: app-token-1
      OTHER_PASSWORD: other-pw-1
      DATABASE_URL: postgres://app:url-pw-1@db/app
      spring.datasource.password: dotted-pw-1
      SMTP_PASSWORD: ""
      SEED: q8Zr2LmX9vT4bN7kP1sW6yH3cJ0fD5gA
  pg:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: pg-pw-1
  scratch:
    image: example/distroless
    environment:
      SCRATCH_TOKEN: scratch-token-1
  gone:
    image: example/gone
    environment:
      GONE_TOKEN: gone-token-1
  dns:
    image: pihole/pihole
    environment:
      WEBPASSWORD: web-pw-1
`

var decideValues = []string{"maria-pw-1", "mysql-pw-1", "app-token-1", "other-pw-1", "url-pw-1", "dotted-pw-1", "pg-pw-1", "scratch-token-1", "gone-token-1", "web-pw-1", "q8Zr2LmX9vT4bN7kP1sW6yH3cJ0fD5gA"}

func decideImages() map[string]ImageInfo {
	pihole := shellImage("pihole/pihole", "WEBPASSWORD")
	distroless := shellImage("example/distroless")
	distroless.Shell = false
	return map[string]ImageInfo{
		// The image as read reads MARIADB_PASSWORD_FILE only; the table
		// would say MYSQL_PASSWORD_FILE too.
		"db":  {Image: shellImage("mariadb:11", "MARIADB_PASSWORD")},
		"app": {Image: shellImage("example/app:2", "APP_TOKEN")},
		// Unreadable, but the table knows postgres.
		"pg":      {Err: errors.New("image postgres:16: not in the engine and --pull=never")},
		"scratch": {Image: distroless},
		"gone":    {Err: errors.New("pull access denied for example/gone")},
		"dns":     {Image: pihole},
	}
}

func TestDecideByImage(t *testing.T) {
	r := detectWith(t, decideCompose, DetectOptions{Images: decideImages()})
	type want struct {
		action Action
		via    Via
		fv     string
		reason string
	}
	for _, tc := range []struct {
		svc, variable string
		want          want
	}{
		// The image's own scripts win over the table...
		{"db", "MARIADB_PASSWORD", want{ActionMigrate, ViaFileVariable, "MARIADB_PASSWORD_FILE", "image mariadb reads MARIADB_PASSWORD_FILE (its entrypoint does)"}},
		// ...and when they do not read a variable, the table is not asked.
		{"db", "MYSQL_PASSWORD", want{ActionMigrate, ViaEntrypoint, "", "image mariadb does not read MYSQL_PASSWORD_FILE (its entrypoint does not): the service's start is wrapped to export MYSQL_PASSWORD from the secret file"}},
		{"app", "APP_TOKEN", want{ActionMigrate, ViaFileVariable, "APP_TOKEN_FILE", "reads APP_TOKEN_FILE (its entrypoint does)"}},
		{"app", "OTHER_PASSWORD", want{ActionMigrate, ViaEntrypoint, "", "wrapped to export OTHER_PASSWORD"}},
		// A URL with a password becomes one secret, whole.
		{"app", "DATABASE_URL", want{ActionMigrate, ViaEntrypoint, "", "(the whole value becomes the secret)"}},
		{"app", "spring.datasource.password", want{ActionReport, "", "", "spring.datasource.password is not a shell variable name, so the entrypoint wrapper cannot export it"}},
		{"app", "SMTP_PASSWORD", want{ActionReport, "", "", "the value is empty"}},
		{"app", "SEED", want{ActionReport, "", "", "not migrated on a guess"}},
		// The table is the fallback for an image that cannot be read.
		{"pg", "POSTGRES_PASSWORD", want{ActionMigrate, ViaFileVariable, "POSTGRES_PASSWORD_FILE", "reads POSTGRES_PASSWORD_FILE (built-in, as postgres could not be read: image postgres:16: not in the engine and --pull=never)"}},
		{"scratch", "SCRATCH_TOKEN", want{ActionReport, "", "", "image example/distroless has no /bin/sh, so its start cannot be wrapped to export SCRATCH_TOKEN: the variable stays"}},
		{"gone", "GONE_TOKEN", want{ActionReport, "", "", "image example/gone could not be read (pull access denied for example/gone) and the built-in table knows no file variant of GONE_TOKEN"}},
		// pihole's file variable holds a secret name: the table says so
		// where the script read cannot.
		{"dns", "WEBPASSWORD", want{ActionMigrate, ViaFileVariable, "WEBPASSWORD_FILE", "reads WEBPASSWORD_FILE (a secret name, not a path) (its entrypoint does)"}},
	} {
		f := finding(t, r, tc.svc, tc.variable)
		assert.Check(t, is.Equal(f.Action, tc.want.action), "%s: %s", f, f.Reason)
		assert.Check(t, is.Equal(f.Via, tc.want.via), "%s", f)
		assert.Check(t, is.Equal(f.FileVariable, tc.want.fv), "%s", f)
		assert.Check(t, is.Contains(f.Reason, tc.want.reason), "%s", f)
	}
	assert.Check(t, is.Equal(finding(t, r, "dns", "WEBPASSWORD").FileVariableKind, FileVarName))
	assert.Check(t, finding(t, r, "app", "DATABASE_URL").Embedded)
	noValue(t, r, decideValues...)
}

// --no-wrap keeps what an image cannot read from a file in place; file
// variables still move.
func TestDecideNoWrap(t *testing.T) {
	r := detectWith(t, decideCompose, DetectOptions{Images: decideImages(), NoWrap: true})
	for _, f := range r.Findings {
		assert.Check(t, f.Via != ViaEntrypoint, "%s", f)
		if f.Action == ActionMigrate {
			assert.Check(t, is.Equal(f.Via, ViaFileVariable), "%s", f)
		}
	}
	f := finding(t, r, "db", "MYSQL_PASSWORD")
	assert.Check(t, is.Equal(f.Action, ActionReport))
	assert.Check(t, is.Contains(f.Reason, "image mariadb does not read MYSQL_PASSWORD_FILE (its entrypoint does not); the variable stays (--no-wrap)"))
	assert.Check(t, is.Equal(finding(t, r, "db", "MARIADB_PASSWORD").Action, ActionMigrate))
	assert.Check(t, is.Equal(finding(t, r, "pg", "POSTGRES_PASSWORD").FileVariable, "POSTGRES_PASSWORD_FILE"))
	noValue(t, r, decideValues...)
}

// Without images (no reader), the table alone decides and nothing is
// wrapped, as before images were read; file-variable moves say so in Via.
func TestDecideWithoutImages(t *testing.T) {
	r := detectWith(t, decideCompose, DetectOptions{})
	for _, f := range r.Findings {
		if f.Action == ActionMigrate {
			assert.Check(t, is.Equal(f.Via, ViaFileVariable), "%s", f)
			assert.Check(t, f.FileVariable != "", "%s", f)
		} else {
			assert.Check(t, is.Equal(f.Via, Via("")), "%s", f)
		}
	}
	// The table says mariadb reads MYSQL_PASSWORD_FILE.
	assert.Check(t, is.Equal(finding(t, r, "db", "MYSQL_PASSWORD").FileVariable, "MYSQL_PASSWORD_FILE"))
	f := finding(t, r, "app", "OTHER_PASSWORD")
	assert.Check(t, is.Equal(f.Action, ActionReport))
	assert.Check(t, is.Equal(f.Reason, `name contains "password"; image example/app does not read OTHER_PASSWORD_FILE; the variable stays`))
	f = finding(t, r, "app", "DATABASE_URL")
	assert.Check(t, is.Equal(f.Reason, "URL holds a password (user:password@); the credential is part of a larger value and image example/app does not read DATABASE_URL_FILE: the value stays, the app must take the password on its own"))
	assert.Check(t, is.Equal(finding(t, r, "pg", "POSTGRES_PASSWORD").Reason, `name contains "password"; image postgres reads POSTGRES_PASSWORD_FILE`))
}

// x-vault's file-variables are the user's word: they win over the image;
// "none" means no file variable, so the wrapper moves the value.
func TestDecideXVaultWinsOverImage(t *testing.T) {
	compose := `x-vault:
  file-variables:
    app.APP_TOKEN: APP_TOKEN_PATH
    app.OTHER_PASSWORD: ""
services:
  app:
    image: example/app:2
    environment:
      APP_TOKEN: app-token-1
      OTHER_PASSWORD: other-pw-1
`
	img := shellImage("example/app:2", "APP_TOKEN", "OTHER_PASSWORD")
	r := detectWith(t, compose, DetectOptions{Images: map[string]ImageInfo{"app": {Image: img}}})
	f := finding(t, r, "app", "APP_TOKEN")
	assert.Check(t, is.Equal(f.FileVariable, "APP_TOKEN_PATH"))
	assert.Check(t, is.Contains(f.Reason, "per x-vault"))
	f = finding(t, r, "app", "OTHER_PASSWORD")
	assert.Check(t, is.Equal(f.Action, ActionMigrate))
	assert.Check(t, is.Equal(f.Via, ViaEntrypoint))
	assert.Check(t, is.Contains(f.Reason, "x-vault says image example/app has no file variant for OTHER_PASSWORD: the service's start is wrapped"))
}

// One anchored environment, two services whose images differ: each
// service's finding is decided by its own image.
func TestDecideAnchorSharedByImages(t *testing.T) {
	compose := `x-env: &env
  DB_PASSWORD: shared-pw-1
  MYSQL_PASSWORD: shared-pw-2
services:
  reads-files:
    image: example/files
    environment: *env
  env-only:
    image: example/env-only
    environment:
      <<: *env
  static:
    image: example/static
    environment: *env
`
	static := shellImage("example/static")
	static.Shell = false
	images := map[string]ImageInfo{
		"reads-files": {Image: shellImage("example/files", "DB_PASSWORD", "MYSQL_PASSWORD")},
		"env-only":    {Image: shellImage("example/env-only")},
		"static":      {Image: static},
	}
	r := detectWith(t, compose, DetectOptions{Images: images})
	for _, v := range []string{"DB_PASSWORD", "MYSQL_PASSWORD"} {
		f := finding(t, r, "reads-files", v)
		assert.Check(t, is.Equal(f.Via, ViaFileVariable), "%s", f)
		assert.Check(t, is.Equal(f.FileVariable, v+"_FILE"))
		assert.Check(t, f.Source.Shared)
		f = finding(t, r, "env-only", v)
		assert.Check(t, is.Equal(f.Via, ViaEntrypoint), "%s", f)
		assert.Check(t, is.Equal(f.FileVariable, ""))
		f = finding(t, r, "static", v)
		assert.Check(t, is.Equal(f.Action, ActionReport), "%s", f)
		assert.Check(t, is.Contains(f.Reason, "no /bin/sh"))
		// One value, one secret, whichever way each service reads it.
		assert.Check(t, is.Equal(f.SecretName, finding(t, r, "reads-files", v).SecretName))
		assert.Check(t, is.Equal(f.SecretName, finding(t, r, "env-only", v).SecretName))
	}
	noValue(t, r, "shared-pw-1", "shared-pw-2")
}

// A service that only builds has no table entry: an image not built yet is
// reported with the reader's error.
func TestDecideBuildOnlyUnreadable(t *testing.T) {
	compose := `services:
  api:
    build: .
    environment:
      API_TOKEN: api-token-1
`
	r := detectWith(t, compose, DetectOptions{Images: map[string]ImageInfo{"api": {Err: errors.New("image decide-api: not built yet")}}},
		fs.WithFile("Dockerfile", "FROM scratch\n"))
	f := finding(t, r, "api", "API_TOKEN")
	assert.Check(t, is.Equal(f.Action, ActionReport))
	assert.Check(t, is.Contains(f.Reason, "the image service api builds could not be read (image decide-api: not built yet)"))

	// The image was read after a build: wrapped.
	r = detectWith(t, compose, DetectOptions{Images: map[string]ImageInfo{"api": {Image: shellImage("decide-api")}}},
		fs.WithFile("Dockerfile", "FROM scratch\n"))
	assert.Check(t, is.Equal(finding(t, r, "api", "API_TOKEN").Via, ViaEntrypoint))
}

func TestShellNameRule(t *testing.T) {
	for v, want := range map[string]bool{
		"DB_PASSWORD": true, "_x": true, "a1": true, "database__connection__password": true,
		"1A": false, "spring.datasource.password": false, "A-B": false, "": false, "É": false,
	} {
		assert.Check(t, is.Equal(ShellName(v), want), v)
	}
}

// A service migrate wrapped is not reported again: the wrapper's script
// names the variables it exports, which is no copy of a password. A
// healthcheck does not run through the wrapper, so its reference still is.
func TestDetectWrappedService(t *testing.T) {
	compose := `services:
  app:
    image: example/app
    entrypoint: ["/bin/sh", "-c", "set -e; DB_PASSWORD=$$(cat /run/secrets/db_password && printf x); DB_PASSWORD=$${DB_PASSWORD%x}; export DB_PASSWORD; exec \"$$@\"", "sh", "/entrypoint.sh"]
    command: ["run"]
    healthcheck:
      test: ["CMD-SHELL", "check --password $$DB_PASSWORD"]
    secrets: [db_password]
    x-vault:
      wrapper:
        image: sha256:abc
        from: image
        entrypoint: ["/entrypoint.sh"]
        command: ["run"]
        variables: {DB_PASSWORD: db_password}
  unwrapped:
    image: example/app
    entrypoint: ["/bin/sh", "-c", "DB_PASSWORD=$${DB_PASSWORD%x}; exec \"$$@\"", "sh"]
secrets:
  db_password:
    file: ./secrets/db_password
`
	r := detectWith(t, compose, DetectOptions{Images: map[string]ImageInfo{"app": {Image: shellImage("example/app")}, "unwrapped": {Image: shellImage("example/app")}}})
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.Service+"."+f.Variable)
	}
	assert.Check(t, is.DeepEqual(got, []string{"app.healthcheck.test", "unwrapped.entrypoint"}))
}

// Family conventions learnt from the image (grafana's GF_*__FILE,
// linuxserver's FILE__*) name the file variable; an unset pass-through is
// reported whatever the image.
func TestDecideImageRules(t *testing.T) {
	compose := `services:
  grafana:
    image: example/grafana
    environment:
      GF_SECURITY_ADMIN_PASSWORD: gf-pw-1
      GF_DATABASE_PASSWORD:
  lsio:
    image: example/lsio
    env_file: [lsio.env]
`
	grafana := shellImage("example/grafana")
	grafana.Files.Rules = []imageinfo.Rule{{Prefix: "GF_", Suffix: "__FILE"}}
	lsio := shellImage("example/lsio")
	lsio.Files.Rules = []imageinfo.Rule{{FilePrefix: "FILE__"}}
	r := detectWith(t, compose, DetectOptions{Images: map[string]ImageInfo{"grafana": {Image: grafana}, "lsio": {Image: lsio}}},
		fs.WithFile("lsio.env", "MYSQL_ROOT_PASSWORD=lsio-pw-1\nOTHER_SETTING=lsio-pw-1x\nCOPY_OF_ROOT=lsio-pw-1\n"))
	f := finding(t, r, "grafana", "GF_SECURITY_ADMIN_PASSWORD")
	assert.Check(t, is.Equal(f.FileVariable, "GF_SECURITY_ADMIN_PASSWORD__FILE"))
	assert.Check(t, is.Equal(f.Via, ViaFileVariable))
	f = finding(t, r, "grafana", "GF_DATABASE_PASSWORD")
	assert.Check(t, is.Equal(f.Action, ActionReport))
	assert.Check(t, is.Contains(f.Reason, "no value is set anywhere"))
	f = finding(t, r, "lsio", "MYSQL_ROOT_PASSWORD")
	assert.Check(t, is.Equal(f.FileVariable, "FILE__MYSQL_ROOT_PASSWORD"))
	assert.Check(t, is.Equal(f.Source.Kind, SourceEnvFile))
	// A copy in an env file moves the same way, under the same secret.
	f = finding(t, r, "lsio", "COPY_OF_ROOT")
	assert.Check(t, is.Equal(f.FileVariable, "FILE__COPY_OF_ROOT"))
	assert.Check(t, is.Equal(f.SecretName, "mysql_root_password"))
	assert.Check(t, is.Equal(finding(t, r, "lsio", "OTHER_SETTING").Verdict, VerdictNotSecret))
	noValue(t, r, "gf-pw-1", "lsio-pw-1")
}
