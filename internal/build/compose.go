package build

import (
	"context"
	"errors"
	"fmt"
	"github.com/docker-vault/docker-vault/internal/composecli"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker-vault/docker-vault/internal/mapping"
)

// ComposeArgs are a `docker vault build --compose` command line sorted
// into what docker vault loads the project with, what goes before
// `compose build` and what after it.
type ComposeArgs struct {
	// The project's flags: docker vault loads the project with them, and
	// hands them on.
	Files      []string
	ProjectDir string
	EnvFiles   []string
	Profiles   []string
	Name       string

	Global   []string // docker compose flags other than the project's
	Build    []string // docker compose build flags
	Services []string
}

// composeBuildValueFlags are the flags of `docker compose build` that take
// a value, so that the value is not taken for a service name (compose's
// global ones are composecli's).
var composeBuildValueFlags = map[string]bool{"--build-arg": true, "--builder": true, "-m": true, "--memory": true,
	"--provenance": true, "--sbom": true, "--ssh": true}

// ParseComposeArgs sorts a `docker vault build --compose` command line.
func ParseComposeArgs(args []string) (ComposeArgs, error) {
	var c ComposeArgs
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			c.Services = append(c.Services, a)
			continue
		}
		name, value, hasValue := strings.Cut(a, "=")
		takesValue := composecli.GlobalValueFlags[name] || composeBuildValueFlags[name]
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
			c.Files = append(c.Files, value)
		case name == "--project-directory":
			c.ProjectDir = value
		case name == "--env-file":
			c.EnvFiles = append(c.EnvFiles, value)
		case name == "--profile":
			c.Profiles = append(c.Profiles, value)
		case name == "-p" || name == "--project-name":
			c.Name = value
		case composecli.GlobalValueFlags[name]:
			c.Global = append(c.Global, name, value)
		case composecli.GlobalBoolFlags[name]:
			c.Global = append(c.Global, a)
		case takesValue:
			c.Build = append(c.Build, name, value)
		default:
			c.Build = append(c.Build, a)
		}
	}
	return c, nil
}

// composeNeed is a compose secret a build fills: the variable compose reads
// it from, and its Key Vault secret.
type composeNeed struct{ env, kv, version string }

// composeNeeds finds the build secrets of the services to build (all when
// services is empty) that compose reads from an `environment:` variable
// and Key Vault backs. users are the services built with them and the
// secrets each uses: the images the leak check reads. declares tells
// whether a Dockerfile of theirs declares VersionsArg.
func composeNeeds(p *types.Project, services []string) (needs map[string]composeNeed, users map[string][]string, declares bool, err error) {
	wanted := map[string]bool{}
	for _, s := range services {
		if _, err := p.GetService(s); err != nil {
			return nil, nil, false, fmt.Errorf("no such service: %s", s)
		}
		wanted[s] = true
	}
	needs, users = map[string]composeNeed{}, map[string][]string{}
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
				return nil, nil, false, err
			}
			needs[ref.Source] = composeNeed{env: sc.Environment, kv: kv, version: version}
			users[svc.Name] = append(users[svc.Name], ref.Source)
		}
	}
	if len(needs) == 0 {
		return nil, nil, false, errors.New("no service to build uses a build secret with an `environment:` source: nothing to fill from Key Vault")
	}
	return needs, users, declares, nil
}

// Compose builds the services of project p (loaded with ca's project
// flags) with the values of their build.secrets whose source is
// `environment:` read from Key Vault and handed to `docker compose build`
// in its environment only, then searches each image built with a value.
// The child's failure is a *runner.ExitError.
func Compose(ctx context.Context, env Env, o Options, p *types.Project, ca ComposeArgs) error {
	needs, users, declares, err := composeNeeds(p, ca.Services)
	if err != nil {
		return err
	}
	var mounts []SecretMount
	var mappings []Mapping
	for _, k := range slices.Sorted(maps.Keys(needs)) {
		n := needs[k]
		mounts = append(mounts, SecretMount{ID: k, Required: true})
		mappings = append(mappings, Mapping{ID: k, KVName: n.kv, Version: n.version})
	}
	projectURL, err := mapping.VaultURL(p)
	if err != nil {
		return err
	}
	secrets, searched, err := env.resolve(ctx, projectURL, o, mounts, mappings, nil, o.LeakCheck)
	defer func() {
		for _, s := range searched {
			clear(s.Value)
		}
	}()
	if err != nil {
		return err
	}
	childEnv, versions, err := composeEnv(env.Environ, needs, secrets)
	if err != nil {
		return err
	}
	args := composeBuildArgs(env.GlobalArgs, p, ca, declares, versions)
	if err := env.runMasked(ctx, "docker compose build", Invocation{Args: args, Env: childEnv}, searched, true); err != nil {
		return err
	}
	if !o.LeakCheck {
		return nil
	}
	return env.checkServices(ctx, p, users, searched)
}

// composeEnv is the environment of `docker compose build`: the plugin's,
// with each variable a secret is read from set to its Key Vault value
// (and only that one: a value the shell held is dropped). versions are
// the id=version pairs for VersionsArg.
func composeEnv(environ []string, needs map[string]composeNeed, secrets []Secret) (env, versions []string, err error) {
	vars := map[string]bool{}
	for _, n := range needs {
		vars[n.env] = true
	}
	env = []string{}
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); !vars[k] {
			env = append(env, kv)
		}
	}
	for _, s := range secrets {
		kv, err := EnvEntry(needs[s.ID].env, s)
		if err != nil {
			return nil, nil, err
		}
		env = append(env, kv)
		versions = append(versions, s.ID+"="+s.Version)
	}
	return env, versions, nil
}

// composeBuildArgs is the `docker compose build` command line: the
// project's flags as compose-go resolved them, the user's compose and
// build flags, VersionsArg when a Dockerfile declares it, the services.
func composeBuildArgs(global []string, p *types.Project, ca ComposeArgs, declares bool, versions []string) []string {
	args := append(slices.Clone(global), "compose")
	for _, f := range p.ComposeFiles {
		args = append(args, "-f", f)
	}
	if ca.ProjectDir != "" {
		args = append(args, "--project-directory", ca.ProjectDir)
	}
	if ca.Name != "" {
		args = append(args, "--project-name", ca.Name)
	}
	for _, e := range ca.EnvFiles {
		args = append(args, "--env-file", e)
	}
	for _, pr := range ca.Profiles {
		args = append(args, "--profile", pr)
	}
	args = append(args, ca.Global...)
	args = append(args, "build")
	if declares {
		// Versions only, as for a buildx build: a rotated value re-runs
		// the steps that declare the arg instead of being served from
		// cache. The user's own --build-arg comes after and wins.
		sort.Strings(versions)
		args = append(args, "--build-arg", VersionsArg+"="+strings.Join(versions, ","))
	}
	args = append(args, ca.Build...)
	return append(args, ca.Services...)
}

// checkServices runs the leak check on the image of each service in
// users, for the values it used; the first failure is the error, after
// every image was checked.
func (env Env) checkServices(ctx context.Context, p *types.Project, users map[string][]string, searched []Secret) error {
	byID := map[string][]Secret{}
	for _, s := range searched {
		byID[s.ID] = append(byID[s.ID], s)
	}
	var first error
	for _, name := range slices.Sorted(maps.Keys(users)) {
		var used []Secret
		for _, id := range users[name] {
			used = append(used, byID[id]...)
		}
		if err := env.checkService(ctx, p.Services[name], p.Name, used); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// checkService searches the image compose built for a service for the
// values it used. compose has no --iidfile: the image is found by the name
// compose gives it (api.GetImageNameOrDefault: image:, else
// <project>-<service>), so a build of the same name running meanwhile
// could move it. An image compose did not load into the engine (--push, a
// builder without --load) is not checked, and the note says so.
func (env Env) checkService(ctx context.Context, svc types.ServiceConfig, project string, secrets []Secret) error {
	name := svc.Image
	if name == "" {
		name = project + "-" + svc.Name
	}
	img, err := env.Images.ImageInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		fmt.Fprintf(env.Stderr, "note: leak check of service %s skipped: image %s is not in the engine\n", svc.Name, name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("leak check: failed to inspect image %s: %w", name, err)
	}
	return env.checkImage(ctx, img.ID, name, secrets)
}

// declaresVersionsArg tells whether a service's Dockerfile declares
// VersionsArg. A Dockerfile that cannot be read is left to compose to
// report.
func declaresVersionsArg(b *types.BuildConfig) bool {
	if b.DockerfileInline != "" {
		return DeclaresVersionsArg([]byte(b.DockerfileInline))
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
	return DeclaresVersionsArg(data)
}
