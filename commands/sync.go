package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/secretfile"
	"github.com/docker-vault/docker-vault/internal/swarm"
	"github.com/docker-vault/docker-vault/internal/syncer"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/spf13/cobra"
)

type syncOptions struct {
	project  projectOptions
	vault    vaultOptions
	dryRun   bool
	format   string
	wait     bool
	keep     int
	adopt    bool
	parallel int
	restart  bool
	watch    time.Duration
	// stack scopes the services sync moves: the compose project name
	// unless set; allStacks lifts the scope.
	stack      string
	allStacks  bool
	forceFiles []string
	// quietApply drops the step-by-step log: --watch prints its own line
	// per change instead.
	quietApply bool
	// quiet silences progress (syncProgress).
	quiet bool
}

func newSyncCommand(dockerCLI command.Cli) *cobra.Command {
	var options syncOptions
	cmd := &cobra.Command{
		Use:   "sync [OPTIONS]",
		Short: "Make Docker hold the project's current Key Vault values",
		Long: `Make Docker hold the current Key Vault value of every secret the compose project declares:
external secrets become versioned swarm secrets (<name>_<version>), rotated by updating the
services that use them; file secrets are written atomically to their file: paths.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSync(cmd.Context(), dockerCLI, options)
		},
	}
	flags := cmd.Flags()
	addProjectFlags(flags, &options.project)
	addVaultFlags(flags, &options.vault)
	addSyncFlags(cmd, &options)
	return cmd
}

func addSyncFlags(cmd *cobra.Command, o *syncOptions) {
	flags := cmd.Flags()
	flags.BoolVar(&o.dryRun, "dry-run", false, "Print the plan and change nothing")
	flags.StringVar(&o.format, "format", "", formatHelp)
	flags.BoolVar(&o.wait, "wait", false, "Wait for updated services to converge")
	flags.IntVar(&o.keep, "keep", 1, "Old versions to keep per secret")
	flags.BoolVar(&o.adopt, "adopt", false, "Take over unmanaged same-name secrets")
	flags.IntVar(&o.parallel, "parallel", 8, "Key Vault values read at once")
	flags.BoolVar(&o.restart, "restart", false, "Restart containers that use a changed file")
	flags.DurationVar(&o.watch, "watch", 0, "Sync again at this interval (at least 10s)")
	flags.StringVar(&o.stack, "stack", "", "Stack to update (default: the project name)")
	flags.BoolVar(&o.allStacks, "all-stacks", false, "Also update services of other stacks")
	flags.StringArrayVar(&o.forceFiles, "force-file", nil, "Let sync take over this secret file")
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress progress output")
}

// minWatch is the shortest --watch interval: every round lists the whole
// vault, and Key Vault throttles a vault's callers together.
const minWatch = 10 * time.Second

// syncResult is what one sync did or planned.
type syncResult = syncer.Result

func runSync(ctx context.Context, dockerCLI command.Cli, o syncOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	p, secrets, store, err := loadSyncTarget(ctx, o.project, o.vault)
	if err != nil {
		return err
	}
	if o.watch == 0 {
		res, err := syncOnce(ctx, dockerCLI, p, secrets, store, o)
		if res != nil {
			if werr := printSync(dockerCLI.Out(), o.format, res, err); werr != nil && err == nil {
				err = werr
			}
		}
		return err
	}
	return watch(ctx, dockerCLI, p, secrets, store, o)
}

// watch syncs every o.watch (with jitter, so many hosts watching one vault
// do not list it in step) until the context ends (SIGINT or SIGTERM to the
// docker CLI). It prints one line per change, and nothing when nothing
// changed; each round lists the vault once and reads no unchanged value.
func watch(ctx context.Context, dockerCLI command.Cli, p *types.Project, secrets []mapping.Secret, store keyvault.Store, o syncOptions) error {
	o.quietApply = true
	for {
		res, err := syncOnce(ctx, dockerCLI, p, secrets, store, o)
		now := time.Now().Format(time.RFC3339)
		if ctx.Err() != nil {
			return nil
		}
		// What was applied, also when some secrets failed alone, then the
		// failure. After any other failure the plan's rows may not have
		// been carried out; the next round finishes them.
		if res != nil && (err == nil || isPartial(err)) {
			for _, line := range changeLines(res) {
				fmt.Fprintf(dockerCLI.Err(), "%s %s\n", now, line)
			}
		}
		if err != nil {
			fmt.Fprintf(dockerCLI.Err(), "%s sync failed: %v\n", now, err)
		}
		jitter := time.Duration(rand.Int64N(int64(o.watch)/5+1)) - o.watch/10
		if progress := syncProgress(dockerCLI, o.quiet); progress != nil {
			// A line per round on a terminal, also when nothing changed,
			// so that a quiet watch shows it is alive.
			fmt.Fprintf(progress, "%s %s\n", now, syncer.WatchLine(res, err, o.watch+jitter))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.watch + jitter):
		}
	}
}

// changeLines describes each change a sync made, one line each.
func changeLines(res *syncResult) []string {
	var lines []string
	for _, a := range res.Swarm.Actions {
		switch a.Kind {
		case swarm.ActionCreate, swarm.ActionRotate, swarm.ActionPrune:
			// Not ActionKeep: nothing changed, and a version still in use
			// would be reported again every round until its task is gone.
			// Not ActionRelabel: no value changed, only what docker vault
			// recorded of it.
			lines = append(lines, strings.TrimSuffix(swarm.Plan{Actions: []swarm.Action{a}}.String(), "\n"))
		}
	}
	for _, c := range res.Files {
		if c.Action.Changes() {
			lines = append(lines, fmt.Sprintf("%-9s %s -> %s (version %s)", c.Action, c.Secret, c.Path, short(c.Version)))
		}
	}
	if len(res.Containers) > 0 {
		if res.Restarted {
			lines = append(lines, "restarted "+strings.Join(res.Containers, ", "))
		} else {
			lines = append(lines, "still on the old value (use --restart): "+strings.Join(res.Containers, ", "))
		}
	}
	return lines
}

// errNothingToSync is a project none of whose secrets is Key Vault-backed.
var errNothingToSync = errors.New("the project declares no Key Vault-backed secret (an external secret, or a file secret marked with x-vault): run `docker vault migrate` first")

// loadSyncTarget loads the project, maps its secrets and opens its vault.
// A project with no Key Vault-backed secret is errNothingToSync, before any
// vault is opened.
func loadSyncTarget(ctx context.Context, po projectOptions, vo vaultOptions) (*types.Project, []mapping.Secret, keyvault.Store, error) {
	p, err := po.load(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	secrets, err := mapping.Secrets(p)
	if err != nil {
		return p, nil, nil, err
	}
	if !slices.ContainsFunc(secrets, func(s mapping.Secret) bool { return !s.Local }) {
		return p, secrets, nil, errNothingToSync
	}
	projectURL, err := mapping.VaultURL(p)
	if err != nil {
		return nil, nil, nil, err
	}
	store, err := vo.open(ctx, projectURL)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, secrets, store, nil
}

func syncOnce(ctx context.Context, dockerCLI command.Cli, p *types.Project, secrets []mapping.Secret, store keyvault.Store, o syncOptions) (*syncResult, error) {
	ctx, cancel := o.vault.withTimeout(ctx)
	defer cancel()
	// Relative to the current directory, as docker resolves -f.
	forced := make([]string, 0, len(o.forceFiles))
	for _, f := range o.forceFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		forced = append(forced, abs)
	}
	stack := o.stack
	if stack == "" {
		stack = p.Name
	}
	return syncer.Run(ctx, dockerCLI.Client(), store, secrets, syncer.Options{
		Stack: stack, AllStacks: o.allStacks, Keep: o.keep, Adopt: o.adopt, Wait: o.wait,
		Parallel: o.parallel, DryRun: o.dryRun, Restart: o.restart,
		ProjectDir: p.WorkingDir, ForceFiles: forced, NonRoot: secretfile.NonRootServices(p),
		Log: progressLog(dockerCLI, o), Progress: readProgress(dockerCLI, o),
		WaitProgress: syncProgress(dockerCLI, o.quiet),
	})
}

// isPartial tells whether err is a sync that applied what it could.
func isPartial(err error) bool {
	var sp *swarm.PartialError
	var fp *secretfile.PartialError
	return errors.As(err, &sp) || errors.As(err, &fp)
}

// progressLog is where apply steps are logged: stderr, so that stdout stays
// the plan (or JSON) a script reads.
func progressLog(dockerCLI command.Cli, o syncOptions) io.Writer {
	if o.dryRun || o.quietApply {
		return io.Discard
	}
	return dockerCLI.Err()
}

// readProgress shows, on a terminal, how many Key Vault values of a long
// read are in: one line rewritten in place, ended when all are read. Off a
// terminal (CI logs, --watch) it shows nothing: the apply log says what
// changed.
func readProgress(dockerCLI command.Cli, o syncOptions) func(done, total int) {
	if o.watch > 0 || o.quietApply || syncProgress(dockerCLI, o.quiet) == nil {
		return nil
	}
	return func(done, total int) {
		if total < 10 {
			return // a short read needs no progress
		}
		fmt.Fprintf(dockerCLI.Err(), "\rreading values from Key Vault: %d/%d", done, total)
		if done == total {
			fmt.Fprintln(dockerCLI.Err())
		}
	}
}

// syncTable is sync's default table: version ids cut to 8 characters.
const syncTable = "table {{.Secret}}\t{{.Action}}\t{{.Docker}}\t{{.Version}}\t{{.Detail}}"

var syncHeader = formatter.SubHeaderContext{
	"Secret":        "SECRET",
	"Action":        "ACTION",
	"Docker":        "DOCKER",
	"Version":       "VERSION",
	"Detail":        "DETAIL",
	"Kind":          "KIND",
	"VaultSecret":   "VAULT SECRET",
	"SwarmSecret":   "SWARM SECRET",
	"Path":          "PATH",
	"Services":      "SERVICES",
	"OtherServices": "OTHER SERVICES",
	"Reason":        "REASON",
	"Vault":         "VAULT",
}

// syncContext is one row of a sync for the formatter, a swarm secret's
// action or a secret file's change: its methods are the template fields
// and the JSON keys. Never a value.
type syncContext struct {
	formatter.HeaderContext
	trunc bool
	vault string
	a     *swarm.Action
	f     *secretfile.Change
}

func (c *syncContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }

// Kind is "swarm" for a swarm secret, "file" for a secret file.
func (c *syncContext) Kind() string {
	if c.a != nil {
		return "swarm"
	}
	return "file"
}

func (c *syncContext) Secret() string {
	if c.a != nil {
		return c.a.Secret
	}
	return c.f.Secret
}

func (c *syncContext) Action() string {
	if c.a != nil {
		return string(c.a.Kind)
	}
	return string(c.f.Action)
}

// Docker is what Docker holds: the swarm secret's name or the file's path.
func (c *syncContext) Docker() string {
	if c.a != nil {
		return c.a.Name
	}
	return c.f.Path
}

// Version is the Key Vault version, its first 8 characters in the table.
func (c *syncContext) Version() string {
	var v string
	if c.a != nil {
		v = c.a.Version
	} else {
		v = c.f.Version
	}
	if c.trunc {
		return short(v)
	}
	return v
}

// Detail is the services a rotation moves, then the reason.
func (c *syncContext) Detail() string {
	if c.a == nil || len(c.a.Services) == 0 {
		return c.Reason()
	}
	return strings.TrimSpace("services: " + strings.Join(c.a.Services, ", ") + " " + c.a.Reason)
}

func (c *syncContext) Reason() string {
	if c.a != nil {
		return c.a.Reason
	}
	return c.f.Reason
}

func (c *syncContext) VaultSecret() string {
	if c.a != nil {
		return c.a.KVName
	}
	return ""
}

func (c *syncContext) SwarmSecret() string {
	if c.a != nil {
		return c.a.Name
	}
	return ""
}

func (c *syncContext) Path() string {
	if c.f != nil {
		return c.f.Path
	}
	return ""
}

func (c *syncContext) Services() []string {
	if c.a != nil {
		return c.a.Services
	}
	return nil
}

func (c *syncContext) OtherServices() []string {
	if c.a != nil {
		return c.a.Others
	}
	return nil
}

func (c *syncContext) Vault() string { return c.vault }

// printSync prints the plan's rows through docker's formatter, then, for
// the default table, what they amounted to. A failed sync (failure
// non-nil) prints the plan's rows, if any, but no summary: the error, on
// stderr, is the summary.
func printSync(out io.Writer, format string, res *syncResult, failure error) error {
	if err := checkSyncFormat(format); err != nil {
		return err
	}
	if failure != nil {
		res.Error = failure.Error()
	}
	table := isDefaultFormat(format)
	if failure != nil && len(res.Swarm.Actions) == 0 && len(res.Files) == 0 {
		return nil
	}
	f := newFormat(format, syncTable, "", false)
	rows := make([]*syncContext, 0, len(res.Swarm.Actions)+len(res.Files))
	for i := range res.Swarm.Actions {
		rows = append(rows, &syncContext{trunc: f.IsTable(), vault: res.Vault, a: &res.Swarm.Actions[i]})
	}
	for i := range res.Files {
		rows = append(rows, &syncContext{trunc: f.IsTable(), vault: res.Vault, f: &res.Files[i]})
	}
	if err := writeRows(out, f, syncHeader, rows); err != nil {
		return err
	}
	if failure != nil || !table {
		return nil
	}
	changes := res.Changes()
	switch {
	case res.DryRun:
		fmt.Fprintf(out, "dry run: %d changes planned, nothing changed\n", changes)
	case changes == 0:
		fmt.Fprintln(out, "everything is up to date")
	default:
		fmt.Fprintf(out, "%d changes applied\n", changes)
	}
	switch {
	case len(res.Containers) == 0:
	case res.Restarted:
		fmt.Fprintf(out, "restarted: %s\n", strings.Join(res.Containers, ", "))
	case res.DryRun:
		fmt.Fprintf(out, "containers that would need a restart to see the new values: %s\n", strings.Join(res.Containers, ", "))
	default:
		fmt.Fprintf(out, "containers still using the old value (rerun with --restart, or `docker compose up -d --force-recreate`): %s\n", strings.Join(res.Containers, ", "))
	}
	return nil
}

// validate checks the flags sync and deploy share, before anything changes.
func (o syncOptions) validate() error {
	switch {
	case o.keep < 0:
		return fmt.Errorf("invalid --keep %d: must be 0 or more", o.keep)
	case o.parallel < 1:
		return fmt.Errorf("invalid --parallel %d: must be 1 or more", o.parallel)
	case o.watch < 0 || (o.watch > 0 && o.watch < minWatch):
		return fmt.Errorf("invalid --watch %s: must be at least %s (every round lists the whole vault)", o.watch, minWatch)
	case o.watch > 0 && o.dryRun:
		return errors.New("--watch and --dry-run cannot be combined")
	case o.allStacks && o.stack != "":
		return errors.New("--stack and --all-stacks cannot be combined")
	}
	if err := o.vault.validate(); err != nil {
		return err
	}
	return checkSyncFormat(o.format)
}

func checkSyncFormat(format string) error {
	return checkFormat(format, &syncContext{a: &swarm.Action{}}, &syncContext{f: &secretfile.Change{}})
}

func short(v string) string {
	if len(v) > 8 {
		return v[:8]
	}
	return v
}
