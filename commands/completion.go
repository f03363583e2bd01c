package commands

import (
	"context"
	"errors"
	"github.com/docker-vault/docker-vault/internal/composecli"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/build"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Shell completion (`docker __complete vault ...`). Completions are
// registered here, by flag and command name, so that each command file
// stays as it is. A completion never prints a value (only names: files,
// stacks, services, secrets, variables) and never fails loudly: an error
// offers nothing.

// vaultCompletionTimeout bounds the Key Vault list behind `set NAME`:
// completion must never keep a shell waiting on the network.
const vaultCompletionTimeout = time.Second

// engineCompletionTimeout bounds the engine's service list behind stack
// names.
const engineCompletionTimeout = 5 * time.Second

// projectCompletionTimeout bounds loading the compose project.
const projectCompletionTimeout = 5 * time.Second

// completeFunc is cobra's completion function type (cobra.CompletionFunc
// in recent cobra).
type completeFunc = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

// serviceLister is the part of the engine API stack completion uses.
type serviceLister interface {
	ServiceList(ctx context.Context, options client.ServiceListOptions) (client.ServiceListResult, error)
}

// completer holds what completions read, so that tests replace the engine,
// the vault and the project loader.
type completer struct {
	// engine returns the engine client, or an error when there is none
	// (no silent fallback to another engine).
	engine func(cmd *cobra.Command) (serviceLister, error)
	// openVault opens the vault --vault names.
	openVault func(ctx context.Context, cfg keyvault.Config) (keyvault.Store, error)
	// loadProject loads the compose project the way the commands do.
	loadProject func(ctx context.Context, lo compose.LoadOptions) (*types.Project, error)
	// vaultTimeout bounds a Key Vault list.
	vaultTimeout time.Duration
	// images returns the engine's image list (scan --image); nil offers
	// nothing.
	images func(cmd *cobra.Command) (imageLister, error)
}

// imageLister is the part of the engine API scan's --image completion uses.
type imageLister interface {
	ImageList(ctx context.Context, options client.ImageListOptions) (client.ImageListResult, error)
}

// registerCompletions adds completions to every command under root.
func registerCompletions(root *cobra.Command, dockerCLI command.Cli) {
	c := &completer{
		engine: func(cmd *cobra.Command) (serviceLister, error) {
			return completionEngine(cmd, dockerCLI)
		},
		openVault: keyvault.Open,
		loadProject: func(ctx context.Context, lo compose.LoadOptions) (*types.Project, error) {
			p, err := compose.Load(ctx, lo)
			if err != nil {
				return nil, err
			}
			return p.Compose, nil
		},
		vaultTimeout: vaultCompletionTimeout,
		images: func(cmd *cobra.Command) (imageLister, error) {
			if _, err := completionEngine(cmd, dockerCLI); err != nil {
				return nil, err
			}
			return dockerCLI.Client(), nil
		},
	}
	c.register(root)
}

// completionEngine initialises the docker CLI as a command run would
// (`__complete` skips the PersistentPreRunE that does it), and returns its
// client only when the engine answered a ping: dockerCLI.Client() exits the
// process on an endpoint error, which completion must not do.
func completionEngine(cmd *cobra.Command, dockerCLI command.Cli) (serviceLister, error) {
	if plugin.PersistentPreRunE != nil {
		if err := plugin.PersistentPreRunE(cmd, nil); err != nil {
			return nil, err
		}
	}
	if err := checkContext(dockerCLI); err != nil {
		return nil, err
	}
	if dockerCLI.ServerInfo().OSType == "" {
		return nil, errNoEngine
	}
	return dockerCLI.Client(), nil
}

var errNoEngine = errors.New("the engine did not answer")

// register walks the tree: flags by name, arguments by command name.
func (c *completer) register(root *cobra.Command) {
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if fn := c.flagCompletion(cmd, f.Name); fn != nil {
				// An error means a completion is registered already: keep it.
				_ = cmd.RegisterFlagCompletionFunc(f.Name, fn)
			}
		})
		if cmd.ValidArgsFunction == nil {
			if fn := c.argsCompletion(cmd); fn != nil {
				cmd.ValidArgsFunction = fn
			}
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// Fixed values of the enum flags.
var (
	toValues           = []string{"file", "external", "environment"}
	pullValues         = []string{"missing", "never", "always"}
	formatValues       = []string{"table", "json"}
	scanFormatValues   = []string{"table", "json", "sarif"}
	resolveImageValues = []string{"always", "changed", "never"}
	// Usual windows of status --expiry-warning; any duration is accepted.
	expiryWarningValues = []string{"7d", "14d", "30d", "90d"}
)

// flagCompletion is the completion of one flag of cmd, nil for none (the
// plugin's default: no file names).
func (c *completer) flagCompletion(cmd *cobra.Command, name string) completeFunc {
	switch name {
	case "file":
		if isComposeCommand(cmd) {
			return completeComposeFiles
		}
		return completeAnyFiles // set -f: the value's file
	case "compose-file":
		return completeComposeFiles
	case "env-file", "force-file":
		return completeAnyFiles
	case "project-directory":
		return completeDirs
	case "to":
		return fixed(toValues)
	case "pull":
		return fixed(pullValues)
	case "format":
		if cmd.Name() == "scan" {
			return fixed(scanFormatValues)
		}
		return fixed(formatValues)
	case "image":
		return c.imageNames
	case "resolve-image":
		return fixed(resolveImageValues)
	case "expiry-warning":
		return fixed(expiryWarningValues)
	case "credential":
		return fixed(keyvault.CredentialNames())
	case "stack":
		return c.stackNames
	case "profile":
		return c.profiles
	case "include", "exclude":
		return c.variables
	}
	return nil
}

// argsCompletion is the completion of cmd's arguments.
func (c *completer) argsCompletion(cmd *cobra.Command) completeFunc {
	switch cmd.Name() {
	case "migrate":
		return completeComposeFiles
	case "deploy":
		return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return c.stackNames(cmd, args, toComplete)
		}
	case "push":
		return c.composeSecrets
	case "set":
		return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return c.vaultSecrets(cmd, args, toComplete)
		}
	case "build":
		return c.buildArgs
	case "scan":
		return completeAnyFiles // PATH...: files and folders
	case "up", "compose":
		return c.composeRunArgs
	}
	return nil
}

// isComposeCommand: the command reads a compose project (its -f is a
// compose file, not a value's file).
func isComposeCommand(cmd *cobra.Command) bool {
	return cmd.Flags().Lookup("project-directory") != nil || cmd.Flags().Lookup("compose-file") != nil
}

// completeComposeFiles offers YAML files and folders, as `docker stack deploy -c`.
func completeComposeFiles(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// completeAnyFiles lets the shell offer every file.
func completeAnyFiles(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveDefault
}

// completeDirs lets the shell offer folders only.
func completeDirs(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}

func fixed(values []string) completeFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return withPrefix(values, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// withPrefix keeps the names that start with prefix, sorted and unique,
// without those in skip.
func withPrefix(names []string, prefix string, skip ...string) []string {
	var out []string
	for _, n := range names {
		if n != "" && strings.HasPrefix(n, prefix) && !slices.Contains(skip, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func completionContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// stackNames are the swarm stacks: the com.docker.stack.namespace label of
// the engine's services, as `docker stack ls` finds them.
func (c *completer) stackNames(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	engine, err := c.engine(cmd)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(completionContext(cmd), engineCompletionTimeout)
	defer cancel()
	res, err := engine.ServiceList(ctx, client.ServiceListOptions{
		Filters: make(client.Filters).Add("label", stackNamespaceLabel),
	})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, s := range res.Items {
		names = append(names, s.Spec.Labels[stackNamespaceLabel])
	}
	sort.Strings(names)
	return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// stackNamespaceLabel names a service's stack (docker/cli's
// convert.LabelNamespace).
const stackNamespaceLabel = "com.docker.stack.namespace"

// project loads the compose project the flags (and, for migrate, the
// arguments) already on the command line name; nil on any error.
func (c *completer) project(cmd *cobra.Command, args []string) *types.Project {
	flags := cmd.Flags()
	var lo compose.LoadOptions
	if isComposeCommand(cmd) {
		lo.Files = composeFileValues(flags)
	}
	if cmd.Name() == "migrate" { // migrate [OPTIONS] [COMPOSE FILE...]
		lo.Files = append(lo.Files, args...)
	}
	lo.ProjectDir, _ = flags.GetString("project-directory")
	lo.EnvFiles, _ = flags.GetStringArray("env-file")
	lo.Profiles, _ = flags.GetStringArray("profile")
	lo.ProjectName, _ = flags.GetString("project-name")
	return c.load(cmd, lo)
}

// composeFileValues are the files given to -f/--file and -c/--compose-file,
// read once when both flags share one list.
func composeFileValues(flags *pflag.FlagSet) []string {
	var files []string
	var seen []pflag.Value
	for _, name := range []string{"file", "compose-file"} {
		f := flags.Lookup(name)
		if f == nil || slices.Contains(seen, f.Value) {
			continue
		}
		seen = append(seen, f.Value)
		if s, ok := f.Value.(interface{ GetSlice() []string }); ok {
			files = append(files, s.GetSlice()...)
			continue
		}
		v, _ := flags.GetStringArray(name)
		files = append(files, v...)
	}
	return files
}

func (c *completer) load(cmd *cobra.Command, lo compose.LoadOptions) *types.Project {
	cwd, err := os.Getwd()
	if err != nil {
		return nil
	}
	lo.WorkingDir = cwd
	lo.Environ = os.Environ()
	ctx, cancel := context.WithTimeout(completionContext(cmd), projectCompletionTimeout)
	defer cancel()
	p, err := c.loadProject(ctx, lo)
	if err != nil {
		return nil
	}
	return p
}

// composeSecrets are the project's secrets push takes (file: secrets not
// marked x-vault: false), minus those already given.
func (c *completer) composeSecrets(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	p := c.project(cmd, nil)
	if p == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for name, sc := range p.Secrets {
		if sc.File == "" {
			continue
		}
		if _, _, err := mapping.KeyVaultName(name, sc); errors.Is(err, mapping.ErrLocal) {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return withPrefix(names, toComplete, args...), cobra.ShellCompDirectiveNoFileComp
}

// serviceNames are the project's services (those of every profile).
func serviceNames(p *types.Project) []string {
	var names []string
	for name := range p.Services {
		names = append(names, name)
	}
	for name := range p.DisabledServices {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// profiles are the profiles the project's services name.
func (c *completer) profiles(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	p := c.project(cmd, args)
	if p == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, s := range p.Services {
		names = append(names, s.Profiles...)
	}
	for _, s := range p.DisabledServices {
		names = append(names, s.Profiles...)
	}
	sort.Strings(names)
	return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// variables, for --include and --exclude (VAR or SERVICE.VAR), are the
// names of the services' environment variables: names only, never values.
func (c *completer) variables(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	p := c.project(cmd, args)
	if p == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var vars, qualified []string
	for _, svc := range serviceNames(p) {
		s, ok := p.Services[svc]
		if !ok {
			s = p.DisabledServices[svc]
		}
		for k := range s.Environment {
			vars = append(vars, k)
			qualified = append(qualified, svc+"."+k)
		}
	}
	sort.Strings(vars)
	sort.Strings(qualified)
	return withPrefix(append(vars, qualified...), toComplete), cobra.ShellCompDirectiveNoFileComp
}

// vaultSecrets are the Key Vault's secret names, only when --vault is on
// the command line, and only what the vault lists within vaultTimeout:
// a slow or failing vault offers nothing.
func (c *completer) vaultSecrets(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	flags := cmd.Flags()
	vault, _ := flags.GetString("vault")
	if !flags.Changed("vault") || vault == "" {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	credential, _ := flags.GetString("credential")
	disable, _ := flags.GetBool("disable-challenge-resource-verification")
	ctx, cancel := context.WithTimeout(completionContext(cmd), c.vaultTimeout)
	defer cancel()
	done := make(chan []string, 1)
	go func() {
		var names []string
		store, err := c.openVault(ctx, keyvault.Config{
			VaultFlag:                            vault,
			Credential:                           credential,
			DisableChallengeResourceVerification: disable,
		})
		if err == nil {
			err = store.List(ctx, func(p keyvault.SecretProperties) error {
				names = append(names, p.Name)
				return nil
			})
		}
		if err != nil {
			names = nil
		}
		done <- names
	}()
	select {
	case names := <-done:
		sort.Strings(names)
		return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	case <-ctx.Done():
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// buildValueFlag says whether name, a flag of `docker vault build`, of
// `docker buildx build` or of `docker compose build`, takes a value as the
// next argument, and what to offer for it (nil: nothing).
func (c *completer) buildValueFlag(name string) (completeFunc, bool) {
	switch name {
	case "--credential":
		return fixed(keyvault.CredentialNames()), true
	case "-f", "--file", "--iidfile", "--metadata-file", "--env-file":
		return completeAnyFiles, true
	case "--project-directory":
		return completeDirs, true
	case "--vault", "--vault-secret", "--timeout", "--leak-check-versions", "--vault-parallel",
		"-t", "--tag", "--build-arg", "--target", "--platform", "-o", "--output", "--secret",
		"--ssh", "--cache-from", "--cache-to", "--label", "--network", "--progress", "--builder",
		"--add-host", "--annotation", "--attest", "--build-context", "--call", "--cgroup-parent",
		"--shm-size", "--ulimit", "--allow", "--sbom", "--provenance",
		"--profile", "-p", "--project-name", "--ansi", "--parallel", "-m", "--memory":
		return nil, true
	}
	return nil, false
}

// buildArgs completes `docker vault build`, which parses its own flags: the
// value of the flag before, then the context folder, or with --compose the
// project's services.
func (c *completer) buildArgs(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if name, value, ok := strings.Cut(toComplete, "="); ok && strings.HasPrefix(name, "--") {
		fn, _ := c.buildValueFlag(name)
		if fn == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		values, directive := fn(cmd, args, value)
		for i := range values {
			values[i] = name + "=" + values[i]
		}
		return values, directive
	}
	if n := len(args); n > 0 {
		if slices.Contains(args, "--compose") && (args[n-1] == "-f" || args[n-1] == "--file") {
			return completeComposeFiles(cmd, args, toComplete)
		}
		if fn, ok := c.buildValueFlag(args[n-1]); ok {
			if fn == nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return fn(cmd, args, toComplete)
		}
	}
	if strings.HasPrefix(toComplete, "-") {
		// cobra offers the command's own flags itself.
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	if !slices.Contains(args, "--compose") {
		return nil, cobra.ShellCompDirectiveFilterDirs
	}
	// The project flags, sorted out as the build itself does, once docker
	// vault's own flags (and their values) are set aside.
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if f := cmd.Flags().Lookup(name); strings.HasPrefix(a, "--") && f != nil {
			if !hasValue && f.Value.Type() != "bool" {
				i++
			}
			continue
		}
		rest = append(rest, a)
	}
	ca, err := build.ParseComposeArgs(rest)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	p := c.load(cmd, compose.LoadOptions{
		Files: ca.Files, ProjectDir: ca.ProjectDir, EnvFiles: ca.EnvFiles, Profiles: ca.Profiles, ProjectName: ca.Name,
	})
	if p == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	given := ca.Services
	return withPrefix(serviceNames(p), toComplete, given...), cobra.ShellCompDirectiveNoFileComp
}

// imageNames are the engine's tagged images (repo:tag), for scan --image.
func (c *completer) imageNames(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if c.images == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	engine, err := c.images(cmd)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(completionContext(cmd), engineCompletionTimeout)
	defer cancel()
	res, err := engine.ImageList(ctx, client.ImageListOptions{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, img := range res.Items {
		for _, tag := range img.RepoTags {
			if tag != "<none>:<none>" {
				names = append(names, tag)
			}
		}
	}
	sort.Strings(names)
	return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// composeRunArgs completes up and compose, which parse their own flags:
// the value of a flag of docker vault's (its completion by name, as for
// every command), and compose's command name.
func (c *completer) composeRunArgs(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	flag := func(a string) *pflag.Flag {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			return cmd.Flags().Lookup(name)
		}
		if len(a) == 2 && a[0] == '-' {
			return cmd.Flags().ShorthandLookup(a[1:])
		}
		return nil
	}
	value := func(f *pflag.Flag, prefix, v string) ([]string, cobra.ShellCompDirective) {
		fn := c.flagCompletion(cmd, f.Name)
		if fn == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		values, directive := fn(cmd, args, v)
		for i := range values {
			values[i] = prefix + values[i]
		}
		return values, directive
	}
	if name, v, ok := strings.Cut(toComplete, "="); ok {
		if f := flag(name); f != nil {
			return value(f, name+"=", v)
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	command := ""
	for i := 0; i < len(args); i++ {
		f := flag(args[i])
		switch {
		case f != nil && f.Value.Type() != "bool" && !strings.Contains(args[i], "="):
			if i == len(args)-1 {
				return value(f, "", toComplete)
			}
			i++
		case command == "" && composecli.GlobalValueFlags[args[i]]:
			i++
		case command == "" && !strings.HasPrefix(args[i], "-"):
			command = args[i]
		}
	}
	if cmd.Name() == "compose" && command == "" && !strings.HasPrefix(toComplete, "-") {
		return slices.Clone(composeCommands), cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}
