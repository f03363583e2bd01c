package migrate

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// wrapperValues are values a wrapper must hand over byte for byte.
var wrapperValues = map[string]string{
	"NEWLINES":   "first line\nsecond line",
	"TRAILING":   "ends with newlines\n\n",
	"ONLY_NL":    "\n",
	"QUOTES":     `it's a "quoted" value`,
	"DOLLARS":    "$HOME ${PATH} $(id -u) `id` $$ $1 $@",
	"BACKSLASH":  `back\slash\\ and \n not a newline\`,
	"SPACES":     "  leading and trailing  ",
	"GLOB":       "* ? [a-z] ~",
	"EMPTY":      "",
	"TRAILING_X": "value ending in x",
	"PEM": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n" +
		"VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n-----END PRIVATE KEY-----\n",
}

// runWrapper runs the wrapper script for vars (secret files in dir) with
// the host's /bin/sh, wrapping args, and returns the child's environment
// (NUL separated, as env -0 prints it) and the error.
func runWrapper(t *testing.T, dir string, vars map[string]string, args ...string) (map[string]string, []byte, error) {
	t.Helper()
	return runWrapperWith(t, []string{"/bin/sh"}, dir, vars, args...)
}

// runWrapperWith is runWrapper with another shell (busybox sh, the shell
// of most small images).
func runWrapperWith(t *testing.T, shell []string, dir string, vars map[string]string, args ...string) (map[string]string, []byte, error) {
	t.Helper()
	script := wrapperScriptIn(dir, vars)
	cmd := exec.Command(shell[0], append(append(shell[1:], "-c", script, "sh"), args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	env := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env, append(out, stderr.Bytes()...), err
}

func writeSecretFiles(t *testing.T, values map[string]string) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	vars := map[string]string{}
	for v, value := range values {
		name := strings.ToLower(v) + "_secret"
		assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(value), 0o600))
		vars[v] = name
	}
	return dir, vars
}

// TestWrapperScriptExportsByteForByte runs the script with the host's
// /bin/sh: every variable reaches the child exactly as its file holds it.
// Failure messages name variables, never values.
func TestWrapperScriptExportsByteForByte(t *testing.T) {
	dir, vars := writeSecretFiles(t, wrapperValues)
	shells := [][]string{{"/bin/sh"}}
	if bb, err := exec.LookPath("busybox"); err == nil {
		shells = append(shells, []string{bb, "sh"})
	}
	for _, sh := range shells {
		env, _, err := runWrapperWith(t, sh, dir, vars, "env", "-0")
		assert.NilError(t, err, sh)
		for v, want := range wrapperValues {
			got, ok := env[v]
			assert.Check(t, ok, "%v: %s is not exported", sh, v)
			assert.Check(t, got == want, "%v: %s differs from its file (%d bytes, want %d)", sh, v, len(got), len(want))
		}
	}
}

// TestWrapperScriptPassesArguments: the wrapped command gets its words as
// they are: spaces, quotes, $ and empty words, no expansion.
func TestWrapperScriptPassesArguments(t *testing.T) {
	dir, vars := writeSecretFiles(t, map[string]string{"A": "a"})
	words := []string{"one word", "", `"q"`, "$HOME", "*", "back\\slash", "line\nbreak"}
	cmd := exec.Command("/bin/sh", append([]string{"-c", wrapperScriptIn(dir, vars), "sh", "printf", `%s\000`}, words...)...)
	out, err := cmd.Output()
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"), words))
}

// TestWrapperScriptFailsWithoutTheFile: a missing secret file stops the
// container before the wrapped command runs, rather than starting it with
// an empty password.
func TestWrapperScriptFailsWithoutTheFile(t *testing.T) {
	dir, vars := writeSecretFiles(t, map[string]string{"A": "a", "B": "b"})
	assert.NilError(t, os.Remove(filepath.Join(dir, vars["B"])))
	marker := filepath.Join(t.TempDir(), "ran")
	_, _, err := runWrapper(t, dir, vars, "touch", marker)
	assert.Check(t, err != nil, "the wrapper succeeded without the secret file")
	_, statErr := os.Stat(marker)
	assert.Check(t, os.IsNotExist(statErr), "the wrapped command ran")
}

// TestWrapperScriptExitStatus: the wrapper is replaced by the command
// (exec), whose status is the container's.
func TestWrapperScriptExitStatus(t *testing.T) {
	dir, vars := writeSecretFiles(t, map[string]string{"A": "a"})
	_, _, err := runWrapper(t, dir, vars, "sh", "-c", "exit 7")
	var ee *exec.ExitError
	assert.Assert(t, errorsAs(err, &ee), "%v", err)
	assert.Check(t, is.Equal(ee.ExitCode(), 7))
}

// TestWrapperScriptText pins the form: variables sorted, the /run/secrets
// paths, exec "$@".
func TestWrapperScriptText(t *testing.T) {
	got := WrapperScript(map[string]string{"B_TOKEN": "b_token", "A_PASSWORD": "a_pw"})
	want := `set -e; A_PASSWORD=$(cat /run/secrets/a_pw && printf x); A_PASSWORD=${A_PASSWORD%x}; export A_PASSWORD; ` +
		`B_TOKEN=$(cat /run/secrets/b_token && printf x); B_TOKEN=${B_TOKEN%x}; export B_TOKEN; exec "$@"`
	assert.Check(t, is.Equal(got, want))
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
