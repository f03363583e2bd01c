package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/docker-vault/docker-vault/internal/swarm"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

type deployOptions struct {
	sync             syncOptions
	stack            string
	prune            bool
	resolveImage     string
	withRegistryAuth bool
	detach           bool
	quiet            bool
}

func newDeployCommand(dockerCLI command.Cli) *cobra.Command {
	var options deployOptions
	cmd := &cobra.Command{
		Use:   "deploy [OPTIONS] STACK",
		Short: "Sync secrets, then deploy a stack using their current versions",
		Long: `Run sync, then 'docker stack deploy' of the same compose files with each external
secret's name set to its current versioned swarm secret, so that a later deploy never
reverts a rotation done by sync. --prune, --resolve-image, --with-registry-auth,
--detach and --quiet are passed to docker stack deploy.`,
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			options.stack = args[0]
			options.detach = !cmd.Flags().Changed("detach") || options.detach
			options.quiet, _ = cmd.Flags().GetBool("quiet")
			return runDeploy(cmd.Context(), dockerCLI, options)
		},
	}
	flags := cmd.Flags()
	addComposeFileFlags(flags, &options.sync.project.files, "compose-file")
	flags.StringVar(&options.sync.project.projectDir, "project-directory", "", "Alternate working directory")
	flags.StringArrayVar(&options.sync.project.envFiles, "env-file", nil, "Specify an alternate environment file")
	addVaultFlags(flags, &options.sync.vault)
	addSyncFlags(cmd, &options.sync)
	flags.BoolVar(&options.prune, "prune", false, "Prune services no longer referenced")
	flags.StringVar(&options.resolveImage, "resolve-image", "", `Resolve image: "always", "changed", "never"`)
	flags.BoolVar(&options.withRegistryAuth, "with-registry-auth", false, "Send registry auth to Swarm agents")
	flags.BoolVarP(&options.detach, "detach", "d", true, "Exit without waiting")
	// --quiet is stack deploy's and, once sync has one (its progress),
	// sync's too: one flag silences both, defined once.
	if flags.Lookup("quiet") == nil {
		flags.BoolVarP(&options.quiet, "quiet", "q", false, "Suppress progress output")
	}
	_ = flags.MarkHidden("restart")
	_ = flags.MarkHidden("watch")
	_ = flags.MarkHidden("stack")
	return cmd
}

func runDeploy(ctx context.Context, dockerCLI command.Cli, o deployOptions) error {
	o.sync.project.name = o.stack
	if o.sync.stack != "" && o.sync.stack != o.stack {
		return fmt.Errorf("--stack %s does not match the stack deployed, %s", o.sync.stack, o.stack)
	}
	o.sync.stack = o.stack
	if o.sync.watch > 0 {
		return errors.New("deploy does not take --watch: deploy once, then run `docker vault sync --watch`")
	}
	if err := o.sync.validate(); err != nil {
		return err
	}
	p, secrets, store, err := loadSyncTarget(ctx, o.sync.project, o.sync.vault)
	if errors.Is(err, errNothingToSync) {
		// Every secret is local (x-vault: false): a plain stack deploy.
		if o.sync.dryRun {
			fmt.Fprintf(dockerCLI.Out(), "no Key Vault-backed secret to sync: would run docker stack deploy %s\n", o.stack)
			return nil
		}
		return stackDeploy(ctx, dockerCLI, p.ComposeFiles, nil, o)
	}
	if err != nil {
		return err
	}
	res, err := syncOnce(ctx, dockerCLI, p, secrets, store, o.sync)
	if err != nil {
		if res != nil {
			_ = printSync(dockerCLI.Err(), "", res, err)
		}
		if isPartial(err) {
			return fmt.Errorf("stack %s was not deployed: %w", o.stack, err)
		}
		return err
	}
	override, err := renderOverride(secrets, res.Swarm, composeVersion(p.ComposeFiles))
	if err != nil {
		return err
	}
	if o.sync.dryRun {
		if err := printSync(dockerCLI.Out(), o.sync.format, res, nil); err != nil {
			return err
		}
		fmt.Fprintf(dockerCLI.Out(), "would run docker stack deploy %s with this override of the external secrets' names:\n%s", o.stack, override)
		return nil
	}
	if err := printSync(dockerCLI.Err(), "", res, nil); err != nil {
		return err
	}
	return stackDeploy(ctx, dockerCLI, p.ComposeFiles, override, o)
}

// renderOverride is a compose file that only sets the name of each external
// secret to its current versioned swarm secret. It holds names, never
// values, and goes to `docker stack deploy -c -` on stdin.
func renderOverride(secrets []mapping.Secret, plan swarm.Plan, version string) ([]byte, error) {
	// Not just any action naming the secret: a prune that Apply had to
	// keep (a task still used it) names an old version, and deploying it
	// would revert the rotation.
	current := plan.Current()
	doc := struct {
		Version string                    `yaml:"version,omitempty"`
		Secrets map[string]map[string]any `yaml:"secrets"`
	}{Version: version, Secrets: map[string]map[string]any{}}
	for _, s := range secrets {
		if s.Kind != mapping.External || s.Local {
			continue // a local external secret keeps the name the compose file gives it
		}
		name, ok := current[s.Name]
		if !ok {
			return nil, fmt.Errorf("internal error: no swarm secret for %s after sync", s.Key)
		}
		doc.Secrets[s.Key] = map[string]any{"external": true, "name": name}
	}
	return yaml.Marshal(doc)
}

// composeVersion is the `version:` the compose files declare, if any:
// docker stack deploy refuses files whose versions differ, so the override
// must carry the same.
func composeVersion(files []string) string {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var top struct {
			Version string `yaml:"version"`
		}
		if yaml.Unmarshal(b, &top) == nil && top.Version != "" {
			return top.Version
		}
	}
	return ""
}

// stackDeploy runs `docker stack deploy` through the docker CLI that ran
// the plugin, with the same global options (--context, -H, --config ...).
func stackDeploy(ctx context.Context, dockerCLI command.Cli, files []string, override []byte, o deployOptions) error {
	args := globalArgs()
	args = append(args, "stack", "deploy")
	for _, f := range files {
		args = append(args, "--compose-file", f)
	}
	if override != nil {
		args = append(args, "--compose-file", "-")
	}
	if o.prune {
		args = append(args, "--prune")
	}
	if o.resolveImage != "" {
		args = append(args, "--resolve-image", o.resolveImage)
	}
	if o.withRegistryAuth {
		args = append(args, "--with-registry-auth")
	}
	if !o.detach {
		args = append(args, "--detach=false")
	}
	if o.quiet {
		args = append(args, "--quiet")
	}
	args = append(args, o.stack)
	c := runner.Cmd{Name: "docker stack deploy", Path: dockerBinary(), Args: args, Stdout: dockerCLI.Out(), Stderr: dockerCLI.Err()}
	if override != nil {
		c.Stdin = bytes.NewReader(override)
	}
	return childStatus(runner.Run(ctx, c))
}
