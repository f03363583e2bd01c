package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/docker-vault/docker-vault/internal/composecli"
	"github.com/docker-vault/docker-vault/internal/envrun"
	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// composeOptions are a `docker vault compose` (or `up`) command line,
// sorted: docker vault's flags and the project's, the other global flags
// of docker compose, the compose command and its arguments.
type composeOptions struct {
	project projectOptions
	env     envOptions
	dryRun  bool
	global  []string // docker compose's global flags other than the project's
	command string   // up, build, create, run or start
	args    []string // the command's flags and arguments, unchanged
}

// composeCommands are the compose commands that create or start
// containers or build images, and so read secrets: the others need no
// value, and run as they are without docker vault.
var composeCommands = []string{"build", "create", "run", "start", "up"}

const composeLong = `The flags below are docker vault's. -f, -p, --profile, --project-directory and
--env-file are docker compose's project flags: docker vault reads the project with
them and hands them on. --dry-run is docker vault's: it prints the docker compose
command line and the override, and stops, reading no value.`

func newComposeCommand(dockerCLI command.Cli) *cobra.Command {
	return newComposeCommandWith(dockerCLI, runner.Run)
}

func newComposeCommandWith(dockerCLI command.Cli, run func(context.Context, runner.Cmd) error) *cobra.Command {
	options := composeOptions{env: envOptions{run: run}}
	ours := composeFlags(&options)
	cmd := &cobra.Command{
		Use:   "compose [OPTIONS] COMMAND [ARGS...]",
		Short: "Run docker compose build, run or up with secrets from Key Vault",
		Long: `Run 'docker compose COMMAND' (build, create, run, start or up) with the project's
compose files plus an override, given on standard input (-f -), that turns every
Key Vault-mapped secret (external ones, Key Vault-backed file ones) into one compose
reads from a variable ('environment: VAR'). The values are set in docker compose's
environment only: compose copies them into each container's /run/secrets, and no
value is written to the host. ARGS go to 'docker compose COMMAND' unchanged; the
options go before COMMAND.

` + composeLong,
		Args:                  cli.RequiresMinArgs(0),
		DisableFlagsInUseLine: true,
		DisableFlagParsing:    true,
		RunE: func(cmd *cobra.Command, args []string) error {
			rest, help, err := splitComposeArgs(ours, args, &options, true)
			if err != nil {
				return cli.StatusError{StatusCode: 125, Status: err.Error() + "\nSee 'docker vault compose --help'."}
			}
			if help {
				return cmd.Help()
			}
			if len(rest) == 0 {
				return cli.StatusError{StatusCode: 125, Status: "docker vault compose needs a command: " + strings.Join(composeCommands, ", ") + "\nSee 'docker vault compose --help'."}
			}
			options.command, options.args = rest[0], rest[1:]
			if !slices.Contains(composeCommands, options.command) {
				return fmt.Errorf("docker vault compose runs %s, the commands that read secrets: run `docker compose %s` without docker vault", strings.Join(composeCommands, ", "), options.command)
			}
			return runCompose(cmd.Context(), dockerCLI, options)
		},
	}
	cmd.Flags().AddFlagSet(ours)
	return cmd
}

// composeFlags are docker vault's flags of compose and up, and the
// project's flags of docker compose.
func composeFlags(o *composeOptions) *pflag.FlagSet {
	flags := pflag.NewFlagSet("vault compose", pflag.ContinueOnError)
	addProjectFlags(flags, &o.project)
	addEnvFlags(flags, &o.env)
	flags.BoolVar(&o.dryRun, "dry-run", false, "Print the override and stop")
	return flags
}

// splitComposeArgs takes docker vault's flags, the project's and docker
// compose's global ones out of args, and returns the rest in order. With
// toCommand (compose), it stops at the first argument that is not a flag:
// the compose command, whose own flags (`run -p 80:80`) are not ours.
// Without (up), every flag is looked at: `docker compose up` has no flag
// of ours.
func splitComposeArgs(ours *pflag.FlagSet, args []string, o *composeOptions, toCommand bool) (rest []string, help bool, err error) {
	var mine []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			if toCommand || a == "--" {
				rest = append(rest, args[i:]...)
				break
			}
			rest = append(rest, a)
			continue
		}
		if a == "-h" || a == "--help" {
			return nil, true, nil
		}
		var f *pflag.Flag
		name, _, hasValue := strings.Cut(a, "=")
		if strings.HasPrefix(a, "--") {
			f = ours.Lookup(strings.TrimPrefix(name, "--"))
		} else {
			f = ours.ShorthandLookup(a[1:2])
			hasValue = len(a) > 2
		}
		switch {
		case f != nil:
			mine = append(mine, a)
			if !hasValue && f.Value.Type() != "bool" {
				if i+1 >= len(args) {
					return nil, false, fmt.Errorf("flag needs an argument: %s", a)
				}
				mine = append(mine, args[i+1])
				i++
			}
		case composecli.GlobalValueFlags[name]:
			o.global = append(o.global, a)
			if !hasValue {
				if i+1 >= len(args) {
					return nil, false, fmt.Errorf("flag needs an argument: %s", a)
				}
				o.global = append(o.global, args[i+1])
				i++
			}
		case composecli.GlobalBoolFlags[name], toCommand:
			// Before the command, any other flag is docker compose's.
			o.global = append(o.global, a)
		default:
			rest = append(rest, a)
		}
	}
	return rest, false, ours.Parse(mine)
}

func runCompose(ctx context.Context, dockerCLI command.Cli, o composeOptions) error {
	if err := o.env.validate(); err != nil {
		return err
	}
	if slices.Contains(o.project.files, "-") {
		return errors.New("docker compose reads docker vault's override on standard input: give the compose file as a file, not -f -")
	}
	p, err := o.project.load(ctx)
	if err != nil {
		return err
	}
	secrets, err := envrun.Mapped(p)
	if err != nil {
		return err
	}
	override, err := envrun.Override(secrets)
	if err != nil {
		return err
	}
	args := composeArgs(p.ComposeFiles, o, override != nil)
	if o.dryRun {
		fmt.Fprintf(dockerCLI.Out(), "would run docker %s\n", strings.Join(args, " "))
		if vars := envrun.Vars(secrets); len(vars) > 0 {
			fmt.Fprintf(dockerCLI.Out(), "with %s set from Key Vault\n", strings.Join(vars, ", "))
		}
		if override != nil {
			fmt.Fprintf(dockerCLI.Out(), "and this override on standard input:\n%s", override)
		}
		return nil
	}
	if len(secrets) == 0 {
		fmt.Fprintf(dockerCLI.Err(), "note: project %s maps no secret to Key Vault: docker compose %s runs with the environment unchanged\n", p.Name, o.command)
	}
	argv := append(globalArgs(), args...)
	childEnv, err := fillEnv(ctx, dockerCLI.Err(), p, secrets, o.env, argv)
	if err != nil {
		return fmt.Errorf("docker compose %s was not started: %w", o.command, err)
	}
	in, out, errOut := childStreams(dockerCLI)
	c := runner.Cmd{Name: "docker compose " + o.command, Path: dockerBinary(), Args: argv, Env: childEnv, Stdin: in, Stdout: out, Stderr: errOut}
	if override != nil {
		c.Stdin = bytes.NewReader(override)
	}
	err = o.env.run(ctx, c)
	if err != nil {
		if users := envrun.UIDGIDUsers(p, secrets); len(users) > 0 {
			fmt.Fprintf(dockerCLI.Err(), "note: %s set uid or gid on a secret filled from Key Vault: compose then has the engine resolve the service's user, which Engine 20.10 looks up in the host's passwd database (\"getent unable to find entry\" for a user only the image knows); without uid and gid the secret is copied root-owned, mode 0444 or the mode set, readable by that user\n", strings.Join(users, ", "))
		}
	}
	return passStatus(err)
}

// composeArgs is the docker compose command line, after the docker CLI's
// own flags: the project's files as compose-go found them (so that the
// override on stdin does not replace the discovery of compose.yaml and its
// compose.override.yaml), the override, the project's other flags as the
// user gave them, compose's other global flags, the command and its
// arguments. The project's name and directory are what a later `docker
// compose ps` or `down` without docker vault finds.
func composeArgs(files []string, o composeOptions, override bool) []string {
	args := []string{"compose"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	if override {
		args = append(args, "-f", "-")
	}
	if o.project.projectDir != "" {
		args = append(args, "--project-directory", o.project.projectDir)
	}
	if o.project.name != "" {
		args = append(args, "--project-name", o.project.name)
	}
	for _, e := range o.project.envFiles {
		args = append(args, "--env-file", e)
	}
	for _, pr := range o.project.profiles {
		args = append(args, "--profile", pr)
	}
	args = append(args, o.global...)
	args = append(args, o.command)
	return append(args, o.args...)
}
