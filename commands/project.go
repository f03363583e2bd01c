package commands

import (
	"context"
	"os"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/compose"
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

// load reads the project the way `docker compose` does (file discovery,
// .env, --env-file, profiles, include and extends), through the same loader
// migrate uses, so that every command sees one project model.
func (o projectOptions) load(ctx context.Context) (*types.Project, error) {
	lo, err := o.loadOptions()
	if err != nil {
		return nil, err
	}
	p, err := compose.Load(ctx, lo)
	if err != nil {
		return nil, err
	}
	return p.Compose, nil
}

// loadOptions are the flags as compose.LoadOptions, relative to the
// working directory, with the process environment.
func (o projectOptions) loadOptions() (compose.LoadOptions, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return compose.LoadOptions{}, err
	}
	return compose.LoadOptions{
		Files:       o.files,
		ProjectDir:  o.projectDir,
		EnvFiles:    o.envFiles,
		Profiles:    o.profiles,
		ProjectName: o.name,
		WorkingDir:  cwd,
		Environ:     os.Environ(),
	}, nil
}
