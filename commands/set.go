package commands

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/docker-vault/docker-vault/internal/convert"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/migrate"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

type setOptions struct {
	vault     vaultOptions
	file      string
	overwrite bool
	dryRun    bool
	format    string
}

func newSetCommand(dockerCLI command.Cli) *cobra.Command {
	var options setOptions
	cmd := &cobra.Command{
		Use:   "set [OPTIONS] NAME",
		Short: "Store one value in a Key Vault secret, from a file or stdin",
		Long: `Store one value in the Key Vault secret NAME, read from -f FILE or from stdin (a pipe,
never a terminal). There is no flag for the value itself: a value on the command line
would stay in the shell history and in the process list.

The value is stored byte for byte, a final newline included: use printf rather than
echo. A Key Vault secret that holds the same value is left alone; one that holds
another value is an error unless --overwrite, which stores a new version.`,
		Example: `  printf '%s' "$DB_PASSWORD" | docker vault set db-password
  docker vault set --vault myvault -f ./secrets/db_password db-password`,
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSet(cmd.Context(), dockerCLI, options, args[0])
		},
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.StringVarP(&options.file, "file", "f", "", "Read the value from this file (default: stdin)")
	flags.BoolVar(&options.overwrite, "overwrite", false, "Store a new version if the value differs")
	flags.BoolVar(&options.dryRun, "dry-run", false, "Check Key Vault and store nothing")
	flags.StringVar(&options.format, "format", "", formatHelp)
	addVaultFlags(flags, &options.vault)
	// set reads no compose file, so no project names its vault.
	flags.Lookup("vault").Usage = "Key Vault name or URL (default: $DOCKER_VAULT_URL)"
	return cmd
}

// errTerminal refuses to read a value typed on a terminal: it would be
// echoed, and a value pasted there ends up in scrollback.
var errTerminal = errors.New("refusing to read the value from a terminal: pipe it in (printf '%s' \"$VALUE\" | docker vault set NAME) or use -f FILE")

func runSet(ctx context.Context, dockerCLI command.Cli, o setOptions, name string) error {
	if !keyvault.ValidSecretName(name) {
		return fmt.Errorf("invalid Key Vault secret name %q: use 1-127 letters, digits and '-'", name)
	}
	if err := o.vault.validate(); err != nil {
		return err
	}
	if err := checkPushFormat(o.format); err != nil {
		return err
	}
	value, err := readSetValue(dockerCLI, o.file, name)
	if err != nil {
		return err
	}
	defer clear(value)
	ctx, cancel := o.vault.withTimeout(ctx)
	defer cancel()
	store, err := o.vault.open(ctx, "")
	if errors.Is(err, keyvault.ErrNoVault) {
		return errors.New("no vault given: use --vault NAME or set DOCKER_VAULT_URL")
	}
	if err != nil {
		return err
	}
	err = pushValues(ctx, dockerCLI, store, []migrate.Push{{Secret: name, KVName: name, Value: value}}, o.overwrite, o.dryRun, o.format)
	if ce := (*migrate.ConflictError)(nil); errors.As(err, &ce) {
		return fmt.Errorf("Key Vault secret %s %s: rerun with --overwrite to store a new version", name, conflictText(ce.Conflicts[0]))
	}
	return err
}

func conflictText(c migrate.PushCheck) string {
	if c.Reason == "" || c.Reason == "Key Vault holds another value" {
		return "already holds a different value"
	}
	return "is " + c.Reason
}

// readSetValue reads the value from file, or stdin when file is "" or "-".
func readSetValue(dockerCLI command.Cli, file, name string) ([]byte, error) {
	if file != "" && file != "-" {
		return convert.ReadValue(convert.Source{Secret: name, Path: file})
	}
	in := dockerCLI.In()
	if in.IsTerminal() {
		return nil, errTerminal
	}
	v, err := io.ReadAll(io.LimitReader(in, convert.MaxValueSize+1))
	if err != nil {
		clear(v)
		return nil, fmt.Errorf("reading the value from stdin: %w", err)
	}
	if err := convert.CheckValue(v); err != nil {
		clear(v)
		return nil, fmt.Errorf("the value read from stdin %w", err)
	}
	return v, nil
}
