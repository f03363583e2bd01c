package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/secretfile"
	"github.com/docker-vault/docker-vault/internal/status"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/spf13/cobra"
)

// exitDrift is status's exit code when a secret drifts or warns of expiry,
// as scan's for findings: a monitoring check tells it from a failure (1).
const exitDrift = 3

type statusOptions struct {
	project       projectOptions
	vault         vaultOptions
	format        string
	stack         string
	keep          int
	expiryWarning string
}

func newStatusCommand(dockerCLI command.Cli) *cobra.Command {
	var options statusOptions
	cmd := &cobra.Command{
		Use:   "status [OPTIONS]",
		Short: "Show where Docker lags Key Vault, and secrets about to expire",
		Long: `Show, for every Key Vault-backed secret of the compose project, the Key Vault
secret's state, version, expiry (exp) and start (nbf), and whether Docker
holds its current version: in-sync, stale (Key Vault changed since, or
services still use an older version), missing, unmanaged (a swarm secret of
the same name, or a file, that docker vault did not make), or orphaned
(old versions the next sync removes).

No value is read: status costs the Key Vault list and one swarm secret list,
as a sync with nothing to do. It exits 0 when everything is in sync, 3 when a
secret drifts or its exp or nbf warns, and 1 on error.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), dockerCLI, options)
		},
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	addProjectFlags(flags, &options.project)
	addVaultFlags(flags, &options.vault)
	flags.StringVar(&options.format, "format", "", formatHelp)
	flags.StringVar(&options.stack, "stack", "", "Stack to check (default: the project name)")
	flags.IntVar(&options.keep, "keep", 1, "Versions sync keeps per secret")
	flags.StringVar(&options.expiryWarning, "expiry-warning", "30d", "Warn when exp is this close")
	return cmd
}

func runStatus(ctx context.Context, dockerCLI command.Cli, o statusOptions) error {
	warn, err := parseDays(o.expiryWarning)
	if err != nil {
		return fmt.Errorf("invalid --expiry-warning %q: %w", o.expiryWarning, err)
	}
	if o.keep < 0 {
		return fmt.Errorf("invalid --keep %d: must be 0 or more", o.keep)
	}
	if err := o.vault.validate(); err != nil {
		return err
	}
	if err := checkFormat(o.format, &statusContext{r: &status.Row{}}); err != nil {
		return err
	}
	p, secrets, store, err := loadSyncTarget(ctx, o.project, o.vault)
	if err != nil {
		return err
	}
	ctx, cancel := o.vault.withTimeout(ctx)
	defer cancel()
	stack := o.stack
	if stack == "" {
		stack = p.Name
	}
	rows, err := status.Check(ctx, dockerCLI.Client(), store, secrets, status.Options{
		Stack: stack, Keep: o.keep, ExpiryWarning: warn,
		ProjectDir: p.WorkingDir, NonRoot: secretfile.NonRootServices(p),
	})
	if err != nil {
		return err
	}
	if err := printStatus(dockerCLI.Out(), o.format, rows); err != nil {
		return err
	}
	if sum := status.Summarize(rows); sum.Drift+sum.Expiry > 0 {
		return cli.StatusError{StatusCode: exitDrift, Status: sum.String()}
	}
	return nil
}

// parseDays is a Go duration, or a whole number of days with a d suffix
// ("30d"), as people write expiry windows.
func parseDays(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, errors.New("want a number of days (30d) or a duration (12h)")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New("want a number of days (30d) or a duration (12h)")
		}
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}

// statusTable is status's default table: versions cut to 8 characters,
// exp as a date.
const statusTable = "table {{.Secret}}\t{{.VaultSecret}}\t{{.Vault}}\t{{.Version}}\t{{.Expires}}\t{{.Docker}}\t{{.Detail}}"

var statusHeader = formatter.SubHeaderContext{
	"Secret":        "SECRET",
	"Kind":          "KIND",
	"VaultSecret":   "VAULT SECRET",
	"Vault":         "VAULT",
	"Version":       "VERSION",
	"Updated":       "UPDATED",
	"Expires":       "EXPIRES",
	"NotBefore":     "NOT BEFORE",
	"Expiry":        "EXPIRY",
	"Docker":        "DOCKER",
	"Target":        "TARGET",
	"SwarmSecret":   "SWARM SECRET",
	"DockerVersion": "DOCKER VERSION",
	"Services":      "SERVICES",
	"OtherServices": "OTHER SERVICES",
	"Orphans":       "ORPHANS",
	"Drift":         "DRIFT",
	"Detail":        "DETAIL",
}

// statusContext is one row of status for the formatter: its methods are
// the template fields and the JSON keys. Never a value.
type statusContext struct {
	formatter.HeaderContext
	trunc bool
	r     *status.Row
}

func (c *statusContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }

func (c *statusContext) Secret() string      { return c.r.Secret }
func (c *statusContext) VaultSecret() string { return c.r.KVName }

// Kind is "swarm" for an external secret, "file" for a secret file, as in
// sync's rows.
func (c *statusContext) Kind() string {
	if c.r.Kind == mapping.File {
		return "file"
	}
	return "swarm"
}

// Vault is the Key Vault secret's state: enabled, disabled or missing.
func (c *statusContext) Vault() string { return string(c.r.Vault) }

// Version is the Key Vault version where it is known, its first 8
// characters in the table.
func (c *statusContext) Version() string { return c.version(c.r.Version) }

// DockerVersion is the version Docker holds.
func (c *statusContext) DockerVersion() string { return c.version(c.r.Holds) }

func (c *statusContext) version(v string) string {
	if c.trunc {
		return orDash(short(v))
	}
	return v
}

func (c *statusContext) Updated() string   { return c.time(c.r.Updated) }
func (c *statusContext) Expires() string   { return c.time(c.r.Expires) }
func (c *statusContext) NotBefore() string { return c.time(c.r.NotBefore) }

// time is RFC 3339, or a date in the table.
func (c *statusContext) time(t time.Time) string {
	if c.trunc {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.DateOnly)
	}
	return timestamp(t)
}

// Expiry is "expiring", "expired", "not-yet-valid" or "".
func (c *statusContext) Expiry() string { return string(c.r.Expiry) }

// Docker is what Docker holds against Key Vault: in-sync, stale, missing,
// unmanaged, orphaned, error or unknown.
func (c *statusContext) Docker() string { return string(c.r.State) }

// Target is the swarm secret's base name or the file's path.
func (c *statusContext) Target() string { return c.r.Target }

// SwarmSecret is the swarm secret holding Docker's version.
func (c *statusContext) SwarmSecret() string     { return c.r.Current }
func (c *statusContext) Services() []string      { return c.r.Services }
func (c *statusContext) OtherServices() []string { return c.r.Others }
func (c *statusContext) Orphans() []string       { return c.r.Orphans }
func (c *statusContext) Drift() bool             { return c.r.Drift() }
func (c *statusContext) Detail() string          { return c.r.Detail() }

// printStatus prints the rows through docker's formatter; the default
// table of a project in sync ends by saying so.
func printStatus(out io.Writer, format string, rows []status.Row) error {
	f := newFormat(format, statusTable, "", false)
	ctxs := make([]*statusContext, len(rows))
	for i := range rows {
		ctxs[i] = &statusContext{trunc: f.IsTable(), r: &rows[i]}
	}
	if err := writeRows(out, f, statusHeader, ctxs); err != nil {
		return err
	}
	// A drift's summary is the command's error, on stderr, whatever the
	// format.
	if sum := status.Summarize(rows); isDefaultFormat(format) && sum.Drift+sum.Expiry == 0 {
		fmt.Fprintln(out, sum)
	}
	return nil
}
