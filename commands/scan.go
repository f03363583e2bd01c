package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/fetch"
	"github.com/docker-vault/docker-vault/internal/scan"
	"github.com/docker-vault/docker-vault/internal/version"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// Exit statuses of scan: findings (3) are told from an error (1), which
// wins: a scan that could not read a file is incomplete.
const (
	exitScanFindings = 3
	exitScanError    = 1
)

// scanFormatHelp is docker's --format help with scan's own format.
var scanFormatHelp = strings.Replace(formatHelp, "'json':             Print in JSON format\n",
	"'json':             Print in JSON format\n'sarif':            Print SARIF 2.1.0 for code scanning\n", 1)

type scanOptions struct {
	project       projectOptions
	vault         vaultOptions
	paths         []string
	images        []string
	all           bool
	format        string
	quiet         bool
	baseline      string
	writeBaseline string
	noIgnore      bool
}

func newScanCommand(dockerCLI command.Cli) *cobra.Command {
	var options scanOptions
	cmd := &cobra.Command{
		Use:   "scan [OPTIONS] [PATH...]",
		Short: "Find secrets in compose files, env files, Dockerfiles and images",
		Long: `Find secrets held where they leak: environment: literals, .env and env files,
build args, x- blocks, URLs, commands, healthchecks and labels of a compose project,
ARG and ENV of the Dockerfiles it builds; with --image, an image's config and history.
Each finding names its place and the fix, never the value.

With no PATH and no -f, the compose project is found as compose finds it, with every
profile. PATHs are files and folders (compose files, .env*, Dockerfiles) read directly,
.gitignore respected (--no-ignore reads all); -f with PATHs scans both.

--vault reads the current values of the Key Vault secrets the project maps (--all:
every enabled secret of the vault) and finds them in the files and images scanned:
raw, base64, hex and URL-encoded. It needs the secrets get permission. Only --vault
turns this on: DOCKER_VAULT_URL or the project's x-vault url alone read nothing.

Exit status: 0 nothing found, 3 findings, 1 error (a file that could not be read
makes the scan incomplete: 1 even with findings).`,
		Args: cli.RequiresMinArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			options.paths = args
			return runScan(cmd.Context(), dockerCLI, options)
		},
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	addProjectFlags(flags, &options.project)
	addVaultFlags(flags, &options.vault)
	// Here --vault alone turns the value search on: $DOCKER_VAULT_URL does not.
	flags.Lookup("vault").Usage = "Search for the values of this vault"
	flags.StringArrayVar(&options.images, "image", nil, "Scan an image of the engine (repeatable)")
	flags.BoolVar(&options.all, "all", false, "With --vault: every secret of the vault")
	flags.StringVar(&options.format, "format", "", scanFormatHelp)
	flags.BoolVarP(&options.quiet, "quiet", "q", false, "Only display fingerprints")
	flags.StringVar(&options.baseline, "baseline", "", "Accept the findings this file lists")
	flags.StringVar(&options.writeBaseline, "write-baseline", "", "Write the findings to this file, and pass")
	flags.BoolVar(&options.noIgnore, "no-ignore", false, "Read what .gitignore ignores")
	return cmd
}

func runScan(ctx context.Context, dockerCLI command.Cli, o scanOptions) error {
	sarif := strings.TrimSpace(o.format) == scan.FormatSARIF
	switch {
	case o.all && o.vault.vault == "":
		return errors.New("--all goes with --vault")
	case sarif && o.quiet:
		return errors.New("--quiet cannot be used with --format sarif")
	}
	if !sarif {
		if err := checkFormat(o.format, &scan.Row{}); err != nil {
			return err
		}
	}
	var baseline *scan.Baseline
	if o.baseline != "" {
		b, err := scan.ReadBaseline(o.baseline)
		if err != nil {
			return err
		}
		baseline = b
	}
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	root := scan.RepoRoot(cwd)
	lo, err := o.project.loadOptions()
	if err != nil {
		return err
	}
	if len(lo.Profiles) == 0 {
		// Services behind a profile hold secrets too: read them all.
		lo.Profiles = []string{"*"}
	}

	// The project is loaded once: for the secrets --vault maps and for
	// its own scan.
	scanProject := len(o.project.files) > 0 || (len(o.paths) == 0 && len(o.images) == 0)
	mapped := o.vault.vault != "" && !o.all
	var project *compose.Project
	if scanProject || mapped {
		if project, err = scan.LoadProject(ctx, lo); err != nil {
			if mapped {
				return fmt.Errorf("--vault searches for the secrets a compose project maps (or, with --all, every secret of the vault): %w", err)
			}
			return err
		}
	}

	var values *scan.Values
	var notes []string
	if o.vault.vault != "" {
		vctx, cancel := o.vault.withTimeout(ctx)
		values, notes, err = scanValues(vctx, o, project)
		cancel()
		if err != nil {
			return err
		}
		defer values.Close()
	}

	results := []*scan.Result{{Notes: notes}}
	if scanProject {
		r, err := scan.ScanProject(ctx, scan.ProjectOptions{Load: lo, Root: root, Values: values, Project: project})
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if len(o.paths) > 0 {
		r, err := scan.ScanPaths(ctx, o.paths, scan.TreeOptions{Root: root, NoIgnore: o.noIgnore, Values: values})
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	for _, ref := range o.images {
		r, err := scan.ScanImage(ctx, dockerCLI.Client(), ref, scan.ImageOptions{Values: values})
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	res := scan.Merge(results...)
	if baseline != nil {
		if stale := baseline.Apply(res.Findings); stale > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("%d findings of the baseline %s were not found (fixed?): --write-baseline drops them", stale, o.baseline))
		}
	}
	if err := printScan(dockerCLI.Out(), o, res, root, sarif); err != nil {
		return err
	}
	return scanStatus(dockerCLI.Err(), o, res)
}

// scanValues reads the Key Vault values --vault searches for: those the
// compose project maps, or every enabled secret with --all.
func scanValues(ctx context.Context, o scanOptions, project *compose.Project) (*scan.Values, []string, error) {
	var reqs []fetch.Request
	store, err := o.vault.open(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	if o.all {
		reqs, err = scan.AllSecrets(ctx, store)
	} else {
		reqs, err = scan.MappedSecrets(project.Compose)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(reqs) == 0 {
		return scan.NewValues(nil), []string{"--vault: no Key Vault secret to search for"}, nil
	}
	return scan.ReadValues(ctx, store, reqs, fetch.DefaultParallel)
}

// printScan prints the findings: SARIF, or rows through docker's formatter.
// The default table lists the findings that count (the summary line counts
// the suppressed ones); json and templates list every finding with its
// Suppressed field.
func printScan(out io.Writer, o scanOptions, res *scan.Result, root string, sarif bool) error {
	if sarif {
		return scan.WriteSARIF(out, res, scan.SARIFOptions{Version: version.Version, Root: root})
	}
	findings := res.Findings
	table := isDefaultFormat(o.format)
	if table && !o.quiet {
		findings = scan.Unsuppressed(findings)
		if len(findings) == 0 {
			return nil
		}
	}
	return writeRows(out, newFormat(o.format, scan.DefaultTable, scan.QuietFormat, o.quiet), scan.RowHeader, scan.Rows(findings))
}

// scanStatus writes the baseline, then the unreadable files and the notes
// on stderr, and gives the exit status; the summary line is the status
// error's message when there is one.
func scanStatus(errOut io.Writer, o scanOptions, res *scan.Result) error {
	if o.writeBaseline != "" {
		b := scan.NewBaseline(res.Findings)
		if err := scan.WriteBaseline(o.writeBaseline, b); err != nil {
			return err
		}
		res.Notes = append(res.Notes, fmt.Sprintf("wrote %d findings to the baseline %s", len(b.Findings), o.writeBaseline))
	}
	scan.WriteReport(errOut, res)
	c := scan.Count(res)
	summary := scan.Summary(res)
	switch {
	case c.Errors > 0:
		return cli.StatusError{StatusCode: exitScanError, Status: summary + " (the scan is incomplete)"}
	case c.Findings > 0 && o.writeBaseline == "":
		return cli.StatusError{StatusCode: exitScanFindings, Status: summary}
	}
	if !o.quiet {
		fmt.Fprintln(errOut, summary)
	}
	return nil
}
