package commands

import (
	"context"

	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

func newUpCommand(dockerCLI command.Cli) *cobra.Command {
	return newUpCommandWith(dockerCLI, runner.Run)
}

func newUpCommandWith(dockerCLI command.Cli, run func(context.Context, runner.Cmd) error) *cobra.Command {
	options := composeOptions{env: envOptions{run: run}, command: "up"}
	ours := composeFlags(&options)
	cmd := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Run docker compose up with secrets from Key Vault",
		Long: `Run 'docker compose up' with the project's compose files plus an override, given
on standard input (-f -), that turns every Key Vault-mapped secret (external ones,
Key Vault-backed file ones) into one compose reads from a variable ('environment:
VAR'). The values are set in docker compose's environment only: compose copies them
into each container's /run/secrets, and no value is written to the host. One compose
file serves 'docker vault deploy' on Swarm and 'docker vault up' on one engine;
'docker compose ps', 'logs' and 'down' work on the project without docker vault.

` + composeLong + `

Every other flag goes to 'docker compose up' (see 'docker compose up --help'),
in order, with the services.`,
		Args:                  cli.RequiresMinArgs(0),
		DisableFlagsInUseLine: true,
		DisableFlagParsing:    true,
		RunE: func(cmd *cobra.Command, args []string) error {
			rest, help, err := splitComposeArgs(ours, args, &options, false)
			if err != nil {
				return cli.StatusError{StatusCode: 125, Status: err.Error() + "\nSee 'docker vault up --help'."}
			}
			if help {
				return cmd.Help()
			}
			options.args = rest
			return runCompose(cmd.Context(), dockerCLI, options)
		},
	}
	cmd.Flags().AddFlagSet(ours)
	return cmd
}
