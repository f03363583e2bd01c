package commands

import (
	"context"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	dockercli "github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
)

type lsOptions struct {
	vault    vaultOptions
	project  projectOptions
	format   string
	quiet    bool
	versions bool
}

// lsRow is one secret as ls prints it. It never holds a value.
type lsRow struct {
	Name           string            `json:"name"`
	Status         string            `json:"status"`
	Enabled        bool              `json:"enabled"`
	Missing        bool              `json:"missing,omitempty"`
	Local          bool              `json:"local,omitempty"`
	Version        string            `json:"version,omitempty"`
	Created        time.Time         `json:"created,omitzero"`
	Updated        time.Time         `json:"updated,omitzero"`
	Expires        time.Time         `json:"expires,omitzero"`
	ContentType    string            `json:"contentType,omitempty"`
	Managed        bool              `json:"managed,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	ComposeSecrets []string          `json:"composeSecrets,omitempty"`
}

func newLsCommand(dockerCLI command.Cli) *cobra.Command {
	var options lsOptions
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List the secrets of the vault, or those a compose project maps",
		Long: `List the secrets of the vault: name, status, last update, content type. Never a value.

With -f, list only the secrets the compose project maps (a top-level secret's
x-vault name, or its name with _ and . turned into -), with the compose secret
that uses each; mapped secrets the vault lacks are listed as missing. Compose
secrets that are not Key Vault-backed (a file: secret without x-vault, or any
secret marked x-vault: false) are listed as local, and the vault is not asked
about them.

--versions adds the current version of each secret: the list API does not
return it, so it costs one extra request per secret (sent concurrently). The
current version is the one created last; when two share the newest creation
second it is shown as "-".`,
		Args: dockercli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLs(cmd.Context(), dockerCLI, options)
		},
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	addProjectFlags(flags, &options.project)
	flags.StringVar(&options.format, "format", "", formatHelp)
	flags.BoolVarP(&options.quiet, "quiet", "q", false, "Only display secret names")
	flags.BoolVar(&options.versions, "versions", false, "Show versions (one request per secret)")
	addVaultFlags(flags, &options.vault)
	return cmd
}

func runLs(ctx context.Context, dockerCLI command.Cli, opts lsOptions) error {
	if err := checkFormat(opts.format, &lsContext{r: &lsRow{}}); err != nil {
		return err
	}
	ctx, cancel := opts.vault.withTimeout(ctx)
	defer cancel()

	var cm *composeMapping
	projectURL := ""
	// Without -f, ls lists the whole vault rather than discover a compose
	// file in the current folder: what it shows must not depend on where
	// it happens to run.
	if len(opts.project.files) > 0 || opts.project.projectDir != "" {
		project, err := opts.project.load(ctx)
		if err != nil {
			return err
		}
		m, err := newComposeMapping(project)
		if err != nil {
			return err
		}
		cm, projectURL = m, m.vaultURL
	}
	store, err := opts.vault.open(ctx, projectURL)
	if err != nil {
		return err
	}
	rows, err := listRows(ctx, store, cm)
	if err != nil {
		return err
	}
	if opts.versions && !opts.quiet {
		if err := addVersions(ctx, store, rows); err != nil {
			return err
		}
	}

	if opts.quiet {
		// -q lists what the vault has: not the missing or local rows.
		rows = slices.DeleteFunc(rows, func(r *lsRow) bool { return r.Missing || r.Local })
	}
	return writeLs(dockerCLI.Out(), opts.format, opts.quiet, rows, opts.versions, cm != nil)
}

// listRows lists the vault, keeping only what cm maps when there is
// one, and adds the mapped secrets the vault lacks, then the local ones.
func listRows(ctx context.Context, store keyvault.Store, cm *composeMapping) ([]*lsRow, error) {
	rows := []*lsRow{} // JSON prints [] for an empty vault, not null
	seen := map[string]bool{}
	err := store.List(ctx, func(p keyvault.SecretProperties) error {
		key := strings.ToLower(p.Name)
		var compose []string
		if cm != nil {
			if compose = cm.secrets[key]; compose == nil {
				return nil
			}
		}
		seen[key] = true
		status := "enabled"
		if !p.Enabled {
			status = "disabled"
		}
		rows = append(rows, &lsRow{
			Name: p.Name, Status: status, Enabled: p.Enabled,
			Created: p.Created, Updated: p.Updated, Expires: p.Expires,
			ContentType: p.ContentType, Managed: p.Managed, Tags: p.Tags,
			ComposeSecrets: compose,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if cm != nil {
		for key, compose := range cm.secrets {
			if !seen[key] {
				rows = append(rows, &lsRow{Name: cm.names[key], Status: "missing", Missing: true, ComposeSecrets: compose})
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool { return strings.ToLower(rows[i].Name) < strings.ToLower(rows[j].Name) })
	if cm != nil {
		for _, key := range cm.local {
			rows = append(rows, &lsRow{Status: "local", Local: true, ComposeSecrets: []string{key}})
		}
	}
	return rows, nil
}

// addVersions fills in each present row's current version from its version
// list (metadata only: reading the latest value would also give the version,
// but would move every value over the wire and need the get permission).
func addVersions(ctx context.Context, store keyvault.Store, rows []*lsRow) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(keyvault.MaxConcurrency)
	for _, r := range rows {
		if r.Missing || r.Local {
			continue
		}
		g.Go(func() error {
			versions, err := store.Versions(ctx, r.Name)
			if err != nil {
				return err
			}
			r.Version = currentVersion(versions)
			return nil
		})
	}
	return g.Wait()
}

// currentVersion is the version created last. Creation times have a
// one-second resolution, so a tie on the newest one cannot be settled from
// metadata: say nothing rather than guess.
func currentVersion(versions []keyvault.SecretProperties) string {
	var best keyvault.SecretProperties
	tie := false
	for _, v := range versions {
		switch {
		case best.Version == "" || v.Created.After(best.Created):
			best, tie = v, false
		case v.Created.Equal(best.Created):
			tie = true
		}
	}
	if tie {
		return ""
	}
	return best.Version
}

// writeLs prints the rows through docker's formatter. The default table
// shows VERSION with --versions and COMPOSE SECRET for a project.
func writeLs(out io.Writer, source string, quiet bool, rows []*lsRow, versions, compose bool) error {
	table := "table {{.Name}}\t{{.Status}}"
	if versions {
		table += "\t{{.Version}}"
	}
	table += "\t{{.Updated}}\t{{.ContentType}}"
	if compose {
		table += "\t{{.ComposeSecrets}}"
	}
	ctxs := make([]*lsContext, len(rows))
	now := time.Now()
	for i, r := range rows {
		ctxs[i] = &lsContext{r: r, now: now}
	}
	return writeRows(out, newFormat(source, table, "{{.Name}}", quiet), lsHeader, ctxs)
}

var lsHeader = formatter.SubHeaderContext{
	"Name":           formatter.NameHeader,
	"Status":         formatter.StatusHeader,
	"Enabled":        "ENABLED",
	"Version":        "VERSION",
	"Updated":        "UPDATED",
	"UpdatedAt":      "UPDATED AT",
	"CreatedAt":      formatter.CreatedAtHeader,
	"ExpiresAt":      "EXPIRES AT",
	"ContentType":    "CONTENT TYPE",
	"Managed":        "MANAGED",
	"Tags":           "TAGS",
	"ComposeSecrets": "COMPOSE SECRET",
}

// lsContext is one row of ls for the formatter: its methods are the
// template fields and the JSON keys. Never a value.
type lsContext struct {
	formatter.HeaderContext
	r   *lsRow
	now time.Time
}

func (c *lsContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }

func (c *lsContext) Name() string        { return orDash(c.r.Name) }
func (c *lsContext) Status() string      { return c.r.Status }
func (c *lsContext) Enabled() bool       { return c.r.Enabled }
func (c *lsContext) Version() string     { return orDash(c.r.Version) }
func (c *lsContext) ContentType() string { return orDash(c.r.ContentType) }
func (c *lsContext) Managed() bool       { return c.r.Managed }

// Updated is how long ago the secret was updated, as docker's ls commands
// show times.
func (c *lsContext) Updated() string {
	if c.r.Updated.IsZero() {
		return "-"
	}
	return units.HumanDuration(c.now.Sub(c.r.Updated)) + " ago"
}

func (c *lsContext) UpdatedAt() string { return timestamp(c.r.Updated) }
func (c *lsContext) CreatedAt() string { return timestamp(c.r.Created) }
func (c *lsContext) ExpiresAt() string { return timestamp(c.r.Expires) }

// Tags are the secret's Key Vault tags, as docker prints labels.
func (c *lsContext) Tags() string {
	tags := make([]string, 0, len(c.r.Tags))
	for k, v := range c.r.Tags {
		tags = append(tags, k+"="+v)
	}
	slices.Sort(tags)
	return strings.Join(tags, ",")
}

func (c *lsContext) ComposeSecrets() string { return strings.Join(c.r.ComposeSecrets, ", ") }

// timestamp is an RFC 3339 time, or "" for none.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// composeMapping is what ls needs from a compose project: the vault it
// names and which Key Vault secret each top-level secret maps to.
type composeMapping struct {
	vaultURL string
	// secrets maps a lower-cased Key Vault name (names are
	// case-insensitive) to the compose secrets that use it.
	secrets map[string][]string
	// names keeps each Key Vault name as the compose file spells it.
	names map[string]string
	// local are the compose secrets that are not Key Vault-backed: no
	// Key Vault secret is theirs, whatever the vault holds.
	local []string
}

func newComposeMapping(project *types.Project) (*composeMapping, error) {
	m := &composeMapping{secrets: map[string][]string{}, names: map[string]string{}}
	url, err := mapping.VaultURL(project)
	if err != nil {
		return nil, err
	}
	m.vaultURL = url
	secrets, err := mapping.MapAll(project)
	if err != nil {
		return nil, err
	}
	for _, s := range secrets {
		if s.Local {
			m.local = append(m.local, s.Key)
			continue
		}
		key := strings.ToLower(s.KVName)
		m.secrets[key] = append(m.secrets[key], s.Key)
		if _, ok := m.names[key]; !ok {
			m.names[key] = s.KVName
		}
	}
	return m, nil
}
