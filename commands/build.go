package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker-vault/docker-vault/internal/build"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/redact"
	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli-plugins/manager"
	"github.com/docker/cli/cli/command"
	"github.com/moby/moby/client"
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
secret (raw, hex, base64, JSON-escaped); a hit fails the command (--no-leak-check skips
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
	flags.StringArrayVar(&o.mappings, "vault-secret", nil, "Map a secret id to a Key Vault secret: id=ID,name=NAME[,version=VERSION]")
	flags.BoolVar(&o.noLeakCheck, "no-leak-check", false, "Do not search the loaded image for the values used")
	flags.IntVar(&o.leakCheckVersions, "leak-check-versions", build.DefaultPreviousVersions, "Previous versions of each secret the leak check also searches for (0: the current value only)")
	flags.BoolVar(&o.compose, "compose", false, "Build a compose project's services, filling their build.secrets")
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
	ba := build.ParseBuildArgs(o.buildxArgs)
	switch {
	case ba.Dockerfile == "-":
		return errors.New("docker vault build reads the Dockerfile to find its secret ids: give it as a file (-f PATH), not on stdin")
	case ba.Dockerfile == "" && ba.Context == "-":
		return errors.New("docker vault build reads the Dockerfile to find its secret ids: with a build context on stdin, give a local copy of the Dockerfile with -f PATH")
	case ba.Dockerfile == "":
		return fmt.Errorf("docker vault build reads the Dockerfile to find its secret ids: the build context %s is remote, give a local copy of the Dockerfile with -f PATH", ba.Context)
	}
	df, err := os.ReadFile(ba.Dockerfile)
	if err != nil {
		return fmt.Errorf("failed to read the Dockerfile: %w", err)
	}
	mounts, err := build.SecretMounts(df, ba.Target)
	if err != nil {
		return fmt.Errorf("%s: %w", ba.Dockerfile, err)
	}
	var mappings []build.Mapping
	for _, s := range o.mappings {
		m, err := build.ParseMapping(s)
		if err != nil {
			return err
		}
		mappings = append(mappings, m)
	}
	if _, err := findBuildx(o.findPlugin); err != nil {
		return err
	}
	// Without an output of the user's the builder decides whether the
	// image lands in the engine (buildx's docker driver loads it): check
	// it whenever it does.
	leakCheck := (ba.Load || !ba.Output) && !o.noLeakCheck
	var secrets, searched []build.Secret
	defer func() {
		for _, s := range searched {
			clear(s.Value)
		}
	}()
	if len(mounts) > 0 {
		store, err := o.vault.open(ctx, "")
		if err != nil {
			return err
		}
		rctx, cancel := o.vault.withTimeout(ctx)
		defer cancel()
		var notes []build.Note
		secrets, notes, err = build.Resolve(rctx, store, mounts, mappings, build.UserSecretIDs(o.buildxArgs), o.parallel)
		printNotes(dockerCLI.Err(), notes)
		if err != nil {
			return fmt.Errorf("no build was started: %w", err)
		}
		searched, err = withPrevious(rctx, dockerCLI.Err(), store, secrets, leakCheck, o)
		if err != nil {
			return fmt.Errorf("no build was started: %w", err)
		}
		cancel()
	}
	declares := build.DeclaresVersionsArg(df)
	if len(secrets) > 0 && !declares {
		fmt.Fprintf(dockerCLI.Err(), "note: declare 'ARG %s' before the RUN steps that use secrets to rebuild them when a secret rotates\n", build.VersionsArg)
	}
	userArgs := o.buildxArgs
	iidFile := ba.IIDFile
	leakCheck = leakCheck && len(secrets) > 0
	if leakCheck && iidFile == "" {
		// The leak check reads the image by the id buildx reports, not by
		// a tag another build could move in the meantime.
		dir, err := os.MkdirTemp("", "docker-vault-build-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		iidFile = filepath.Join(dir, "iid")
		userArgs = append([]string{"--iidfile", iidFile}, userArgs...)
	}
	inv, err := build.Prepare(globalArgs(), userArgs, secrets, os.Environ(), declares && len(secrets) > 0)
	if err != nil {
		return err
	}
	if ba.ToStdout {
		fmt.Fprintln(dockerCLI.Err(), "note: the build result goes to stdout as it is: values are masked only in what buildx prints to stderr, and the leak check does not read it")
	}
	if err := runMasked(ctx, dockerCLI, o.runner, "docker buildx build", inv, searched, !ba.ToStdout); err != nil {
		return childStatus(err)
	}
	if !leakCheck {
		return nil
	}
	b, err := os.ReadFile(iidFile)
	id := strings.TrimSpace(string(b))
	if !ba.Load {
		// A builder that keeps the result to itself may write no id, or
		// one the engine does not know.
		loaded := err == nil && id != ""
		if loaded {
			_, ierr := dockerCLI.Client().ImageInspect(ctx, id)
			if ierr != nil && !cerrdefs.IsNotFound(ierr) {
				return fmt.Errorf("leak check: failed to inspect image %s: %w", id, ierr)
			}
			loaded = ierr == nil
		}
		if !loaded {
			fmt.Fprintln(dockerCLI.Err(), "note: leak check skipped: the builder did not load the image into the engine (add --load to check it)")
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("leak check: cannot tell which image was built: %w", err)
	}
	name := id
	if len(ba.Tags) > 0 {
		name = ba.Tags[0]
	}
	return leakCheckImage(ctx, dockerCLI.Client(), dockerCLI.Err(), id, name, searched)
}

// withPrevious returns secrets and, when the leak check is to run, the
// values of their previous versions (--leak-check-versions), printing the
// notes on what cannot be searched.
func withPrevious(ctx context.Context, log io.Writer, store keyvault.Store, secrets []build.Secret, leakCheck bool, o buildOptions) ([]build.Secret, error) {
	searched := slices.Clone(secrets)
	if leakCheck && len(secrets) > 0 {
		previous, notes, err := build.Previous(ctx, store, secrets, o.leakCheckVersions, o.parallel)
		printNotes(log, notes)
		if err != nil {
			return searched, err
		}
		searched = append(searched, previous...)
	}
	printNotes(log, build.ShortNotes(searched))
	return searched, nil
}

func printNotes(w io.Writer, notes []build.Note) {
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// runMasked runs the docker CLI child with what it prints masked
// (build.RunMasked), and says which secrets' values it printed.
func runMasked(ctx context.Context, dockerCLI command.Cli, run build.RunFunc, name string, inv build.Invocation, secrets []build.Secret, maskStdout bool) error {
	c := runner.Cmd{Name: name, Path: dockerBinary(), Args: inv.Args, Env: inv.Env, Stdin: dockerCLI.In(), Stdout: dockerCLI.Out(), Stderr: dockerCLI.Err()}
	printed, err := build.RunMasked(ctx, run, c, secrets, maskStdout)
	if len(printed) > 0 {
		fmt.Fprintf(dockerCLI.Err(), "note: the build printed the value of %s (masked above): a step writes it to its output, which the builder may keep (docker buildx history)\n", strings.Join(printed, ", "))
	}
	return err
}

// leakCheckImage searches image id (shown as name) for every value of
// secrets.
func leakCheckImage(ctx context.Context, api client.ImageAPIClient, log io.Writer, id, name string, secrets []build.Secret) error {
	if !slices.ContainsFunc(secrets, func(s build.Secret) bool { return len(s.Value) >= redact.MinLen }) {
		fmt.Fprintf(log, "note: leak check of %s skipped: every value is shorter than %d bytes\n", name, redact.MinLen)
		return nil
	}
	start := time.Now()
	rc, err := api.ImageSave(ctx, []string{id})
	if err != nil {
		return fmt.Errorf("leak check: failed to read image %s: %w", name, err)
	}
	defer rc.Close()
	counter := &countingReader{r: rc}
	report, err := build.Scan(counter, secrets)
	if err != nil {
		return fmt.Errorf("leak check failed: image %s was not searched to its end, so it may hold a value: %w (--no-leak-check skips the check)", name, oneLineError(err))
	}
	if len(report.Leaks) > 0 {
		return cli.StatusError{StatusCode: 1, Status: "leak check failed: " + report.Failure(name)}
	}
	fmt.Fprintf(log, "leak check: %s; %.1f MB in %s\n", build.Summary(secrets, report, name), float64(counter.n)/1e6, time.Since(start).Round(time.Millisecond))
	return nil
}

// oneLineError keeps an error to one line: the engine's or a reader's
// message may span several.
func oneLineError(err error) error {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if msg == err.Error() {
		return err
	}
	return fmt.Errorf("%s", msg)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
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
