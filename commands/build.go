package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker-vault/docker-vault/internal/build"
	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli-plugins/manager"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type buildOptions struct {
	vault             vaultOptions
	mappings          []string
	noLeakCheck       bool
	leakCheckVersions int
	compose           bool
	parallel          int
	buildxArgs        []string
	// runner runs the docker CLI child; findPlugin looks a CLI plugin up
	// as the docker CLI does. Tests replace both.
	runner     build.RunFunc
	findPlugin func(name string) (*manager.Plugin, error)
}

// minBuildxVersion is the first buildx whose --secret takes env= sources.
const minBuildxVersion = "v0.8.0"

func newBuildCommand(dockerCLI command.Cli) *cobra.Command {
	return newBuildCommandWith(dockerCLI, runner.Run, func(name string) (*manager.Plugin, error) {
		return manager.GetPlugin(name, dockerCLI, &cobra.Command{})
	})
}

func newBuildCommandWith(dockerCLI command.Cli, run build.RunFunc, findPlugin func(string) (*manager.Plugin, error)) *cobra.Command {
	options := buildOptions{runner: run, findPlugin: findPlugin}
	ours := buildFlags(&options)
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] [BUILDX BUILD OPTIONS] PATH | --compose [-f FILE]... [SERVICE...]",
		Short: "Run docker buildx build with secret mounts filled from Key Vault",
		Long: `Run 'docker buildx build' with every RUN --mount=type=secret id of the Dockerfile filled
from Key Vault. Values reach buildx only through its environment (--secret id=X,env=VAR):
never a file, never argv, never a layer. Every other flag is passed to 'docker buildx build'
unchanged; the build context must be the last argument.

What buildx (or compose) prints passes through a filter that masks every value used
(raw, base64, hex, JSON-escaped) as ***.

When the image ends up in the engine (--load, or no output flag with buildx's docker
driver), it is then searched for every value used and the previous versions of each
secret (raw, hex, base64, JSON-escaped, URL-encoded); a hit fails the command (--no-leak-check skips
this); with --compose, each image compose built with a value is checked. Declare
'ARG DOCKER_VAULT_VERSIONS' before a RUN that uses a secret to re-run it when the
secret rotates.

The flags below are docker vault's; all others go to 'docker buildx build'
(see 'docker buildx build --help').`,
		Args:               cli.RequiresMinArgs(0),
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			rest, help, err := splitBuildArgs(ours, args)
			if err != nil {
				return cli.StatusError{StatusCode: 125, Status: err.Error() + "\nSee 'docker vault build --help'."}
			}
			if help {
				return cmd.Help()
			}
			options.buildxArgs = rest
			if err := options.validate(); err != nil {
				return err
			}
			if options.compose {
				return runComposeBuild(cmd.Context(), dockerCLI, options)
			}
			return runBuild(cmd.Context(), dockerCLI, options)
		},
	}
	cmd.Flags().AddFlagSet(ours)
	return cmd
}

func buildFlags(o *buildOptions) *pflag.FlagSet {
	flags := pflag.NewFlagSet("vault build", pflag.ContinueOnError)
	addVaultFlags(flags, &o.vault)
	flags.StringArrayVar(&o.mappings, "vault-secret", nil, "Map an id: id=ID,name=NAME[,version=V]")
	flags.BoolVar(&o.noLeakCheck, "no-leak-check", false, "Do not search the image for the values")
	flags.IntVar(&o.leakCheckVersions, "leak-check-versions", build.DefaultPreviousVersions, "Old versions to search for too")
	flags.BoolVar(&o.compose, "compose", false, "Build the services of a compose project")
	flags.IntVar(&o.parallel, "vault-parallel", 8, "Key Vault values read at once")
	return flags
}

// validate checks every numeric flag before any work.
func (o buildOptions) validate() error {
	if err := o.vault.validate(); err != nil {
		return err
	}
	switch {
	case o.parallel < 1:
		return fmt.Errorf("invalid --vault-parallel %d: must be 1 or more", o.parallel)
	case o.leakCheckVersions < 0:
		return fmt.Errorf("invalid --leak-check-versions %d: must be 0 or more", o.leakCheckVersions)
	}
	return nil
}

// splitBuildArgs takes docker vault's own flags out of args and leaves the
// rest, in order, for buildx.
func splitBuildArgs(ours *pflag.FlagSet, args []string) (rest []string, help bool, err error) {
	var mine []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if a == "-h" || a == "--help" {
			return nil, true, nil
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		f := ours.Lookup(name)
		if !strings.HasPrefix(a, "--") || f == nil {
			rest = append(rest, a)
			continue
		}
		mine = append(mine, a)
		if !hasValue && f.Value.Type() != "bool" && i+1 < len(args) {
			mine = append(mine, args[i+1])
			i++
		}
	}
	return rest, false, ours.Parse(mine)
}

func runBuild(ctx context.Context, dockerCLI command.Cli, o buildOptions) error {
	bo := build.Options{
		Mappings:          o.mappings,
		LeakCheck:         !o.noLeakCheck,
		LeakCheckVersions: o.leakCheckVersions,
		Parallel:          o.parallel,
		CheckBuildx: func() error {
			_, err := findBuildx(o.findPlugin)
			return err
		},
	}
	return buildStatus(build.Buildx(ctx, buildEnv(dockerCLI, o), bo, o.buildxArgs))
}

func runComposeBuild(ctx context.Context, dockerCLI command.Cli, o buildOptions) error {
	ca, err := build.ParseComposeArgs(o.buildxArgs)
	if err != nil {
		return err
	}
	project := projectOptions{files: ca.Files, projectDir: ca.ProjectDir, envFiles: ca.EnvFiles, profiles: ca.Profiles, name: ca.Name}
	p, err := project.load(ctx)
	if err != nil {
		return err
	}
	bo := build.Options{LeakCheck: !o.noLeakCheck, LeakCheckVersions: o.leakCheckVersions, Parallel: o.parallel}
	return buildStatus(build.Compose(ctx, buildEnv(dockerCLI, o), bo, p, ca))
}

func buildEnv(dockerCLI command.Cli, o buildOptions) build.Env {
	return build.Env{
		Docker:     dockerBinary(),
		GlobalArgs: globalArgs(),
		Environ:    os.Environ(),
		Run:        o.runner,
		Stdin:      dockerCLI.In(),
		Stdout:     dockerCLI.Out(),
		Stderr:     dockerCLI.Err(),
		Images:     dockerCLI.Client(),
		OpenVault:  o.vault.open,
		Timeout:    o.vault.withTimeout,
	}
}

// buildStatus gives the child's exit code and a failed leak check the
// plugin's exit status.
func buildStatus(err error) error {
	var leak *build.LeakError
	if errors.As(err, &leak) {
		return cli.StatusError{StatusCode: 1, Status: leak.Error()}
	}
	return childStatus(err)
}

// findBuildx finds buildx the way the docker CLI finds plugins.
func findBuildx(findPlugin func(string) (*manager.Plugin, error)) (string, error) {
	p, err := findPlugin("buildx")
	if cerrdefs.IsNotFound(err) {
		return "", errors.New("docker buildx is not installed: install the docker-buildx-plugin package, or put a docker-buildx binary in ~/.docker/cli-plugins (https://github.com/docker/buildx#installing)")
	}
	if err != nil {
		return "", fmt.Errorf("failed to look up docker buildx: %w", err)
	}
	if p.Err != nil {
		return "", fmt.Errorf("docker buildx at %s is not usable: %w", p.Path, p.Err)
	}
	if versionLess(p.Version, minBuildxVersion) {
		return "", fmt.Errorf("docker buildx %s at %s is too old (need %s or later for --secret env= sources): upgrade the docker-buildx-plugin package, or put a newer docker-buildx binary in ~/.docker/cli-plugins (https://github.com/docker/buildx#installing)", p.Version, p.Path, minBuildxVersion)
	}
	return p.Path, nil
}

// versionLess compares vMAJOR.MINOR.PATCH versions; anything unparsable is
// taken as new enough (development builds).
func versionLess(a, b string) bool {
	pa, oka := semver(a)
	pb, okb := semver(b)
	if !oka || !okb {
		return false
	}
	for i := range pa {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

func semver(v string) ([3]int, bool) {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+ "); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n := 0
		for _, r := range p {
			if r < '0' || r > '9' {
				return out, false
			}
			n = n*10 + int(r-'0')
		}
		out[i] = n
	}
	return out, true
}
