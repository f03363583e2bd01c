package compose

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

const copiesCompose = `x-vault:
  exclude:
    - app.IGNORED_COPY
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: Str0ng-pw-1
      POSTGRES_USER: wordpress
      POSTGRES_DB: wordpress
  app:
    image: example/app
    labels:
      com.example.dsn: "postgres://app:Str0ng-pw-1@db/app"
      com.example.plain: Str0ng-pw-1
      com.example.other: nothing-secret
      com.example.owner: Adm1n-2024
    deploy:
      labels:
        - "com.example.token=${API_TOKEN}"
    environment:
      OTHER_THING: Str0ng-pw-1
      PGPASS_COPY: ${DB_PASSWORD}
      INJECTED: ${API_TOKEN}
      IGNORED_COPY: Str0ng-pw-1
      DB_USERNAME: Adm1n-2024
      ANOTHER: Adm1n-2024
      APP_DB: wordpress
      SHORT: pw-1
      PORT: "5432"
  worker:
    image: example/worker
    environment:
      MYSQL_PASSWORD: wordpress
      MYSQL_DATABASE: wordpress
      DB_PASSWORD: ${DB_PASSWORD}
      LEGACY_SETTING: "${DB_PASSWORD}"
      SHORT_PASSWORD: pw-1
      WORKER_PASSWORD: Adm1n-2024
  builder:
    image: example/builder
    build:
      context: .
      dockerfile_inline: "FROM scratch\n"
      args:
        SEED_ARG: Str0ng-pw-1
        OWNER_ARG: Adm1n-2024
        PLAIN_ARG: hello-world-1
`

func TestCopies(t *testing.T) {
	dir := fs.NewDir(t, "copies", fs.WithFile("compose.yaml", copiesCompose),
		fs.WithFile(".env", "DB_PASSWORD=env-Pw-2\nAPI_TOKEN=tok-3-abcdef\n"))
	for _, opts := range []DetectOptions{{}, {Images: map[string]ImageInfo{
		"db": {Image: shellImage("postgres:16", "POSTGRES_PASSWORD")}, "app": {Image: shellImage("example/app")}, "worker": {Image: shellImage("example/worker")}, "builder": {Image: shellImage("example/builder")},
	}}} {
		p, _ := detect(t, LoadOptions{WorkingDir: dir.Path()})
		r, err := Detect(p, opts)
		assert.NilError(t, err)

		// A literal copy shares the original's secret and reason.
		orig := finding(t, r, "db", "POSTGRES_PASSWORD")
		f := finding(t, r, "app", "OTHER_THING")
		assert.Check(t, is.Equal(f.Verdict, VerdictSecret))
		assert.Check(t, is.Contains(f.Reason, "copy of the value of db.POSTGRES_PASSWORD"))
		assert.Check(t, is.Equal(f.SecretName, orig.SecretName))
		assert.Check(t, is.Equal(orig.SecretName, "postgres_password"), "a copy has no vote on the name")
		if opts.Images != nil {
			assert.Check(t, is.Equal(f.Action, ActionMigrate))
			assert.Check(t, is.Equal(f.Via, ViaEntrypoint))
		} else {
			assert.Check(t, is.Equal(f.Action, ActionReport))
		}

		// ${DB_PASSWORD} in another variable is a copy of worker's.
		f = finding(t, r, "app", "PGPASS_COPY")
		assert.Check(t, is.Contains(f.Reason, "copy of the value of worker.DB_PASSWORD"))
		assert.Check(t, is.Equal(f.SecretName, finding(t, r, "worker", "DB_PASSWORD").SecretName))
		assert.Check(t, is.Equal(finding(t, r, "worker", "LEGACY_SETTING").SecretName, f.SecretName))
		// A variable interpolated from a secret-named one, held nowhere
		// else, is a secret by that name.
		f = finding(t, r, "app", "INJECTED")
		assert.Check(t, is.Equal(f.Verdict, VerdictSecret))
		assert.Check(t, is.Contains(f.Reason, "value is ${API_TOKEN}, a secret by its name"))

		// Not copies: excluded, identifiers, values an identifier holds too
		// (a user name chosen as password), weak words, short values.
		for _, v := range []string{"IGNORED_COPY", "DB_USERNAME", "ANOTHER", "APP_DB", "SHORT", "PORT"} {
			assert.Check(t, is.Equal(finding(t, r, "app", v).Verdict, VerdictNotSecret), v)
		}
		assert.Check(t, is.Equal(finding(t, r, "worker", "MYSQL_DATABASE").Verdict, VerdictNotSecret))
		assert.Check(t, is.Equal(finding(t, r, "db", "POSTGRES_DB").Verdict, VerdictNotSecret))

		// A build arg holding a secret's value is reported (image history).
		f = finding(t, r, "builder", "SEED_ARG")
		assert.Check(t, is.Equal(f.Action, ActionReport))
		assert.Check(t, is.Equal(f.SecretName, "postgres_password"))
		assert.Check(t, is.Contains(f.Reason, "copy of the value of db.POSTGRES_PASSWORD; build args are kept in the image history"))
		for _, f := range r.Findings {
			assert.Check(t, f.Variable != "PLAIN_ARG" && f.Variable != "OWNER_ARG", "%s", f)
		}

		// Labels: reported where they are written, linked to the secret.
		f = finding(t, r, "app", "labels.com.example.plain")
		assert.Check(t, is.Equal(f.Source.Kind, SourceLabel))
		assert.Check(t, is.Equal(f.Source.Field, "labels"))
		assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: dir.Join("compose.yaml"), Line: 15, Column: 26}))
		assert.Check(t, is.Equal(f.Action, ActionReport))
		assert.Check(t, !f.Embedded)
		assert.Check(t, is.Equal(f.SecretName, "postgres_password"))
		assert.Check(t, is.Contains(f.Reason, "label com.example.plain holds a copy of the value of db.POSTGRES_PASSWORD: docker inspect shows labels"))
		f = finding(t, r, "app", "labels.com.example.dsn")
		assert.Check(t, f.Embedded)
		assert.Check(t, is.Contains(f.Reason, "contains a copy of the value of db.POSTGRES_PASSWORD"))
		f = finding(t, r, "app", "deploy.labels.com.example.token")
		assert.Check(t, is.Equal(f.Source.Field, "deploy.labels"))
		assert.Check(t, is.DeepEqual(f.Source.Position, Position{File: dir.Join("compose.yaml"), Line: 20, Column: 11}))
		assert.Check(t, is.Contains(f.Reason, "copy of the value of app.INJECTED: docker service inspect shows labels"))
		for _, l := range r.Findings {
			assert.Check(t, l.Variable != "labels.com.example.other" && l.Variable != "labels.com.example.owner", "%s", l)
		}

		// Everything counts: the secret lists every copy.
		for _, s := range r.Secrets {
			if s.Name == "postgres_password" {
				assert.Check(t, is.DeepEqual(s.Users, []string{"db.POSTGRES_PASSWORD", "app.OTHER_THING", "builder.SEED_ARG", "app.labels.com.example.dsn", "app.labels.com.example.plain"}))
			}
		}
		noValue(t, r, "Str0ng-pw-1", "env-Pw-2", "tok-3-abcdef", "Adm1n-2024")
	}
}

func TestCopyable(t *testing.T) {
	for v, want := range map[string]bool{
		"Str0ng-pw-1": true, "changeme123": true, "correcthorsebatterystaple": true, "Wordpress": true,
		"wordpress": false, "somewordpress": false, "12345678": false, "pw-1": false, "true": false,
	} {
		assert.Check(t, is.Equal(copyable(v), want), v)
	}
}
