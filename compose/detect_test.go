package compose

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

func TestDetectBuildAndCommands(t *testing.T) {
	dir := fs.NewDir(t, "detect",
		fs.WithFile("compose.yaml", `services:
  app:
    build:
      context: .
      args:
        NPM_TOKEN: npm-token-1
        NODE_ENV: production
      dockerfile_inline: |
        FROM alpine
        ARG GITHUB_TOKEN
        ENV API_KEY=inline-key-1 MODE=prod
    healthcheck:
      test: ["CMD-SHELL", "mysqladmin ping -p$$MYSQL_ROOT_PASSWORD"]
    command: ["redis-server", "--requirepass", "cmd-pw-1"]
    environment:
      MYSQL_ROOT_PASSWORD: root-pw-1
  api:
    build: ./api
    image: example/api
`),
		fs.WithDir("api", fs.WithFile("Dockerfile", "FROM alpine\nARG VERSION=1\nARG DB_PASSWORD=df-pw-1\nRUN echo hi\nARG DB_PASSWORD\n")))
	_, r := detect(t, LoadOptions{WorkingDir: dir.Path()})
	compose := dir.Join("compose.yaml")

	f := finding(t, r, "app", "NPM_TOKEN")
	assert.Check(t, is.Equal(f.Source.Kind, SourceBuildArg))
	assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: compose, Line: 6, Column: 20}))
	assert.Check(t, is.Equal(f.Action, ActionReport))
	assert.Check(t, is.Contains(f.Reason, "RUN --mount=type=secret,id=npm_token"))

	f = finding(t, r, "app", "GITHUB_TOKEN")
	assert.Check(t, is.Equal(f.Source.Kind, SourceDockerfile))
	assert.Check(t, is.Equal(f.Source.Field, "ARG"))
	assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: compose, Line: 10}))
	assert.Check(t, f.Value == nil)

	f = finding(t, r, "app", "API_KEY")
	assert.Check(t, is.Equal(f.Source.Field, "ENV"))
	assert.Check(t, is.Equal(string(f.Value), "inline-key-1"))

	f = finding(t, r, "api", "DB_PASSWORD")
	assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: dir.Join("api", "Dockerfile"), Line: 3, Column: 1}))
	assert.Check(t, is.Equal(string(f.Value), "df-pw-1"))
	assert.Check(t, is.Contains(f.Reason, "set 2 times"))

	f = finding(t, r, "app", "healthcheck.test")
	assert.Check(t, is.Equal(f.Source.Kind, SourceHealthcheck))
	assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: compose, Line: 13, Column: 13}))
	assert.Check(t, is.Contains(f.Reason, "expands $MYSQL_ROOT_PASSWORD"))

	f = finding(t, r, "app", "command")
	assert.Check(t, is.Equal(string(f.Value), "cmd-pw-1"))
	assert.Check(t, is.Contains(f.Reason, "--requirepass"))

	for _, f := range r.Findings {
		assert.Check(t, f.Variable != "NODE_ENV" && f.Variable != "VERSION" && f.Variable != "MODE", f.String())
	}
}

func TestDetectSharedSecrets(t *testing.T) {
	dir := fs.NewDir(t, "detect",
		fs.WithFile("compose.yaml", `services:
  a:
    image: postgres
    environment:
      POSTGRES_PASSWORD: ${PG_PW}
  b:
    image: example/b
    environment:
      B_PASSWORD: ${OTHER_PW}
  c:
    image: example/c
    environment:
      - C_PASSWORD=same-literal-1
  d:
    image: example/d
    environment:
      - D_PASSWORD=same-literal-1
  e:
    image: postgres
    environment:
      POSTGRES_PASSWORD: e-pw-1
    healthcheck:
      test: ["CMD", "check", "--password", "same-literal-1"]
secrets:
  c_password:
    file: ./c.txt
`),
		fs.WithFile(".env", "PG_PW=equal-1\nOTHER_PW=equal-1\n"))
	_, r := detect(t, LoadOptions{WorkingDir: dir.Path()})
	name := func(svc, v string) string { return finding(t, r, svc, v).SecretName }

	// Two .env variables are two secrets even when equal.
	assert.Check(t, is.Equal(name("a", "POSTGRES_PASSWORD"), "postgres_password"))
	assert.Check(t, is.Equal(name("b", "B_PASSWORD"), "b_password"))
	// One literal in two services is one secret; c_password is taken by an
	// existing top-level secret.
	assert.Check(t, is.Equal(name("c", "C_PASSWORD"), "c_c_password"))
	assert.Check(t, is.Equal(name("d", "D_PASSWORD"), "c_c_password"))
	assert.Check(t, is.Contains(finding(t, r, "c", "C_PASSWORD").Reason, "same value as d.D_PASSWORD"))
	// The name is taken by a's group: e's different value gets its own.
	assert.Check(t, is.Equal(name("e", "POSTGRES_PASSWORD"), "e_postgres_password"))
	// The healthcheck copy points at the secret it copies.
	hc := finding(t, r, "e", "healthcheck.test")
	assert.Check(t, is.Equal(hc.SecretName, "c_c_password"))

	var names []string
	for _, s := range r.Secrets {
		names = append(names, s.String())
	}
	assert.Check(t, is.DeepEqual(names, []string{
		"postgres_password (a.POSTGRES_PASSWORD)",
		"b_password (b.B_PASSWORD)",
		"c_c_password (c.C_PASSWORD, d.D_PASSWORD, e.healthcheck.test)",
		"e_postgres_password (e.POSTGRES_PASSWORD)",
	}))

	// Stable order: services as written, then by kind and line.
	var order []string
	for _, f := range r.Findings {
		order = append(order, f.Service+"."+f.Variable)
	}
	assert.Check(t, is.DeepEqual(order, []string{
		"a.POSTGRES_PASSWORD", "b.B_PASSWORD", "c.C_PASSWORD", "d.D_PASSWORD", "e.POSTGRES_PASSWORD", "e.healthcheck.test",
	}))
}

// A project in the shape migrate leaves behind must not be migrated again.
func TestDetectIdempotent(t *testing.T) {
	dir := fs.NewDir(t, "detect", fs.WithFile("compose.yaml", `services:
  db:
    image: postgres
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password
    secrets: [postgres_password]
  dns:
    image: pihole/pihole
    environment:
      WEBPASSWORD_FILE: webpassword
    secrets: [webpassword]
  grafana:
    image: grafana/grafana
    environment:
      GF_SECURITY_ADMIN_PASSWORD__FILE: /run/secrets/gf_security_admin_password
    secrets: [gf_security_admin_password]
  lsio:
    image: lscr.io/linuxserver/mariadb
    environment:
      FILE__MYSQL_ROOT_PASSWORD: /run/secrets/mysql_root_password
secrets:
  postgres_password:
    file: ./secrets/postgres_password
  webpassword:
    file: ./secrets/webpassword
  gf_security_admin_password:
    file: ./secrets/gf
`))
	_, r := detect(t, LoadOptions{WorkingDir: dir.Path()})
	assert.Check(t, is.Equal(r.Count(ActionMigrate), 0), r.String())
	assert.Check(t, is.Equal(r.Count(ActionReport), 0), r.String())
	for _, f := range r.Findings {
		assert.Check(t, is.Equal(f.Verdict, VerdictFileRef), f.String())
	}
}

func TestDetectProfiles(t *testing.T) {
	dir := fs.NewDir(t, "detect", fs.WithFile("compose.yaml", `services:
  db:
    image: postgres
    environment:
      POSTGRES_PASSWORD: pw-1
  tools:
    image: example/tools
    profiles: [debug]
    environment:
      TOOLS_TOKEN: token-1
`))
	_, r := detect(t, LoadOptions{WorkingDir: dir.Path()})
	assert.Check(t, is.Len(r.Findings, 1))
	assert.Check(t, is.DeepEqual(r.Warnings, []string{`services not checked (their profiles are not active): tools; load with profile "*" to check every service`}))

	for _, opts := range []LoadOptions{
		{WorkingDir: dir.Path(), Profiles: []string{"*"}},
		{WorkingDir: dir.Path(), Environ: []string{"COMPOSE_PROFILES=debug"}},
	} {
		_, r = detect(t, opts)
		assert.Check(t, is.Equal(finding(t, r, "tools", "TOOLS_TOKEN").Action, ActionReport))
		assert.Check(t, is.Len(r.Warnings, 0))
	}
}

func TestSecretNameLength(t *testing.T) {
	long := secretName(strings.Repeat("VERY_LONG_", 10) + "PASSWORD")
	assert.Check(t, len(long) <= 55, long)
	assert.Check(t, !strings.HasSuffix(long, "_"), long)
}
