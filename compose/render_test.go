package compose

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/fs"
)

// Every value below is a secret in some position; none may appear in any
// rendering of the project or the report.
var renderSecrets = []string{
	"lit-Zq81-pw", "dotenv-Zq82-pw", "envfile-Zq83-pw", "default-Zq84-pw", "url-Zq85-pw",
	"arg-Zq86-pw", "dockerfile-Zq87-pw", "health-Zq88-pw", "cmd-Zq89-pw", "shell-Zq80-pw",
}

func TestRenderingNeverShowsValues(t *testing.T) {
	dir := fs.NewDir(t, "render",
		fs.WithFile("compose.yaml", `services:
  db:
    image: postgres
    env_file: ./db.env
    environment:
      POSTGRES_PASSWORD: lit-Zq81-pw
      DB_PASSWORD: ${DOTENV_PW}
      DEFAULT_PASSWORD: ${UNSET:-default-Zq84-pw}
      DATABASE_URL: postgres://u:url-Zq85-pw@db/app
      SHELL_TOKEN:
    healthcheck:
      test: ["CMD-SHELL", "check --password health-Zq88-pw"]
    command: ["postgres", "--password=cmd-Zq89-pw"]
  app:
    build:
      context: ./app
      args:
        NPM_TOKEN: arg-Zq86-pw
`),
		fs.WithFile(".env", "DOTENV_PW=dotenv-Zq82-pw\n"),
		fs.WithFile("db.env", "ENVFILE_SECRET=envfile-Zq83-pw\n"),
		fs.WithDir("app", fs.WithFile("Dockerfile", "FROM alpine\nARG API_TOKEN=dockerfile-Zq87-pw\n")))
	p, err := Load(context.Background(), LoadOptions{WorkingDir: dir.Path(), Environ: []string{"SHELL_TOKEN=shell-Zq80-pw"}})
	assert.NilError(t, err)
	r, err := Detect(p, DetectOptions{})
	assert.NilError(t, err)

	// The test is only worth something if every value was found.
	found := map[string]bool{}
	for _, f := range r.Findings {
		found[string(f.Value)] = true
	}
	for _, s := range renderSecrets {
		if s == "url-Zq85-pw" {
			s = "postgres://u:url-Zq85-pw@db/app"
		}
		assert.Check(t, found[s], "no finding holds %q", s)
	}

	var outputs []string
	add := func(what string, s string) { outputs = append(outputs, what+"\n"+s) }
	add("String", r.String())
	var all strings.Builder
	r.WriteTable(&all, true)
	add("WriteTable", all.String())
	for _, v := range []any{r, *r, p, r.Findings, r.Secrets, p.Files, p.EnvFiles, p.Dockerfiles} {
		b, err := json.Marshal(v)
		assert.NilError(t, err)
		add(fmt.Sprintf("json %T", v), string(b))
		add(fmt.Sprintf("%%v %T", v), fmt.Sprintf("%v", v))
		add(fmt.Sprintf("%%+v %T", v), fmt.Sprintf("%+v", v))
		add(fmt.Sprintf("%%#v %T", v), fmt.Sprintf("%#v", v))
	}
	for _, f := range r.Findings {
		add("finding", fmt.Sprintf("%v %+v %#v %s", f, f, f, f.Source))
	}
	// JSON would carry a []byte as base64: look for that too.
	forbidden := append([]string(nil), renderSecrets...)
	for _, f := range r.Findings {
		if len(f.Value) > 0 && f.Verdict == VerdictSecret {
			forbidden = append(forbidden, base64.StdEncoding.EncodeToString(f.Value))
		}
	}
	for _, out := range outputs {
		for _, s := range forbidden {
			assert.Check(t, !strings.Contains(out, s), "value %q rendered by %s", s, strings.SplitN(out, "\n", 2)[0])
		}
	}
	if os.Getenv("COMPOSE_RENDER_DUMP") != "" {
		t.Log(all.String())
	}
}
