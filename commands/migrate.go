package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/convert"
	"github.com/docker-vault/docker-vault/internal/imageinfo"
	"github.com/docker-vault/docker-vault/internal/migrate"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/spf13/cobra"
)

// exitCheckChanges is --check's exit status when migrate would change
// something, so that CI can tell it from an error (1).
const exitCheckChanges = 3

type migrateOptions struct {
	project   projectOptions
	vault     vaultOptions
	to        string
	push      bool
	overwrite bool
	dryRun    bool
	check     bool
	format    string
	include   []string
	exclude   []string
	pull      string
	noWrap    bool
	// allowReported: --check passes with secrets still reported in place.
	allowReported bool
}

func newMigrateCommand(dockerCLI command.Cli) *cobra.Command {
	var options migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate [OPTIONS] [COMPOSE FILE...]",
		Short: "Move secrets out of environment variables into compose secrets",
		Long: `Find the secrets a compose project holds in environment variables (literals, ${VAR}
from .env or the shell, env_file lines) and rewrite them into compose secrets: the
variable becomes VAR_FILE=/run/secrets/NAME where the image reads it, the service lists
the secret, and the value goes to ./secrets/NAME (--to file) or Key Vault (--to external
or environment, with --push). Where the image reads no VAR_FILE, the service's start
is wrapped in /bin/sh, which exports VAR from the secret file (--no-wrap reports such
variables instead).
What an image reads is learnt from the image in the engine (pulled per --pull).
Every profile is read unless --profile is given. Secrets that cannot be moved safely
are reported with the reason.

--to external and --to environment also convert the project's file: secrets (not
those marked x-vault: false). --to environment declares each secret as
"NAME: {environment: VAR}", which ` + "`docker vault run -- docker compose up`" + ` fills from
Key Vault. VAR is the secret's name upper-cased; SECRET_ goes in front of a variable
docker, compose or the shell reads (DOCKER_*, COMPOSE_*, PATH...), and _SECRET after
one the project uses already. Nothing is written to disk; without --push, Key Vault
must hold every value already. Compose cannot copy such a secret into a read_only
service (its variables are reported, its file secrets kept), and docker stack deploy
refuses them: a project deployed with ` + "`docker vault deploy`" + ` keeps external secrets and
runs locally with ` + "`docker vault up`" + `.`,
		Args: cli.RequiresMinArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			options.project.files = append(options.project.files, args...)
			return runMigrate(cmd.Context(), dockerCLI, options)
		},
	}
	flags := cmd.Flags()
	addProjectFlags(flags, &options.project)
	addVaultFlags(flags, &options.vault)
	flags.StringVar(&options.to, "to", "file", "file|external|environment")
	flags.BoolVar(&options.push, "push", false, "Store the values in Key Vault")
	flags.BoolVar(&options.overwrite, "overwrite", false, "With --push: replace values that differ")
	flags.BoolVar(&options.dryRun, "dry-run", false, "Print the diffs and change nothing")
	flags.BoolVar(&options.check, "check", false, "Exit 3 if migrate would change anything")
	flags.StringVar(&options.format, "format", "", formatHelp)
	flags.StringArrayVar(&options.include, "include", nil, "Treat VAR or SERVICE.VAR as a secret")
	flags.StringArrayVar(&options.exclude, "exclude", nil, "Never treat VAR or SERVICE.VAR as a secret")
	flags.StringVar(&options.pull, "pull", "missing", "When to pull images")
	flags.BoolVar(&options.noWrap, "no-wrap", false, "Report instead of wrapping the entrypoint")
	flags.BoolVar(&options.allowReported, "allow-reported", false, "With --check: pass with reported secrets")
	return cmd
}

func runMigrate(ctx context.Context, dockerCLI command.Cli, o migrateOptions) error {
	to := migrate.Target(o.to)
	switch {
	case to != migrate.ToFile && to != migrate.ToExternal && to != migrate.ToEnvironment:
		return fmt.Errorf(`invalid --to %q: use "file", "external" or "environment"`, o.to)
	case o.push && to == migrate.ToFile:
		return errors.New("--push goes with --to external or --to environment")
	case to == migrate.ToExternal && !o.push && !o.dryRun && !o.check:
		// Without --push the values would be removed from the project and
		// stored nowhere.
		return errors.New("--to external needs --push to store the values in Key Vault (or use --dry-run to see the rewrite)")
	case o.allowReported && !o.check:
		return errors.New("--allow-reported goes with --check")
	}
	if err := checkFormat(o.format, &migrateContext{}); err != nil {
		return err
	}
	pull, err := imageinfo.ParsePull(o.pull)
	if err != nil {
		return err
	}
	lo, err := o.project.loadOptions()
	if err != nil {
		return err
	}
	if len(lo.Profiles) == 0 {
		// Services behind a profile hold secrets too: read them all.
		lo.Profiles = []string{"*"}
	}
	var progress io.Writer
	if dockerCLI.Err().IsTerminal() {
		// Pull progress, docker's way: on stderr, and only on a terminal.
		progress = dockerCLI.Err()
	}
	images := imageinfo.NewEngine(dockerCLI.Client(), imageinfo.EngineOptions{
		Pull:     pull,
		Progress: progress,
		RegistryAuth: func(_ context.Context, ref string) (string, error) {
			return command.RetrieveAuthTokenFromImage(dockerCLI.ConfigFile(), ref)
		},
	})
	run, err := migrate.Run(ctx, migrate.RunOptions{
		Load:         lo,
		Detect:       compose.DetectOptions{Include: o.include, Exclude: o.exclude, NoWrap: o.noWrap},
		Plan:         migrate.Options{To: to, Images: images},
		DryRun:       o.dryRun || o.check,
		Push:         o.push,
		Overwrite:    o.overwrite,
		OpenVault:    o.vault.open,
		VaultContext: o.vault.withTimeout,
		Log:          dockerCLI.Err(),
	})
	if err != nil {
		return err
	}
	plan := run.Plan
	res := migrateResult{Findings: plan.Items, Files: plan.Files, Secrets: plan.Secrets, Pushed: run.Pushed, DryRun: o.dryRun || o.check,
		VaultCheck: run.VaultCheck, Converted: run.Converted, Variables: plan.Variables, Profiles: readProfiles(run.Project.Compose, lo.Profiles), Stale: plan.Stale,
		Warnings: append(slices.Clone(run.Report.Warnings), plan.Warnings...), mask: run.Mask}
	if res.Findings == nil {
		res.Findings = []migrate.Item{}
	}
	if res.Files == nil {
		res.Files = []*migrate.File{}
	}
	if err := printMigrate(dockerCLI.Out(), o, &res); err != nil {
		return err
	}
	if o.check {
		return checkStatus(plan, o.allowReported)
	}
	if !o.overwrite {
		// The push this dry run stands for would be refused.
		if err := migrate.Conflicts(run.VaultCheck); err != nil {
			return fmt.Errorf("the push would fail: %w", err)
		}
	}
	return nil
}

// checkStatus is --check's verdict: exit 3 when migrate would change
// something, or when a secret is still reported in place (a reported
// secret is still a secret in the file) unless allowReported.
func checkStatus(plan *migrate.Plan, allowReported bool) error {
	reported := plan.Counts()[migrate.Reported]
	switch {
	case plan.Changed():
		return cli.StatusError{StatusCode: exitCheckChanges, Status: "migrate would change the project (see above)"}
	case reported > 0 && !allowReported:
		return cli.StatusError{StatusCode: exitCheckChanges, Status: fmt.Sprintf("%d secrets are reported in place (see above); --allow-reported accepts them", reported)}
	}
	return nil
}

// readProfiles names the profiles migrate read: every profile the
// project's services use when all were active ("*"), else the ones given.
func readProfiles(p *types.Project, given []string) []string {
	if !slices.Contains(given, "*") {
		return given
	}
	seen := map[string]bool{}
	for _, svcs := range []types.Services{p.Services, p.DisabledServices} {
		for _, s := range svcs {
			for _, pr := range s.Profiles {
				seen[pr] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

type migrateResult struct {
	Findings []migrate.Item  `json:"findings"`
	Files    []*migrate.File `json:"files"`
	Secrets  []string        `json:"secrets,omitempty"`
	Pushed   []string        `json:"pushed,omitempty"`
	// Converted are the file: secrets --to external turned into external
	// ones (--to environment: into environment ones).
	Converted []convert.Source `json:"converted,omitempty"`
	// Variables are, with --to environment, the variable each secret is
	// filled from, by secret.
	Variables map[string]string `json:"variables,omitempty"`
	// VaultCheck is what --dry-run --push found in Key Vault.
	VaultCheck []migrate.PushCheck `json:"vaultCheck,omitempty"`
	Warnings   []string            `json:"warnings,omitempty"`
	// Stale are the services whose entrypoint wrapper no longer matches
	// their image (its entrypoint or cmd changed): migrate refreshes them.
	Stale []string `json:"stale,omitempty"`
	// Profiles are the profiles migrate read.
	Profiles []string `json:"profiles,omitempty"`
	DryRun   bool     `json:"dryRun,omitempty"`
	// mask blanks the secret values found out of diffs.
	mask *migrate.Mask
}

// migrateTable is migrate's default table of findings.
const migrateTable = "table {{.Service}}\t{{.Variable}}{{if .FileVariable}} -> {{.FileVariable}}{{end}}\t{{.Source}}\t{{.Action}}\t{{.Via}}\t{{.Secret}}\t{{.Reason}}"

var migrateHeader = formatter.SubHeaderContext{
	"Service":      "SERVICE",
	"Variable":     "VARIABLE",
	"FileVariable": "FILE VARIABLE",
	"Source":       "SOURCE",
	"Action":       "ACTION",
	"Via":          "VIA",
	"Secret":       "SECRET",
	"Reason":       "REASON",
	"VaultSecret":  "VAULT SECRET",
	"VaultAction":  "VAULT",
}

// migrateContext is one row of migrate for the formatter: a variable it
// moved or reported, or a file secret --to external converted. Its methods
// are the template fields and the JSON keys. Never a value.
type migrateContext struct {
	formatter.HeaderContext
	item        migrate.Item
	vaultSecret string
	vaultAction string
}

func (c *migrateContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }
func (c *migrateContext) Service() string              { return c.item.Service }
func (c *migrateContext) Variable() string             { return c.item.Variable }
func (c *migrateContext) FileVariable() string         { return c.item.FileVariable }
func (c *migrateContext) Source() string               { return c.item.Source }
func (c *migrateContext) Action() string               { return string(c.item.Action) }
func (c *migrateContext) Via() string                  { return c.item.Via }
func (c *migrateContext) Secret() string               { return c.item.Secret }
func (c *migrateContext) Reason() string               { return c.item.Reason }

// VaultSecret is the Key Vault secret a --push stores the secret in, when
// the run checked Key Vault.
func (c *migrateContext) VaultSecret() string { return c.vaultSecret }

// VaultAction is what the push finds in Key Vault: create, update,
// unchanged or conflict.
func (c *migrateContext) VaultAction() string { return c.vaultAction }

// migrateConvert is a converted file secret's Action.
const migrateConvert = "convert"

// migrateRows are the findings migrate moved or reported (not the skipped
// ones), then, except in the default table (which says them in a line of
// their own), the file secrets --to external converts.
func migrateRows(res *migrateResult, table bool) []*migrateContext {
	checks := map[string]migrate.PushCheck{}
	for _, c := range res.VaultCheck {
		checks[c.Secret] = c
	}
	var rows []*migrateContext
	for _, it := range res.Findings {
		if it.Action == migrate.Skipped {
			continue
		}
		c := checks[it.Secret]
		rows = append(rows, &migrateContext{item: it, vaultSecret: c.KVName, vaultAction: string(c.Action)})
	}
	if table {
		return rows
	}
	for _, cv := range res.Converted {
		c := checks[cv.Secret]
		rows = append(rows, &migrateContext{
			item:        migrate.Item{Source: cv.Path, Secret: cv.Secret, Action: migrateConvert},
			vaultSecret: cv.KVName, vaultAction: string(c.Action),
		})
	}
	return rows
}

// printMigrate prints the rows through docker's formatter; the default
// table (printed only when there are rows) is followed by the warnings,
// the Key Vault check, the diffs of a dry run and the summary line.
func printMigrate(out io.Writer, o migrateOptions, res *migrateResult) error {
	table := isDefaultFormat(o.format)
	rows := migrateRows(res, table)
	if !table || len(rows) > 0 {
		header := migrateHeader
		if table {
			header = withoutHeaders(header, "FileVariable")
		}
		if err := writeRows(out, newFormat(o.format, migrateTable, "", false), header, rows); err != nil {
			return err
		}
	}
	if !table {
		return nil
	}
	n := map[migrate.Status]int{}
	for _, it := range res.Findings {
		n[it.Action]++
	}
	{
		for _, warn := range res.Warnings {
			fmt.Fprintln(out, "warning:", warn)
		}
		if len(res.Stale) > 0 {
			verb := "refreshed"
			if res.DryRun {
				verb = "would be refreshed"
			}
			fmt.Fprintf(out, "entrypoint wrappers out of date (the image's entrypoint or cmd changed), %s: %s\n", verb, strings.Join(res.Stale, ", "))
		}
		if len(res.Profiles) > 0 {
			fmt.Fprintln(out, "profiles read:", strings.Join(res.Profiles, ", "))
		}
		if len(res.Converted) > 0 {
			names := make([]string, len(res.Converted))
			for i, c := range res.Converted {
				names[i] = c.Secret + " -> " + c.KVName
			}
			verb, kind := "converted", "external"
			if res.DryRun {
				verb = "would convert"
			}
			if migrate.Target(o.to) == migrate.ToEnvironment {
				kind = "environment"
			}
			fmt.Fprintf(out, "%s %d file secrets to %s ones: %s\n", verb, len(names), kind, strings.Join(names, ", "))
		}
		if len(res.Variables) > 0 {
			var names []string
			for _, k := range slices.Sorted(maps.Keys(res.Variables)) {
				names = append(names, k+" from $"+res.Variables[k])
			}
			fmt.Fprintf(out, "secrets `docker vault run` fills from Key Vault through variables: %s\n", strings.Join(names, ", "))
		}
		if len(res.VaultCheck) > 0 {
			fmt.Fprintln(out, "Key Vault, as the push would find it:")
			if err := printPush(out, "", res.VaultCheck, pushDryRun); err != nil {
				return err
			}
		}
		if o.dryRun {
			for _, f := range res.Files {
				if err := writeDiff(out, f, res.mask); err != nil {
					return err
				}
			}
		}
		wrapped := ""
		if w := viaCount(res.Findings, compose.ViaEntrypoint); w > 0 {
			wrapped = fmt.Sprintf(" (%d through an entrypoint wrapper)", w)
		}
		switch {
		case len(res.Files) == 0 && len(res.Pushed) == 0:
			fmt.Fprintf(out, "nothing to migrate: %d migrated already or not secrets, %d reported\n", n[migrate.Skipped], n[migrate.Reported])
		case res.DryRun:
			fmt.Fprintf(out, "would migrate %d variables into %d secrets%s, report %d; %d files would change (nothing written)\n", n[migrate.Migrated], len(res.Secrets), wrapped, n[migrate.Reported], len(res.Files))
		default:
			fmt.Fprintf(out, "migrated %d variables into %d secrets%s, reported %d; wrote %d files", n[migrate.Migrated], len(res.Secrets), wrapped, n[migrate.Reported], len(res.Files))
			if len(res.Pushed) > 0 {
				fmt.Fprintf(out, ", stored %d values in Key Vault", len(res.Pushed))
			}
			fmt.Fprintln(out)
		}
	}
	return nil
}

// viaCount counts the migrated findings that moved the way via says.
func viaCount(items []migrate.Item, via compose.Via) int {
	n := 0
	for _, it := range items {
		if it.Action == migrate.Migrated && it.Via == string(via) {
			n++
		}
	}
	return n
}

// writeDiff prints one file's diff, values masked, under its path
// relative to the current directory when it is below it.
func writeDiff(out io.Writer, f *migrate.File, mask *migrate.Mask) error {
	name := f.Path
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, f.Path); err == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
	}
	return migrate.WriteDiff(out, f, name, mask)
}
