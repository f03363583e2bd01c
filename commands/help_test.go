package commands

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
)

// pluginHelp is what `docker vault ARGS... --help` prints: the plugin run
// in process through plugin.RunPlugin, as plugin.Run runs it, so the help
// comes from docker's own templates and wrapping. Standard input is
// /dev/null meanwhile: docker wraps the flags to the width of a terminal
// on fd 0, and a golden file must not depend on the terminal a test runs in
// (without one, docker uses 80 columns).
func pluginHelp(t *testing.T, args ...string) string {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	for _, k := range []string{"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_VAULT_URL", metadata.ReexecEnvvar} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	devNull, err := os.Open(os.DevNull)
	assert.NilError(t, err)
	defer devNull.Close()
	saved, err := unix.Dup(0)
	assert.NilError(t, err)
	assert.NilError(t, unix.Dup2(int(devNull.Fd()), 0))
	defer func() {
		_ = unix.Dup2(saved, 0)
		_ = unix.Close(saved)
	}()

	savedArgs := os.Args
	os.Args = append([]string{"docker-vault", "vault"}, args...)
	defer func() { os.Args = savedArgs }()

	var out bytes.Buffer
	dockerCLI, err := command.NewDockerCli(command.WithCombinedStreams(&out))
	assert.NilError(t, err)
	err = plugin.RunPlugin(dockerCLI, NewRootCmd(dockerCLI), metadata.Metadata{SchemaVersion: "0.1.0", Vendor: "docker vault authors"})
	assert.NilError(t, err, "%q printed %s", args, out.String())
	return out.String()
}

// helpCommands are the path (below `vault`) of every command a user can
// call, the root first.
func helpCommands(t *testing.T) [][]string {
	t.Helper()
	dockerCLI, _ := newTestCLI(t, &fakeClient{})
	var paths [][]string
	var walk func(cmd *cobra.Command, path []string)
	walk = func(cmd *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, c := range cmd.Commands() {
			if c.IsAvailableCommand() {
				walk(c, append(append([]string(nil), path...), c.Name()))
			}
		}
	}
	walk(NewRootCmd(dockerCLI), nil)
	return paths
}

// flagLine is one flag in docker's layout, as in `docker secret create
// --help`: "  -d, --driver string            Secret driver".
var flagLine = regexp.MustCompile(`^(  -[a-zA-Z], |      )--[a-z0-9][a-z0-9-]*( [a-zA-Z]+)?  +\S`)

// TestHelpGolden checks the help of every command against
// testdata/help/*.golden (regenerate with `go test ./commands -run
// TestHelpGolden -update` and read the diff) and against docker's layout:
// one line per flag, booleans without "[=true|false]".
func TestHelpGolden(t *testing.T) {
	paths := helpCommands(t)
	for _, want := range []string{"version", "ls", "migrate", "sync", "deploy", "build", "push", "set"} {
		found := false
		for _, p := range paths {
			found = found || (len(p) == 1 && p[0] == want)
		}
		assert.Check(t, found, "no command %s in the tree", want)
	}
	for _, path := range paths {
		name := strings.Join(append([]string{"vault"}, path...), "-")
		t.Run(name, func(t *testing.T) {
			out := pluginHelp(t, append(path, "--help")...)
			golden.Assert(t, out, "help/"+name+".golden")
			assert.Check(t, is.DeepEqual(layoutProblems(out), []string(nil)))
		})
	}
}

// layoutProblems checks a help text against the layout of docker's own
// commands: a "Usage:  docker ..." line, and in the Options section one line
// per flag, no wider than docker's 80 columns, with no boolean spelt
// "[=true|false]". It returns what is wrong, nothing when all is well.
func layoutProblems(out string) []string {
	var problems []string
	if !strings.HasPrefix(strings.TrimLeft(out, "\n"), "Usage:  docker ") {
		problems = append(problems, "no docker usage line")
	}
	if strings.Contains(out, "[=true|false]") {
		problems = append(problems, "a boolean spelt [=true|false]")
	}
	inOptions, flags, formatFlag := false, 0, false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") && len(line) > 80 {
			// a command in the Commands: list, as `docker --help` keeps
			// them: one line within 80 columns
			problems = append(problems, fmt.Sprintf("wider than 80 columns: %q", line))
		}
		switch {
		case line == "Options:":
			inOptions = true
			continue
		case line == "" || !strings.HasPrefix(line, " "):
			inOptions = false
		}
		if !inOptions {
			continue
		}
		if len(line) > 79 {
			problems = append(problems, fmt.Sprintf("wider than 80 columns: %q", line))
		}
		if flagLine.MatchString(line) {
			flags++
			// docker's own --format help (flags.FormatHelp) is the one
			// usage docker itself spreads over lines, as `docker secret
			// ls --help` shows: its lines are accepted as they are.
			formatFlag = strings.Contains(line, "--format string") && strings.HasSuffix(line, "   Format output using a custom template:")
			continue
		}
		if !formatFlag {
			problems = append(problems, fmt.Sprintf("not one flag on one line: %q", line))
		}
	}
	if strings.Contains(out, "\nOptions:\n") && flags == 0 {
		problems = append(problems, "an empty Options section")
	}
	return problems
}

// TestHelpLayoutCheck makes sure layoutProblems accepts docker's own help
// and catches the layouts it exists to catch.
func TestHelpLayoutCheck(t *testing.T) {
	const secretCreate = `Usage:  docker secret create [OPTIONS] SECRET [file|-]

Create a secret from a file or STDIN as content

Options:
  -d, --driver string            Secret driver
  -l, --label list               Secret labels
      --template-driver string   Template driver
`
	assert.Check(t, is.Len(layoutProblems(secretCreate), 0))
	// docker secret ls --help: docker's own --format help takes many lines.
	secretLs := "Usage:  docker secret ls [OPTIONS]\n\nList secrets\n\nOptions:\n" +
		"  -f, --filter filter   Filter output based on conditions provided\n" +
		"      --format string   Format output using a custom template:\n" +
		"                        'table':            Print output in table format\n" +
		"                        with column headers (default)\n" +
		"  -q, --quiet           Only display IDs\n"
	assert.Check(t, is.Len(layoutProblems(secretLs), 0))
	for _, bad := range []string{
		"Usage:  docker vault x\n\nOptions:\n      --adopt[=true|false]   Move services\n",
		"Usage:  docker vault x\n\nOptions:\n      --adopt                Move services off\n                             unmanaged swarm secrets\n",
		"Usage:  docker vault x\n\nOptions:\n      --adopt\n                Move services off unmanaged swarm secrets\n",
		"Usage:  docker vault x\n\nOptions:\n      --adopt   " + strings.Repeat("x", 70) + "\n",
		"Usage: vault x [flags]\n",
		"Usage:  docker vault COMMAND\n\nCommands:\n  sync        " + strings.Repeat("x", 70) + "\n",
		// only docker's format help may take more than a line
		"Usage:  docker vault x\n\nOptions:\n      --format string   Print the plan as 'json' or\n                        a template\n",
	} {
		assert.Check(t, len(layoutProblems(bad)) > 0, "passed: %q", bad)
	}
}

// TestComposeFileFlags checks that every command reading a compose file
// takes both -f/--file (docker compose) and -c/--compose-file (docker stack
// deploy) into one list, in the order given, and shows one of them in help:
// -c for deploy, -f for the others.
func TestComposeFileFlags(t *testing.T) {
	dockerCLI, _ := newTestCLI(t, &fakeClient{})
	readers := 0
	for _, cmd := range NewRootCmd(dockerCLI).Commands() {
		flags := cmd.Flags()
		if flags.Lookup("project-directory") == nil || cmd.DisableFlagParsing {
			// set's -f is its value's file; build --compose hands its
			// flags to docker compose.
			continue
		}
		readers++
		t.Run(cmd.Name(), func(t *testing.T) {
			file, composeFile := flags.Lookup("file"), flags.Lookup("compose-file")
			assert.Assert(t, file != nil && composeFile != nil)
			assert.Check(t, is.Equal(file.Shorthand, "f"))
			assert.Check(t, is.Equal(composeFile.Shorthand, "c"))
			assert.Check(t, file.Value == composeFile.Value, "two lists")
			wantShown := "file"
			if cmd.Name() == "deploy" {
				wantShown = "compose-file"
			}
			assert.Check(t, is.Equal(file.Hidden, wantShown != "file"))
			assert.Check(t, is.Equal(composeFile.Hidden, wantShown != "compose-file"))

			assert.NilError(t, flags.Parse([]string{"-f", "a.yaml", "-c", "b.yaml", "--compose-file=c.yaml", "--file", "d.yaml", "-cE.yaml"}))
			got := file.Value.(interface{ GetSlice() []string }).GetSlice()
			assert.Check(t, is.DeepEqual(got, []string{"a.yaml", "b.yaml", "c.yaml", "d.yaml", "E.yaml"}))
			assert.Check(t, file.Changed || composeFile.Changed)
		})
	}
	assert.Check(t, readers >= 5, "commands reading a compose file: %d", readers)
}

// TestChallengeFlagHidden: the long --disable-challenge-resource-verification
// is taken by every command with --vault but left out of help, where it
// alone would widen the usage column past docker's.
func TestChallengeFlagHidden(t *testing.T) {
	dockerCLI, _ := newTestCLI(t, &fakeClient{})
	n := 0
	for _, cmd := range NewRootCmd(dockerCLI).Commands() {
		if cmd.Flags().Lookup("vault") == nil {
			continue
		}
		n++
		f := cmd.Flags().Lookup("disable-challenge-resource-verification")
		assert.Assert(t, f != nil, cmd.Name())
		assert.Check(t, f.Hidden, cmd.Name())
		if !cmd.DisableFlagParsing {
			assert.Check(t, cmd.Flags().Parse([]string{"--disable-challenge-resource-verification"}), cmd.Name())
			assert.Check(t, f.Changed, cmd.Name())
		}
	}
	assert.Check(t, n >= 6, "commands with --vault: %d", n)
}

// TestComposeFileFlagsLoad runs migrate on two compose files, one given
// with -c and one with -f: both are read, as docker compose reads several
// -f files.
func TestComposeFileFlagsLoad(t *testing.T) {
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "one.yaml"),
		[]byte("services:\n  alpha:\n    image: myorg/a:1\n    environment:\n      API_TOKEN: Flag-Tok-Value-5361\n"), 0o644))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "two.yaml"),
		[]byte("services:\n  bravo:\n    image: myorg/b:1\n    environment:\n      DB_PASSWORD: Flag-Pw-Value-7731\n"), 0o644))
	values := map[string]string{"token": "Flag-Tok-Value-5361", "password": "Flag-Pw-Value-7731"}
	for _, args := range [][]string{
		{"-c", filepath.Join(dir, "one.yaml"), "-f", filepath.Join(dir, "two.yaml")},
		{"--file", filepath.Join(dir, "one.yaml"), "--compose-file", filepath.Join(dir, "two.yaml")},
	} {
		out, err := runCommand(t, newMigrateCommand, values, append([]string{"--dry-run", "--pull=never"}, args...)...)
		assert.NilError(t, err, out)
		assert.Check(t, is.Contains(out, "API_TOKEN"), "%q", args)
		assert.Check(t, is.Contains(out, "DB_PASSWORD"), "%q", args)
	}
}
