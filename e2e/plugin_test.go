package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

func TestHelp(t *testing.T) {
	res := docker(t, nil, "vault", "--help")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "Usage:  docker vault"))
	assert.Check(t, is.Contains(res.Stdout(), "version"))

	res = docker(t, nil, "vault")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "Usage:  docker vault"))
}

func TestDockerHelpListsPlugin(t *testing.T) {
	res := docker(t, nil, "--help")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Regexp(`(?m)^\s+vault\*\s+Move secrets out of environment variables`, res.Stdout()))
}

func TestVersion(t *testing.T) {
	res := docker(t, nil, "vault", "version")
	res.Assert(t, icmd.Success)
	out := res.Stdout()
	assert.Check(t, is.Contains(out, "v0.0.0-e2e"))
	assert.Check(t, is.Contains(out, "Git commit: e2e"))
	assert.Check(t, is.Contains(out, "Context:        default"))
	assert.Check(t, is.Contains(out, "Engine version: "+env.testbed["TESTBED_ENGINE_VERSION"]))

	res = docker(t, nil, "vault", "version", "--format", "json")
	res.Assert(t, icmd.Success)
	var v struct {
		Version string
		Commit  string
		Docker  struct{ Context, Endpoint, Version string }
	}
	assert.NilError(t, json.Unmarshal([]byte(res.Stdout()), &v))
	assert.Check(t, is.Equal(v.Version, "v0.0.0-e2e"))
	assert.Check(t, is.Equal(v.Docker.Context, "default"))
	assert.Check(t, is.Equal(v.Docker.Version, env.testbed["TESTBED_ENGINE_VERSION"]))
	assert.Check(t, v.Docker.Endpoint != "")

	res = docker(t, nil, "vault", "version", "--format", "{{.Docker.Version}}")
	res.Assert(t, icmd.Expected{Out: env.testbed["TESTBED_ENGINE_VERSION"]})
}

func TestUnknownContextFails(t *testing.T) {
	res := docker(t, nil, "--context", "nope", "vault", "version")
	assert.Check(t, res.ExitCode != 0)
	assert.Check(t, is.Contains(res.Stderr(), `"nope"`))

	res = docker(t, []string{"DOCKER_CONTEXT=nope"}, "vault", "version")
	assert.Check(t, res.ExitCode != 0)
	assert.Check(t, is.Contains(res.Stderr(), `context "nope" does not exist`))
}

// A context created with `docker context create` is honoured exactly as for
// a built-in command: the plugin reports its name and endpoint, and talks to
// the engine behind it (the same local socket, under another name).
func TestContextReuse(t *testing.T) {
	host := "unix:///var/run/docker.sock"
	if h := strings.TrimSpace(docker(t, nil, "context", "inspect", "default", "--format", "{{.Endpoints.docker.Host}}").Stdout()); h != "" {
		host = h
	}
	docker(t, nil, "context", "create", "vault-e2e", "--docker", "host="+host).Assert(t, icmd.Success)
	t.Cleanup(func() { docker(t, nil, "context", "rm", "-f", "vault-e2e") })

	res := docker(t, nil, "--context", "vault-e2e", "vault", "version", "--format", "{{.Docker.Context}} {{.Docker.Endpoint}} {{.Docker.Version}}")
	res.Assert(t, icmd.Expected{Out: "vault-e2e " + host + " " + env.testbed["TESTBED_ENGINE_VERSION"]})

	// -H wins over the context, as for docker itself; 127.0.0.1:9 refuses.
	res = docker(t, nil, "-H", "tcp://127.0.0.1:9", "vault", "version")
	assert.Check(t, res.ExitCode != 0)
	assert.Check(t, is.Contains(res.Stdout(), "tcp://127.0.0.1:9"))
	assert.Check(t, is.Contains(res.Stderr(), "cannot reach the Docker engine"))
}

func TestUnknownCommandAndFlagFail(t *testing.T) {
	res := docker(t, nil, "vault", "bogus")
	assert.Check(t, res.ExitCode != 0)
	assert.Check(t, is.Contains(res.Stderr(), "unknown command: docker vault bogus"))

	res = docker(t, nil, "vault", "--bogus")
	assert.Check(t, res.ExitCode != 0)
	assert.Check(t, is.Contains(res.Stderr(), "unknown flag: --bogus"))

	res = docker(t, nil, "vault", "version", "extra")
	assert.Check(t, res.ExitCode != 0)
	assert.Check(t, is.Contains(res.Stderr(), "accepts no arguments"))
}
