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
	"text/tabwriter"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/convert"
	"github.com/docker-vault/docker-vault/internal/imageinfo"
	"github.com/docker-vault/docker-vault/internal/migrate"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
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
--push). Where the image reads no VAR_FILE, the service's start is wrapped in /bin/sh,
which exports VAR from the secret file (--no-wrap reports such variables instead).
What an image reads is learnt from the image in the engine (pulled per --pull).
Every profile is read unless --profile is given. Secrets that cannot be moved safely
are reported with the reason.`,
		Args: cli.RequiresMinArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			options.project.files = append(options.project.files, args...)
			return runMigrate(cmd.Context(), dockerCLI, options)
		},
	}
	flags := cmd.Flags()
	addProjectFlags(flags, &options.project)
	addVaultFlags(flags, &options.vault)
	flags.StringVar(&options.to, "to", "file", `Where secrets go: "file" (secret files beside the project) or "external" (Key Vault, swarm secrets)`)
	flags.BoolVar(&options.push, "push", false, "With --to external: store the values in Key Vault")
	flags.BoolVar(&options.overwrite, "overwrite", false, "With --push: replace Key Vault secrets that hold another value")
	flags.BoolVar(&options.dryRun, "dry-run", false, "Print the diff of every file and change nothing")
	flags.BoolVar(&options.check, "check", false, "Change nothing; exit 3 when migrate would change something")
	flags.StringVar(&options.format, "format", "", "Print the result as 'json'")
	flags.StringArrayVar(&options.include, "include", nil, "Treat a variable as a secret (VAR or SERVICE.VAR)")
	flags.StringArrayVar(&options.exclude, "exclude", nil, "Never treat a variable as a secret (VAR or SERVICE.VAR)")
	flags.StringVar(&options.pull, "pull", "missing", `Pull images to read them: "missing", "never" or "always"`)
	flags.BoolVar(&options.noWrap, "no-wrap", false, "Report variables the image cannot read from a file instead of wrapping the service's entrypoint")
	flags.BoolVar(&options.allowReported, "allow-reported", false, "With --check: pass when secrets are only reported, not movable")
	return cmd
}

func runMigrate(ctx context.Context, dockerCLI command.Cli, o migrateOptions) error {
	to := migrate.Target(o.to)
	switch {
	case to != migrate.ToFile && to != migrate.ToExternal:
		return fmt.Errorf(`invalid --to %q: use "file" or "external"`, o.to)
	case o.push && to != migrate.ToExternal:
		return errors.New("--push goes with --to external")
	case to == migrate.ToExternal && !o.push && !o.dryRun && !o.check:
		// Without --push the values would be removed from the project and
		// stored nowhere.
		return errors.New("--to external needs --push to store the values in Key Vault (or use --dry-run to see the rewrite)")
	case o.format != "" && !strings.EqualFold(o.format, "json"):
		return fmt.Errorf("unsupported --format %q: use json", o.format)
	case o.allowReported && !o.check:
		return errors.New("--allow-reported goes with --check")
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
		VaultCheck: run.VaultCheck, Converted: run.Converted, Profiles: readProfiles(run.Project.Compose, lo.Profiles), Stale: plan.Stale,
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
	// ones.
	Converted []convert.Source `json:"converted,omitempty"`
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

func printMigrate(out io.Writer, o migrateOptions, res *migrateResult) error {
	return writeFormatted(out, o.format, res, func(out io.Writer) error {
		w := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
		n := map[migrate.Status]int{}
		for _, it := range res.Findings {
			n[it.Action]++
			if it.Action == migrate.Skipped {
				continue
			}
			if n[migrate.Migrated]+n[migrate.Reported] == 1 {
				fmt.Fprintln(w, "SERVICE\tVARIABLE\tSOURCE\tACTION\tVIA\tSECRET\tREASON")
			}
			variable := it.Variable
			if it.FileVariable != "" {
				variable += " -> " + it.FileVariable
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Service, variable, it.Source, it.Action, it.Via, it.Secret, it.Reason)
		}
		if err := w.Flush(); err != nil {
			return err
		}
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
			verb := "converted"
			if res.DryRun {
				verb = "would convert"
			}
			fmt.Fprintf(out, "%s %d file secrets to external ones: %s\n", verb, len(names), strings.Join(names, ", "))
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
		return nil
	})
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
