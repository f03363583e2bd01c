package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/moby/moby/client"
)

// Env is what a build runs with, filled by the command from its docker CLI:
// the child it starts, the streams, the Key Vault and the engine's images.
type Env struct {
	Docker     string   // the docker CLI that ran the plugin
	GlobalArgs []string // its global options (--context, -H, --config ...), for the child
	Environ    []string // the plugin's environment, the base of the child's
	Run        RunFunc  // runner.Run; tests pass a fake
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer // notes, and what the child prints there
	Images     ImageAPI
	// OpenVault opens the Key Vault: --vault, else projectURL (the compose
	// file's x-vault url, "" for a Dockerfile build).
	OpenVault func(ctx context.Context, projectURL string) (keyvault.Store, error)
	// Timeout bounds the Key Vault reads (--timeout).
	Timeout func(ctx context.Context) (context.Context, context.CancelFunc)
}

// ImageAPI is the part of the Engine API the leak check reads images with.
type ImageAPI interface {
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImageSave(ctx context.Context, refs []string, opts ...client.ImageSaveOption) (client.ImageSaveResult, error)
}

// Options are docker vault's own build flags, validated.
type Options struct {
	// Mappings are the --vault-secret values, read once the Dockerfile is:
	// a build with --compose ignores them.
	Mappings          []string
	LeakCheck         bool // no --no-leak-check
	LeakCheckVersions int
	Parallel          int
	// CheckBuildx fails when the docker CLI has no usable buildx. A
	// Dockerfile build calls it once the Dockerfile and the mappings are
	// read, before any Key Vault read.
	CheckBuildx func() error
}

// Buildx runs `docker buildx build args` (the user's buildx flags and
// context, unchanged) with every secret mount of the Dockerfile filled from
// Key Vault through the child's environment, then searches the image for
// the values when it lands in the engine. The child's failure is a
// *runner.ExitError.
func Buildx(ctx context.Context, env Env, o Options, args []string) error {
	ba := ParseBuildArgs(args)
	df, mounts, mappings, err := readDockerfile(ba, o.Mappings)
	if err != nil {
		return err
	}
	if o.CheckBuildx != nil {
		if err := o.CheckBuildx(); err != nil {
			return err
		}
	}
	// Without an output of the user's the builder decides whether the
	// image lands in the engine (buildx's docker driver loads it): check
	// it whenever it does.
	leakCheck := (ba.Load || !ba.Output) && o.LeakCheck
	var secrets, searched []Secret
	defer func() {
		for _, s := range searched {
			clear(s.Value)
		}
	}()
	if len(mounts) > 0 {
		secrets, searched, err = env.resolve(ctx, "", o, mounts, mappings, UserSecretIDs(args), leakCheck)
		if err != nil {
			return err
		}
	}
	declares := DeclaresVersionsArg(df)
	if len(secrets) > 0 && !declares {
		fmt.Fprintf(env.Stderr, "note: declare 'ARG %s' before the RUN steps that use secrets to rebuild them when a secret rotates\n", VersionsArg)
	}
	leakCheck = leakCheck && len(secrets) > 0
	iidFile := ba.IIDFile
	if leakCheck && iidFile == "" {
		// The leak check reads the image by the id buildx reports, not by
		// a tag another build could move in the meantime.
		dir, err := os.MkdirTemp("", "docker-vault-build-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		iidFile = filepath.Join(dir, "iid")
		args = append([]string{"--iidfile", iidFile}, args...)
	}
	inv, err := Prepare(env.GlobalArgs, args, secrets, env.Environ, declares && len(secrets) > 0)
	if err != nil {
		return err
	}
	if ba.ToStdout {
		fmt.Fprintln(env.Stderr, "note: the build result goes to stdout as it is: values are masked only in what buildx prints to stderr, and the leak check does not read it")
	}
	if err := env.runMasked(ctx, "docker buildx build", inv, searched, !ba.ToStdout); err != nil {
		return err
	}
	if !leakCheck {
		return nil
	}
	return env.checkBuilt(ctx, ba, iidFile, searched)
}

// readDockerfile reads the Dockerfile of a buildx build, the secret ids it
// uses and the --vault-secret mappings.
func readDockerfile(ba BuildArgs, rawMappings []string) ([]byte, []SecretMount, []Mapping, error) {
	switch {
	case ba.Dockerfile == "-":
		return nil, nil, nil, errors.New("docker vault build reads the Dockerfile to find its secret ids: give it as a file (-f PATH), not on stdin")
	case ba.Dockerfile == "" && ba.Context == "-":
		return nil, nil, nil, errors.New("docker vault build reads the Dockerfile to find its secret ids: with a build context on stdin, give a local copy of the Dockerfile with -f PATH")
	case ba.Dockerfile == "":
		return nil, nil, nil, fmt.Errorf("docker vault build reads the Dockerfile to find its secret ids: the build context %s is remote, give a local copy of the Dockerfile with -f PATH", ba.Context)
	}
	df, err := os.ReadFile(ba.Dockerfile)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("failed to read the Dockerfile: %w", err)
	}
	mounts, err := SecretMounts(df, ba.Target)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", ba.Dockerfile, err)
	}
	var mappings []Mapping
	for _, s := range rawMappings {
		m, err := ParseMapping(s)
		if err != nil {
			return nil, nil, nil, err
		}
		mappings = append(mappings, m)
	}
	return df, mounts, mappings, nil
}

// resolve reads the values of mounts from the Key Vault (projectURL as
// for Env.OpenVault) and, when the leak check is to run, their previous
// versions: secrets go to the build, searched (secrets and the previous
// values) to the mask and the leak check. The caller clears searched, also
// on error.
func (env Env) resolve(ctx context.Context, projectURL string, o Options, mounts []SecretMount, mappings []Mapping, skip map[string]bool, leakCheck bool) (secrets, searched []Secret, err error) {
	store, err := env.OpenVault(ctx, projectURL)
	if err != nil {
		return nil, nil, err
	}
	rctx, cancel := env.Timeout(ctx)
	defer cancel()
	secrets, notes, err := Resolve(rctx, store, mounts, mappings, skip, o.Parallel)
	printNotes(env.Stderr, notes)
	if err != nil {
		return nil, nil, fmt.Errorf("no build was started: %w", err)
	}
	searched = slices.Clone(secrets)
	if leakCheck && len(secrets) > 0 {
		previous, notes, err := Previous(rctx, store, secrets, o.LeakCheckVersions, o.Parallel)
		printNotes(env.Stderr, notes)
		if err != nil {
			return secrets, searched, fmt.Errorf("no build was started: %w", err)
		}
		searched = append(searched, previous...)
	}
	printNotes(env.Stderr, ShortNotes(searched))
	return secrets, searched, nil
}

func printNotes(w io.Writer, notes []Note) {
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// runMasked runs the docker CLI child with what it prints masked
// (RunMasked), and says which secrets' values it printed.
func (env Env) runMasked(ctx context.Context, name string, inv Invocation, secrets []Secret, maskStdout bool) error {
	c := runner.Cmd{Name: name, Path: env.Docker, Args: inv.Args, Env: inv.Env, Stdin: env.Stdin, Stdout: env.Stdout, Stderr: env.Stderr}
	printed, err := RunMasked(ctx, env.Run, c, secrets, maskStdout)
	if len(printed) > 0 {
		fmt.Fprintf(env.Stderr, "note: the build printed the value of %s (masked above): a step writes it to its output, which the builder may keep (docker buildx history)\n", strings.Join(printed, ", "))
	}
	return err
}

// checkBuilt runs the leak check on the image buildx built, found by the
// id it wrote to iidFile.
func (env Env) checkBuilt(ctx context.Context, ba BuildArgs, iidFile string, secrets []Secret) error {
	b, err := os.ReadFile(iidFile)
	id := strings.TrimSpace(string(b))
	if !ba.Load {
		// A builder that keeps the result to itself may write no id, or
		// one the engine does not know.
		loaded := err == nil && id != ""
		if loaded {
			_, ierr := env.Images.ImageInspect(ctx, id)
			if ierr != nil && !cerrdefs.IsNotFound(ierr) {
				return fmt.Errorf("leak check: failed to inspect image %s: %w", id, ierr)
			}
			loaded = ierr == nil
		}
		if !loaded {
			fmt.Fprintln(env.Stderr, "note: leak check skipped: the builder did not load the image into the engine (add --load to check it)")
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
	return env.checkImage(ctx, id, name, secrets)
}
