package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker-vault/docker-vault/internal/convert"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/migrate"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/spf13/cobra"
)

type pushOptions struct {
	project   projectOptions
	vault     vaultOptions
	overwrite bool
	dryRun    bool
	format    string
}

func newPushCommand(dockerCLI command.Cli) *cobra.Command {
	var options pushOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] [SECRET...]",
		Short: "Store the values of the project's file secrets in Key Vault",
		Long: `Store the values of the compose project's file: secrets (all, or the ones named) in
Key Vault, each under its Key Vault name: its x-vault name, or its name with _ and .
turned into -. Values are read from the files, byte for byte; secrets marked
x-vault: false are left out.

A Key Vault secret that holds the same value is left alone; one that holds another
value is an error unless --overwrite, which stores a new version. --dry-run lists the
vault's names and reads only the values of the names that exist, to say what a push
would do: create, unchanged, update or conflict. No value is ever printed.`,
		Args: cli.RequiresMinArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(cmd.Context(), dockerCLI, options, args)
		},
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	addProjectFlags(flags, &options.project)
	flags.BoolVar(&options.overwrite, "overwrite", false, "Replace Key Vault values that differ")
	flags.BoolVar(&options.dryRun, "dry-run", false, "Check Key Vault and store nothing")
	flags.StringVar(&options.format, "format", "", formatHelp)
	addVaultFlags(flags, &options.vault)
	return cmd
}

func runPush(ctx context.Context, dockerCLI command.Cli, o pushOptions, names []string) error {
	if err := o.vault.validate(); err != nil {
		return err
	}
	if err := checkPushFormat(o.format); err != nil {
		return err
	}
	ctx, cancel := o.vault.withTimeout(ctx)
	defer cancel()
	p, err := o.project.load(ctx)
	if err != nil {
		return err
	}
	srcs, err := convert.Sources(p, names)
	if err != nil {
		return err
	}
	var pushes []migrate.Push
	defer func() {
		for _, ps := range pushes {
			clear(ps.Value)
		}
	}()
	for _, src := range srcs {
		if src.Version != "" {
			if len(names) > 0 {
				return fmt.Errorf("secret %s is pinned to version %s of Key Vault secret %s by its x-vault: a new version would not be used; remove the pin first", src.Secret, src.Version, src.KVName)
			}
			fmt.Fprintf(dockerCLI.Err(), "note: skipped secret %s: its x-vault pins version %s of Key Vault secret %s\n", src.Secret, src.Version, src.KVName)
			continue
		}
		v, err := convert.ReadValue(src)
		if err != nil {
			return err
		}
		pushes = append(pushes, migrate.Push{Secret: src.Secret, KVName: src.KVName, Value: v})
	}
	if len(pushes) == 0 {
		return errors.New("the project declares no file: secret to push (secrets marked x-vault: false are left out)")
	}
	projectURL, err := mapping.VaultURL(p)
	if err != nil {
		return err
	}
	store, err := o.vault.open(ctx, projectURL)
	if err != nil {
		return err
	}
	return pushValues(ctx, dockerCLI, store, pushes, o.overwrite, o.dryRun, o.format)
}

// pushValues checks, then (unless dryRun) stores the values, and prints a
// row per value: push and set share it.
func pushValues(ctx context.Context, dockerCLI command.Cli, store keyvault.Store, pushes []migrate.Push, overwrite, dryRun bool, format string) error {
	checks, err := migrate.CheckPushes(ctx, store, pushes, migrate.PushOptions{Overwrite: overwrite})
	if err != nil {
		return err
	}
	conflicts := migrate.Conflicts(checks)
	state := pushDryRun
	var stored []string
	switch {
	case dryRun:
	case conflicts != nil:
		state = pushRefused
	default:
		state = pushApplied
		stored, err = migrate.ApplyPushes(ctx, store, pushes, checks)
		// ApplyPushes stores in order and stops at its first failure.
		writes := 0
		for i := range checks {
			if checks[i].Action.Writes() {
				if writes++; writes > len(stored) {
					checks[i].Reason = string(notStored)
				}
			}
		}
	}
	if perr := printPush(dockerCLI.Out(), format, checks, state); perr != nil && err == nil {
		err = perr
	}
	switch {
	case err != nil:
		return fmt.Errorf("stored %d of the values: %w", len(stored), err)
	case conflicts != nil && !dryRun:
		return fmt.Errorf("nothing was stored: %w", conflicts)
	}
	return conflicts
}

// notStored marks (as a row's reason, and a count) a value a failed push
// did not store.
const notStored migrate.PushAction = "not stored"

// What a push did, for its summary line.
const (
	pushDryRun  = "dry run"
	pushRefused = "refused"
	pushApplied = "applied"
)

// checkPushFormat refuses a --format that does not parse before anything
// is read or stored.
func checkPushFormat(format string) error { return checkFormat(format, &pushContext{}) }

// pushTable is push's and set's default table: the reason follows the
// action.
const pushTable = "table {{.Secret}}\t{{.VaultSecret}}\t{{.Action}}{{if .Reason}} ({{.Reason}}){{end}}"

var pushHeader = formatter.SubHeaderContext{
	"Secret":      "SECRET",
	"VaultSecret": "VAULT SECRET",
	"Action":      "ACTION",
	"Reason":      "REASON",
}

// pushContext is one row of push and set for the formatter: its methods
// are the template fields and the JSON keys (docker's way). Never a value.
type pushContext struct {
	formatter.HeaderContext
	c migrate.PushCheck
}

func (c *pushContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }
func (c *pushContext) Secret() string               { return c.c.Secret }
func (c *pushContext) VaultSecret() string          { return c.c.KVName }
func (c *pushContext) Action() string               { return string(c.c.Action) }
func (c *pushContext) Reason() string               { return c.c.Reason }

// printPush prints the rows through docker's formatter and, for the default
// table, a summary line saying what the push did (state).
func printPush(out io.Writer, format string, checks []migrate.PushCheck, state string) error {
	rows := make([]*pushContext, len(checks))
	for i, c := range checks {
		rows[i] = &pushContext{c: c}
	}
	header := pushHeader
	if isDefaultFormat(format) {
		header = withoutHeaders(header, "Reason")
	}
	if err := writeRows(out, newFormat(format, pushTable, "", false), header, rows); err != nil {
		return err
	}
	if !isDefaultFormat(format) {
		return nil
	}
	var err error
	n := map[migrate.PushAction]int{}
	for _, c := range checks {
		n[c.Action]++
		if c.Reason == string(notStored) {
			n[notStored]++
		}
	}
	counts := []string{}
	for _, a := range []migrate.PushAction{migrate.PushCreate, migrate.PushUpdate, migrate.PushUnchanged, migrate.PushConflict} {
		if n[a] > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n[a], a))
		}
	}
	switch {
	case state == pushDryRun:
		_, err = fmt.Fprintf(out, "dry run: %s; nothing stored\n", strings.Join(counts, ", "))
	case state == pushRefused:
		_, err = fmt.Fprintf(out, "nothing stored: %s\n", strings.Join(counts, ", "))
	case n[notStored] > 0:
		writes := n[migrate.PushCreate] + n[migrate.PushUpdate]
		_, err = fmt.Fprintf(out, "stored %d of %d values in Key Vault, then failed\n", writes-n[notStored], writes)
	case n[migrate.PushCreate]+n[migrate.PushUpdate] == 0:
		_, err = fmt.Fprintln(out, "Key Vault holds every value already: nothing stored")
	default:
		_, err = fmt.Fprintf(out, "stored %d values in Key Vault (%s)\n", n[migrate.PushCreate]+n[migrate.PushUpdate], strings.Join(counts, ", "))
	}
	return err
}
