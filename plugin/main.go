package main

import (
	"github.com/docker-vault/docker-vault/commands"
	"github.com/docker-vault/docker-vault/internal/version"
	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli-plugins/plugin"
)

func main() {
	plugin.Run(commands.NewRootCmd, metadata.Metadata{
		SchemaVersion:    "0.1.0",
		Vendor:           "docker vault authors",
		Version:          version.Version,
		ShortDescription: "Move secrets out of environment variables into Docker secrets backed by Azure Key Vault",
		URL:              "https://github.com/docker-vault/docker-vault",
	})
}
