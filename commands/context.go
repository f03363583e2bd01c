package commands

import (
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/cli/cli/command"
)

// checkContext fails when the selected Docker context does not exist. The
// docker CLI resolves contexts lazily and only warns about a missing one; a
// plugin that changes state must not carry on against a default it was not
// asked to use.
func checkContext(dockerCLI command.Cli) error {
	name := dockerCLI.CurrentContext()
	if name == "" || name == command.DefaultContextName {
		return nil
	}
	if _, err := dockerCLI.ContextStore().GetMetadata(name); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("context %q does not exist: run `docker context ls` to list contexts, or `docker context use default`", name)
		}
		return fmt.Errorf("failed to load context %q: %w", name, err)
	}
	return nil
}
