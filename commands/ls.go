package commands

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	dockercli "github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
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
	flags.BoolVarP(&options.quiet, "quiet", "q", false, "Only display the names of the secrets the vault has")
	flags.BoolVar(&options.versions, "versions", false, "Show the current version of each secret (one request per secret)")
	addVaultFlags(flags, &options.vault)
	return cmd
}

func runLs(ctx context.Context, dockerCLI command.Cli, opts lsOptions) error {
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

	out := dockerCLI.Out()
	if opts.quiet {
		for _, r := range rows {
			if !r.Missing && !r.Local {
				fmt.Fprintln(out, r.Name)
			}
		}
		return nil
	}
	switch format := strings.TrimSpace(opts.format); {
	case format == "" || format == "table":
		return writeLsTable(out, rows, opts.versions, cm != nil)
	case strings.EqualFold(format, "json"):
		return writeFormatted(out, format, rows, nil)
	default:
		// As docker's ls commands do: a template is applied to each row.
		w := io.Writer(out)
		var tw *tabwriter.Writer
		if t, ok := strings.CutPrefix(format, "table "); ok {
			format, tw = t, tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
			w = tw
		}
		for _, r := range rows {
			if err := writeFormatted(w, format, r, nil); err != nil {
				return err
			}
		}
		if tw != nil {
			return tw.Flush()
		}
		return nil
	}
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

func writeLsTable(out io.Writer, rows []*lsRow, versions, compose bool) error {
	w := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	header := []string{"NAME", "STATUS"}
	if versions {
		header = append(header, "VERSION")
	}
	header = append(header, "UPDATED", "CONTENT TYPE")
	if compose {
		header = append(header, "COMPOSE SECRET")
	}
	fmt.Fprintln(w, strings.Join(header, "\t"))
	now := time.Now()
	for _, r := range rows {
		cols := []string{orDash(r.Name), r.Status}
		if versions {
			cols = append(cols, orDash(r.Version))
		}
		updated := ""
		if !r.Updated.IsZero() {
			updated = units.HumanDuration(now.Sub(r.Updated)) + " ago"
		}
		cols = append(cols, orDash(updated), orDash(r.ContentType))
		if compose {
			cols = append(cols, strings.Join(r.ComposeSecrets, ", "))
		}
		fmt.Fprintln(w, strings.Join(cols, "\t"))
	}
	return w.Flush()
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
