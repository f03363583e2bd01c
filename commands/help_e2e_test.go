//go:build e2e

package commands

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
)

// TestHelpThroughDocker runs `docker vault CMD --help` through the real
// docker binary, with the plugin built and installed in a temporary config
// dir, and checks that what a user sees is the golden TestHelpGolden holds:
// the docker CLI passes the plugin's help through unchanged.
func TestHelpThroughDocker(t *testing.T) {
	cfg := t.TempDir()
	plugins := filepath.Join(cfg, "cli-plugins")
	assert.NilError(t, os.MkdirAll(plugins, 0o755))
	build := exec.Command("go", "build", "-o", filepath.Join(plugins, "docker-vault"), "../plugin")
	out, err := build.CombinedOutput()
	assert.NilError(t, err, string(out))

	for _, path := range helpCommands(t) {
		name := strings.Join(append([]string{"vault"}, path...), "-")
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--config", cfg, "vault"}, path...)
			cmd := exec.Command("docker", append(args, "--help")...)
			cmd.Env = append(os.Environ(), "DOCKER_HOST=", "DOCKER_CONTEXT=", "DOCKER_VAULT_URL=")
			out, err := cmd.CombinedOutput() // stdin is /dev/null: 80 columns
			assert.NilError(t, err, string(out))
			golden.Assert(t, string(out), "help/"+name+".golden")
		})
	}
}

// TestHelpLayoutOfDocker: the layout check the goldens pass is one that
// docker's own help passes, read from the docker binary installed here.
func TestHelpLayoutOfDocker(t *testing.T) {
	for _, args := range [][]string{{"secret", "create"}, {"secret", "ls"}, {"secret", "rm"}} {
		cmd := exec.Command("docker", append(args, "--help")...)
		out, err := cmd.CombinedOutput()
		assert.NilError(t, err, string(out))
		assert.Check(t, is.DeepEqual(layoutProblems(string(out)), []string(nil)), "docker %s --help", strings.Join(args, " "))
	}
}
