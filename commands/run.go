package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/internal/envrun"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envOptions are the flags of the commands that fill a child's
// environment from Key Vault: run, up and compose.
type envOptions struct {
	vault      vaultOptions
	noOverride bool
	parallel   int
	// run runs the child (runner.Run); tests replace it.
	run func(ctx context.Context, c runner.Cmd) error
}

func addEnvFlags(flags *pflag.FlagSet, o *envOptions) {
	addVaultFlags(flags, &o.vault)
	flags.BoolVar(&o.noOverride, "no-override", false, "Keep the values of variables already set")
	flags.IntVar(&o.parallel, "vault-parallel", 8, "Key Vault values read at once")
}

func (o envOptions) validate() error {
	if err := o.vault.validate(); err != nil {
		return err
	}
	if o.parallel < 1 {
		return fmt.Errorf("invalid --vault-parallel %d: must be 1 or more", o.parallel)
	}
	return nil
}

type runOptions struct {
	project projectOptions
	env     envOptions
	command []string
}

func newRunCommand(dockerCLI command.Cli) *cobra.Command {
	return newRunCommandWith(dockerCLI, runner.Run)
}

func newRunCommandWith(dockerCLI command.Cli, run func(context.Context, runner.Cmd) error) *cobra.Command {
	options := runOptions{env: envOptions{run: run}}
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] -- COMMAND [ARG...]",
		Short: "Run a command with Key Vault values in its environment",
		Long: `Run COMMAND with each compose secret whose source is 'environment: VAR' filled from
Key Vault: VAR=value is added to COMMAND's environment only, never written to disk,
never put in its arguments, never printed. The Key Vault secret is the secret's
x-vault name, or its name with '_' and '.' turned into '-'.

  docker vault run -- docker compose up -d

A variable already set in the environment gets Key Vault's value, unless
--no-override is given; either way a note names it. Signals reach COMMAND, and its
exit status is run's.`,
		Args:                  cli.RequiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			options.command = args
			return runRun(cmd.Context(), dockerCLI, options)
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	addComposeFileFlags(flags, &options.project.files, "file")
	flags.StringVar(&options.project.projectDir, "project-directory", "", "Alternate working directory")
	flags.StringArrayVar(&options.project.envFiles, "env-file", nil, "Specify an alternate environment file")
	flags.StringArrayVar(&options.project.profiles, "profile", nil, "Specify a profile to enable")
	addEnvFlags(flags, &options.env)
	return cmd
}

func runRun(ctx context.Context, dockerCLI command.Cli, o runOptions) error {
	if err := o.env.validate(); err != nil {
		return err
	}
	p, err := o.project.load(ctx)
	if err != nil {
		return err
	}
	secrets, err := envrun.Environment(p)
	if err != nil {
		return err
	}
	name := o.command[0]
	if len(secrets) == 0 {
		fmt.Fprintf(dockerCLI.Err(), "note: no secret of project %s has a Key Vault-backed 'environment:' source: %s runs with the environment unchanged\n", p.Name, name)
	}
	childEnv, err := fillEnv(ctx, dockerCLI.Err(), p, secrets, o.env, o.command)
	if err != nil {
		return fmt.Errorf("%s was not started: %w", name, err)
	}
	in, out, errOut := childStreams(dockerCLI)
	err = o.env.run(ctx, runner.Cmd{Name: name, Path: name, Args: o.command[1:], Env: childEnv, Stdin: in, Stdout: out, Stderr: errOut})
	return passStatus(err)
}

// fillEnv reads the values of secrets from the project's Key Vault and
// returns the child's environment: the plugin's with them (see
// envrun.Select and envrun.Environ). argv is the child's command line,
// which counts towards the system's limit. Notes go to stderr, names only.
func fillEnv(ctx context.Context, stderr io.Writer, p *types.Project, secrets []envrun.Secret, o envOptions, argv []string) ([]string, error) {
	base := os.Environ()
	read, notes := envrun.Select(secrets, base, o.noOverride)
	for _, n := range notes {
		fmt.Fprintln(stderr, "note:", n)
	}
	var vals []envrun.Value
	if len(read) > 0 {
		projectURL, err := mapping.VaultURL(p)
		if err != nil {
			return nil, err
		}
		store, err := o.vault.open(ctx, projectURL)
		if err != nil {
			return nil, err
		}
		// --timeout bounds the reads, not the child: `compose up` may run
		// for days.
		rctx, cancel := o.vault.withTimeout(ctx)
		vals, err = envrun.Read(rctx, store, read, o.parallel)
		cancel()
		if err != nil {
			return nil, err
		}
		defer envrun.Clear(vals)
	}
	return envrun.Environ(base, vals, argv, envrun.SystemLimits())
}

// childStreams are the streams a child of the plugin gets: the plugin's
// own files when the docker CLI's streams are them, so that the child sees
// the terminal (compose's progress, `docker compose run -it`), the docker
// CLI's streams otherwise (tests).
func childStreams(dockerCLI command.Cli) (io.Reader, io.Writer, io.Writer) {
	var in io.Reader = dockerCLI.In()
	var out, errOut io.Writer = dockerCLI.Out(), dockerCLI.Err()
	if dockerCLI.Out().FD() == os.Stdout.Fd() {
		out = os.Stdout
	}
	if dockerCLI.Err().FD() == os.Stderr.Fd() {
		errOut = os.Stderr
	}
	return in, out, errOut
}

// passStatus makes the child's exit code the plugin's. The docker CLI
// prints a status error's message whatever it is, so it says what
// happened, once: the child has said why.
func passStatus(err error) error {
	var ee *runner.ExitError
	if errors.As(err, &ee) && ee.Code >= 0 {
		return cli.StatusError{StatusCode: ee.Code, Status: fmt.Sprintf("%s exited with status %d", ee.Name, ee.Code)}
	}
	return childStatus(err)
}
