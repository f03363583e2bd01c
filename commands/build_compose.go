package commands

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker-vault/docker-vault/internal/build"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker/cli/cli/command"
)

// composeArgs are a `docker vault build --compose` command line sorted
// into what docker vault loads the project with, what goes before
// `compose build` and what after it.
type composeArgs struct {
	project  projectOptions
	global   []string // docker compose flags other than the project's
	build    []string // docker compose build flags
	services []string
}

// Flags of `docker compose` and `docker compose build` that take a value,
// so that the value is not taken for a service name.
var (
	composeGlobalValueFlags = map[string]bool{"--ansi": true, "--parallel": true, "--progress": true}
	composeGlobalBoolFlags  = map[string]bool{"--compatibility": true, "--all-resources": true}
	composeBuildValueFlags  = map[string]bool{"--build-arg": true, "--builder": true, "-m": true, "--memory": true,
		"--provenance": true, "--sbom": true, "--ssh": true}
)

func parseComposeArgs(args []string) (composeArgs, error) {
	var c composeArgs
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			c.services = append(c.services, a)
			continue
		}
		name, value, hasValue := strings.Cut(a, "=")
		takesValue := composeGlobalValueFlags[name] || composeBuildValueFlags[name]
		switch name {
		case "-f", "--file", "--project-directory", "--env-file", "--profile", "-p", "--project-name":
			takesValue = true
		}
		if takesValue && !hasValue {
			if i+1 >= len(args) {
				return c, fmt.Errorf("flag needs an argument: %s", a)
			}
			value = args[i+1]
			i++
		}
		switch {
		case name == "-f" || name == "--file":
			c.project.files = append(c.project.files, value)
		case name == "--project-directory":
			c.project.projectDir = value
		case name == "--env-file":
			c.project.envFiles = append(c.project.envFiles, value)
		case name == "--profile":
			c.project.profiles = append(c.project.profiles, value)
		case name == "-p" || name == "--project-name":
			c.project.name = value
		case composeGlobalValueFlags[name]:
			c.global = append(c.global, name, value)
		case composeGlobalBoolFlags[name]:
			c.global = append(c.global, a)
		case takesValue:
			c.build = append(c.build, name, value)
		default:
			c.build = append(c.build, a)
		}
	}
	return c, nil
}

// runComposeBuild builds a compose project's services with the values of
// their build.secrets whose source is `environment:` read from Key Vault
// and handed to `docker compose build` in its environment only.
func runComposeBuild(ctx context.Context, dockerCLI command.Cli, o buildOptions) error {
	ca, err := parseComposeArgs(o.buildxArgs)
	if err != nil {
		return err
	}
	p, err := ca.project.load(ctx)
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, s := range ca.services {
		if _, err := p.GetService(s); err != nil {
			return fmt.Errorf("no such service: %s", s)
		}
		wanted[s] = true
	}
	type need struct{ env, kv, version string }
	needs := map[string]need{}
	// users are the services built with values from Key Vault, and the
	// secrets each uses: the images the leak check reads.
	users := map[string][]string{}
	declares := false
	for _, svc := range p.Services {
		if svc.Build == nil || (len(wanted) > 0 && !wanted[svc.Name]) {
			continue
		}
		declares = declares || declaresVersionsArg(svc.Build)
		for _, ref := range svc.Build.Secrets {
			sc, ok := p.Secrets[ref.Source]
			if !ok || sc.Environment == "" {
				continue // a file: source needs nothing from us
			}
			kv, version, err := mapping.KeyVaultName(ref.Source, sc)
			if errors.Is(err, mapping.ErrLocal) {
				continue // x-vault: false: the variable is the user's to set
			}
			if err != nil {
				return err
			}
			needs[ref.Source] = need{env: sc.Environment, kv: kv, version: version}
			users[svc.Name] = append(users[svc.Name], ref.Source)
		}
	}
	if len(needs) == 0 {
		return errors.New("no service to build uses a build secret with an `environment:` source: nothing to fill from Key Vault")
	}
	keys := make([]string, 0, len(needs))
	for k := range needs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var mounts []build.SecretMount
	var mappings []build.Mapping
	for _, k := range keys {
		n := needs[k]
		mounts = append(mounts, build.SecretMount{ID: k, Required: true})
		mappings = append(mappings, build.Mapping{ID: k, KVName: n.kv, Version: n.version})
	}
	projectURL, err := mapping.VaultURL(p)
	if err != nil {
		return err
	}
	store, err := o.vault.open(ctx, projectURL)
	if err != nil {
		return err
	}
	rctx, cancel := o.vault.withTimeout(ctx)
	defer cancel()
	secrets, _, err := build.Resolve(rctx, store, mounts, mappings, nil, o.parallel)
	if err != nil {
		return fmt.Errorf("no build was started: %w", err)
	}
	searched, err := withPrevious(rctx, dockerCLI.Err(), store, secrets, !o.noLeakCheck, o)
	defer func() {
		for _, s := range searched {
			clear(s.Value)
		}
	}()
	if err != nil {
		return fmt.Errorf("no build was started: %w", err)
	}
	cancel()
	vars := map[string]bool{}
	for _, n := range needs {
		vars[n.env] = true
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !vars[k] {
			env = append(env, kv)
		}
	}
	var versions []string
	for _, s := range secrets {
		kv, err := build.EnvEntry(needs[s.ID].env, s)
		if err != nil {
			return err
		}
		env = append(env, kv)
		versions = append(versions, s.ID+"="+s.Version)
	}
	cmdArgs := append(globalArgs(), "compose")
	for _, f := range p.ComposeFiles {
		cmdArgs = append(cmdArgs, "-f", f)
	}
	if ca.project.projectDir != "" {
		cmdArgs = append(cmdArgs, "--project-directory", ca.project.projectDir)
	}
	if ca.project.name != "" {
		cmdArgs = append(cmdArgs, "--project-name", ca.project.name)
	}
	for _, e := range ca.project.envFiles {
		cmdArgs = append(cmdArgs, "--env-file", e)
	}
	for _, pr := range ca.project.profiles {
		cmdArgs = append(cmdArgs, "--profile", pr)
	}
	cmdArgs = append(cmdArgs, ca.global...)
	cmdArgs = append(cmdArgs, "build")
	if declares {
		// Versions only, as for a buildx build: a rotated value re-runs
		// the steps that declare the arg instead of being served from
		// cache. The user's own --build-arg comes after and wins.
		sort.Strings(versions)
		cmdArgs = append(cmdArgs, "--build-arg", build.VersionsArg+"="+strings.Join(versions, ","))
	}
	cmdArgs = append(cmdArgs, ca.build...)
	cmdArgs = append(cmdArgs, ca.services...)
	inv := build.Invocation{Args: cmdArgs, Env: env}
	if err := childStatus(runMasked(ctx, dockerCLI, o.runner, "docker compose build", inv, searched, true)); err != nil {
		return err
	}
	if o.noLeakCheck {
		return nil
	}
	byID := map[string][]build.Secret{}
	for _, s := range searched {
		byID[s.ID] = append(byID[s.ID], s)
	}
	var first error
	for _, name := range slices.Sorted(maps.Keys(users)) {
		var used []build.Secret
		for _, id := range users[name] {
			used = append(used, byID[id]...)
		}
		if err := leakCheckService(ctx, dockerCLI, p.Services[name], p.Name, used); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// leakCheckService searches the image compose built for a service for the
// values it used. compose has no --iidfile: the image is found by the name
// compose gives it (api.GetImageNameOrDefault: image:, else
// <project>-<service>), so a build of the same name running meanwhile
// could move it. An image compose did not load into the engine (--push, a
// builder without --load) is not checked, and the note says so.
func leakCheckService(ctx context.Context, dockerCLI command.Cli, svc types.ServiceConfig, project string, secrets []build.Secret) error {
	name := svc.Image
	if name == "" {
		name = project + "-" + svc.Name
	}
	img, err := dockerCLI.Client().ImageInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		fmt.Fprintf(dockerCLI.Err(), "note: leak check of service %s skipped: image %s is not in the engine\n", svc.Name, name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("leak check: failed to inspect image %s: %w", name, err)
	}
	return leakCheckImage(ctx, dockerCLI.Client(), dockerCLI.Err(), img.ID, name, secrets)
}

// declaresVersionsArg tells whether a service's Dockerfile declares
// build.VersionsArg. A Dockerfile that cannot be read is left to compose
// to report.
func declaresVersionsArg(b *types.BuildConfig) bool {
	if b.DockerfileInline != "" {
		return build.DeclaresVersionsArg([]byte(b.DockerfileInline))
	}
	df := b.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	if !filepath.IsAbs(df) {
		df = filepath.Join(b.Context, df)
	}
	data, err := os.ReadFile(df)
	if err != nil {
		return false
	}
	return build.DeclaresVersionsArg(data)
}
