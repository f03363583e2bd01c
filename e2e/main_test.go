// Package e2e drives the real `docker` binary, with the freshly built plugin
// installed in a temporary config folder, against the real engine of the
// test bed (scripts/testbed.sh, run by `make test`).
package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/icmd"
)

// env is the test bed's description (TESTBED_* from scripts/testbed.sh) plus
// what TestMain set up.
var env struct {
	repoRoot   string
	pluginPath string
	configDir  string
	baseImage  string
	testbed    map[string]string
}

func TestMain(m *testing.M) {
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	if code >= 0 {
		os.Exit(code)
	}
	code = m.Run()
	os.RemoveAll(filepath.Dir(env.pluginPath))
	os.Exit(code)
}

func setup() (int, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return 0, err
	}
	env.repoRoot = root
	tb, err := readTestbed()
	if err != nil {
		return 0, err
	}
	env.testbed = tb
	env.baseImage = tb["TESTBED_BASE_IMAGE"]

	tmp, err := os.MkdirTemp("", "docker-vault-e2e-")
	if err != nil {
		return 0, err
	}
	pluginDir := filepath.Join(tmp, "plugins")
	env.pluginPath = filepath.Join(pluginDir, "docker-vault")
	build := exec.Command("go", "build", "-o", env.pluginPath,
		"-ldflags", "-X github.com/docker-vault/docker-vault/internal/version.Version=v0.0.0-e2e -X github.com/docker-vault/docker-vault/internal/version.Commit=e2e",
		"./plugin")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return 0, fmt.Errorf("building the plugin: %w", err)
	}
	env.configDir = filepath.Join(tmp, "config")
	if err := writeDockerConfig(env.configDir, pluginDir, tb["TESTBED_PLUGINS_DIR"]); err != nil {
		return 0, err
	}
	return -1, nil
}

// readTestbed reads the KEY=VALUE file scripts/testbed.sh writes. A missing
// test bed is an error, never a skip: `make test` builds it first.
func readTestbed() (map[string]string, error) {
	dir := os.Getenv("TESTBED_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(cache, "docker-vault-testbed")
	}
	f, err := os.Open(filepath.Join(dir, "env"))
	if err != nil {
		return nil, fmt.Errorf("the test bed is not set up (run `make testbed` or `make test`): %w", err)
	}
	defer f.Close()
	tb := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			tb[k] = v
		}
	}
	for _, k := range []string{"TESTBED_PLUGINS_DIR", "TESTBED_BASE_IMAGE", "TESTBED_ENGINE_VERSION"} {
		if tb[k] == "" {
			return nil, fmt.Errorf("the test bed's env file lacks %s: run `make testbed`", k)
		}
	}
	return tb, sc.Err()
}

func writeDockerConfig(dir string, pluginDirs ...string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(map[string]any{"cliPluginsExtraDirs": pluginDirs})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
}

// docker runs the real docker CLI with the test config folder. extraEnv
// entries (KEY=VALUE) are added to the environment.
func docker(t *testing.T, extraEnv []string, args ...string) *icmd.Result {
	t.Helper()
	cmd := icmd.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+env.configDir)
	cmd.Env = append(cmd.Env, extraEnv...)
	return icmd.RunCmd(cmd)
}

// dockerIn is docker with a working directory.
func dockerIn(t *testing.T, dir string, extraEnv []string, args ...string) *icmd.Result {
	t.Helper()
	cmd := icmd.Command("docker", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+env.configDir)
	cmd.Env = append(cmd.Env, extraEnv...)
	return icmd.RunCmd(cmd)
}
