package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// anchorBombs are the alias shapes no compose loader can expand, and
// where each is reported. compose-go needs seconds to refuse the first;
// every command that loads a project refuses both first, with one line
// that names the place.
func anchorBombs() []struct{ name, content, want string } {
	var bomb strings.Builder
	bomb.WriteString("x-l0: &l0 [lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&bomb, "x-l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	bomb.WriteString("services:\n  web:\n    image: x\n    labels:\n      bomb: *l9\n")
	return []struct{ name, content, want string }{
		{"self merge", "services:\n  web: &w\n    image: x\n    <<: *w\n", "compose.yaml:4:9: an alias refers to the anchor that contains it"},
		{"billion laughs", bomb.String(), "compose.yaml:15:13: aliases expand to about"},
	}
}

func TestAnchorBombsFailCleanly(t *testing.T) {
	useSyncEmulator(t, nil)
	pluginArgs(t)
	buildxDir := fakeBuildxPlugin(t, "v0.38.2")
	for _, tc := range anchorBombs() {
		dir := t.TempDir()
		compose := filepath.Join(dir, "compose.yaml")
		assert.NilError(t, os.WriteFile(compose, []byte(tc.content), 0o600))
		for _, args := range [][]string{
			{"migrate", "-f", compose},
			{"sync", "--dry-run", "-f", compose},
			{"ls", "-f", compose},
			{"build", "--compose", "--no-leak-check", "-f", compose},
		} {
			out, err := runLeakStep(t, &fakeClient{}, buildxDir, nil, args)
			where := fmt.Sprintf("%s: %q", tc.name, args[:len(args)-2])
			assert.Assert(t, err != nil, "%s: succeeded: %s", where, out)
			assert.Check(t, is.Contains(err.Error(), tc.want), where)
			assert.Check(t, !strings.Contains(err.Error(), "\n"), "%s: more than one line: %s", where, err)
			assert.Check(t, !strings.Contains(out, "goroutine "), "%s: a Go stack: %s", where, out)
		}
	}
}
