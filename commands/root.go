// Package commands is the CLI layer of docker vault: one file per command,
// each mapping flags into an options struct and calling a run function. The
// work itself lives in the domain packages.
package commands

import (
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// NewRootCmd returns the `docker vault` command tree.
func NewRootCmd(dockerCLI command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vault",
		Short: "Docker secrets backed by Azure Key Vault",
		Long: `Move secrets out of environment variables into Docker secrets whose values live
in Azure Key Vault, and keep them in sync.`,
		// A plugin's root accepts any argument by default and prints help
		// with exit 0 for an unknown subcommand: make that an error.
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := plugin.PersistentPreRunE(cmd, args); err != nil {
				return err
			}
			return checkContext(dockerCLI)
		},
		SilenceUsage:          true,
		DisableFlagsInUseLine: true,
	}
	cmd.AddCommand(
		newVersionCommand(dockerCLI),
		newLsCommand(dockerCLI),
		newMigrateCommand(dockerCLI),
		newSyncCommand(dockerCLI),
		newDeployCommand(dockerCLI),
		newBuildCommand(dockerCLI),
		newPushCommand(dockerCLI), newSetCommand(dockerCLI),
		newScanCommand(dockerCLI),
		newStatusCommand(dockerCLI),
		newRunCommand(dockerCLI), newUpCommand(dockerCLI), newComposeCommand(dockerCLI),
	)
	registerCompletions(cmd, dockerCLI)
	return cmd
}
