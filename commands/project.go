package commands

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/pflag"
)

// projectOptions are the compose project flags, named as `docker compose`
// names them.
type projectOptions struct {
	files      []string
	projectDir string
	envFiles   []string
	profiles   []string
	name       string
}

func addProjectFlags(flags *pflag.FlagSet, o *projectOptions) {
	flags.StringArrayVarP(&o.files, "file", "f", nil, "Compose configuration files")
	flags.StringVar(&o.projectDir, "project-directory", "", "Specify an alternate working directory (default: the path of the first Compose file)")
	flags.StringArrayVar(&o.envFiles, "env-file", nil, "Specify an alternate environment file")
	flags.StringArrayVar(&o.profiles, "profile", nil, "Specify a profile to enable")
	flags.StringVarP(&o.name, "project-name", "p", "", "Project name")
}

// load reads the project the way `docker compose` does: file discovery,
// .env, --env-file, profiles, include and extends.
func (o projectOptions) load(ctx context.Context) (*types.Project, error) {
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(o.projectDir),
		cli.WithOsEnv,
		cli.WithEnvFiles(o.envFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithProfiles(o.profiles),
		cli.WithResolvedPaths(true),
	}
	if o.name != "" {
		opts = append(opts, cli.WithName(o.name))
	}
	po, err := cli.NewProjectOptions(o.files, opts...)
	if err != nil {
		return nil, err
	}
	p, err := po.LoadProject(ctx)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("no compose file found: use -f, or run in a folder with compose.yaml: %w", err)
		}
		return nil, err
	}
	return p, nil
}
