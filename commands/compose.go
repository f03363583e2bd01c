package commands

import (
	"errors"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// TODO(owner): placeholder so root.go builds while the command is written.
func newComposeCommand(dockerCLI command.Cli) *cobra.Command {
	_ = dockerCLI
	return &cobra.Command{Use: "compose", Hidden: true, RunE: func(*cobra.Command, []string) error { return errors.New("not yet") }}
}
