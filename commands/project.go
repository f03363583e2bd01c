package commands

import (
	"context"
	"os"
	"strings"

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
	addComposeFileFlags(flags, &o.files, "file")
	flags.StringVar(&o.projectDir, "project-directory", "", "Alternate working directory")
	flags.StringArrayVar(&o.envFiles, "env-file", nil, "Specify an alternate environment file")
	flags.StringArrayVar(&o.profiles, "profile", nil, "Specify a profile to enable")
	flags.StringVarP(&o.name, "project-name", "p", "", "Project name")
}

// addComposeFileFlags registers both spellings of the compose file flag on
// one list: -f/--file as `docker compose` names it and -c/--compose-file as
// `docker stack deploy` does, so a user coming from either is understood by
// every command that reads a compose file. Help shows only the spelling
// named by shown, the command's own family ("file" for the compose-style
// commands, "compose-file" for deploy): two lines for one list would read as
// two options. Both share one Value, so `-f a.yaml -c b.yaml` keeps both
// files, in order.
func addComposeFileFlags(flags *pflag.FlagSet, files *[]string, shown string) {
	v := (*composeFiles)(files)
	flags.VarP(v, "file", "f", "Compose configuration files")
	flags.VarP(v, "compose-file", "c", "Path to a Compose file")
	for _, name := range []string{"file", "compose-file"} {
		if name != shown {
			_ = flags.MarkHidden(name)
		}
	}
}

// composeFiles is a repeatable string flag like pflag's stringArray, whose
// Value cannot be shared between two flags: each would replace, on its own
// first use, what the other had set.
type composeFiles []string

func (c *composeFiles) Set(v string) error { *c = append(*c, v); return nil }
func (c *composeFiles) Type() string       { return "stringArray" }

// String is empty when no file is given, so help prints no "(default [])".
func (c *composeFiles) String() string {
	if len(*c) == 0 {
		return ""
	}
	return "[" + strings.Join(*c, ",") + "]"
}

func (c *composeFiles) Append(v string) error    { return c.Set(v) }
func (c *composeFiles) Replace(v []string) error { *c = append([]string(nil), v...); return nil }
func (c *composeFiles) GetSlice() []string       { return *c }

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
