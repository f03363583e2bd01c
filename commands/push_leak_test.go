package commands

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
)

// pushLeakCase is one way push, set or migrate's conversion meets a value
// (v) and the vault: what the vault holds first, its faults, and the
// command line, which must fail when wantErr.
type pushLeakCase struct {
	name    string
	file    string // the secret file's content, v when empty
	vault   string // what db-password holds first ("" for nothing)
	faults  kvtest.Faults
	args    []string // push, set or migrate, then its arguments (-f is added)
	stdin   bool     // set reads v from stdin
	wantErr bool
}

func pushLeakCases(v, w string) []pushLeakCase {
	return []pushLeakCase{
		{name: "push conflict", vault: w, args: []string{"push"}, wantErr: true},
		{name: "push dry run conflict", vault: w, args: []string{"push", "--dry-run", "--format", "json"}, wantErr: true},
		{name: "push overwrite", vault: w, args: []string{"push", "--overwrite"}},
		{name: "push unchanged", vault: v, args: []string{"push", "--format", "{{.Secret}} {{.Action}} {{.Reason}}"}},
		{name: "push not UTF-8", file: v + "\xff", args: []string{"push"}, wantErr: true},
		{name: "push forbidden list", faults: kvtest.Faults{Forbidden: []string{"*"}}, args: []string{"push"}, wantErr: true},
		{name: "push forbidden read", vault: w, faults: kvtest.Faults{Forbidden: []string{"db-password"}}, args: []string{"push", "--dry-run"}, wantErr: true},
		{name: "push malformed read", vault: w, faults: kvtest.Faults{Malformed: []string{kvtest.RouteGetSecret}}, args: []string{"push"}, wantErr: true},
		{name: "set conflict", vault: w, stdin: true, args: []string{"set", "db-password"}, wantErr: true},
		{name: "set forbidden", stdin: true, faults: kvtest.Faults{Forbidden: []string{"db-password"}}, args: []string{"set", "--overwrite", "db-password"}, wantErr: true},
		{name: "set", stdin: true, args: []string{"set", "--format", "json", "db-password"}},
		{name: "migrate converts", args: []string{"migrate", "--to", "external", "--push", "--format", "json"}},
		{name: "migrate dry run conflict", vault: w, args: []string{"migrate", "--to", "external", "--push", "--dry-run"}, wantErr: true},
		{name: "migrate conflict", vault: w, args: []string{"migrate", "--to", "external", "--push"}, wantErr: true},
	}
}

// TestPushNoValueLeaks puts random values (every shape leakValue makes)
// through push, set and migrate's conversion of file secrets, on their
// success and failure paths, and checks that no output, error or file left
// behind holds one.
func TestPushNoValueLeaks(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(uint64(seed), 0x9054))
	for i := range 3 {
		v, w := leakValue(r), leakValue(r)
		for _, c := range pushLeakCases(v, w) {
			dir := t.TempDir()
			f := filepath.Join(dir, "compose.yaml")
			assert.NilError(t, os.WriteFile(f, []byte("services:\n  app:\n    image: busybox\n    secrets: [db_password]\nsecrets:\n  db_password:\n    file: ./secrets/db_password\n"), 0o600))
			assert.NilError(t, os.Mkdir(filepath.Join(dir, "secrets"), 0o700))
			content := c.file
			if content == "" {
				content = v
			}
			assert.NilError(t, os.WriteFile(filepath.Join(dir, "secrets", "db_password"), []byte(content), 0o600))
			vault := map[string]string{}
			if c.vault != "" {
				vault["db-password"] = c.vault
			}
			kv := useSyncEmulator(t, vault)
			kv.SetFaults(c.faults)
			before := leakFiles(t, dir)

			var stdin io.ReadCloser = io.NopCloser(strings.NewReader(""))
			if c.stdin {
				stdin = io.NopCloser(strings.NewReader(v))
			}
			t.Setenv("DOCKER_CONFIG", t.TempDir())
			var buf bytes.Buffer
			dockerCLI, err := command.NewDockerCli(command.WithAPIClient(&fakeClient{}), command.WithCombinedStreams(&buf), command.WithInputStream(stdin))
			assert.NilError(t, err)
			assert.NilError(t, dockerCLI.Initialize(flags.NewClientOptions()))
			var cmd *cobra.Command
			args := c.args[1:]
			switch c.args[0] {
			case "push":
				cmd, args = newPushCommand(dockerCLI), append(args, "-f", f)
			case "set":
				cmd = newSetCommand(dockerCLI)
			case "migrate":
				cmd, args = newMigrateCommand(dockerCLI), append(args, "-f", f, "--pull", "never")
			}
			cmd.SetArgs(append(args, "--timeout", "20s"))
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			err = cmd.Execute()
			kv.SetFaults(kvtest.Faults{})

			where := fmt.Sprintf("run %d, %s", i, c.name)
			if c.wantErr != (err != nil) {
				t.Errorf("%s: error %v, want an error: %t\n%s", where, err, c.wantErr, buf.String())
			}
			msg := ""
			if err != nil {
				msg = err.Error() + "\n" + fmt.Sprintf("%+v", err)
			}
			for _, val := range []string{v, w} {
				for _, n := range needles(val) {
					assert.Check(t, !strings.Contains(buf.String(), n), "%s: the output holds %q:\n%s", where, n, buf.String())
					assert.Check(t, !strings.Contains(msg, n), "%s: the error holds %q: %s", where, n, msg)
				}
			}
			for p, b := range leakFiles(t, dir) {
				if old, ok := before[p]; ok && bytes.Equal(old, b) {
					continue
				}
				for _, n := range append(needles(v), needles(w)...) {
					assert.Check(t, !bytes.Contains(b, []byte(n)), "%s: %s holds %q", where, p, n)
				}
			}
			if t.Failed() {
				t.Fatalf("stopped at %s (seed %d)", where, seed)
			}
		}
	}
}
