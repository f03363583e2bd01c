package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/spf13/pflag"
)

// defaultVaultTimeout bounds a command that talks to Key Vault when
// --timeout is not given.
const defaultVaultTimeout = 5 * time.Minute

// vaultOptions are the Key Vault flags every command that reads or writes
// the vault shares.
type vaultOptions struct {
	vault                                string
	credential                           string
	timeout                              time.Duration
	disableChallengeResourceVerification bool
}

// addVaultFlags registers --vault, --credential, --timeout and
// --disable-challenge-resource-verification. A command that needs another
// default timeout sets o.timeout before calling it.
//
// Usages are kept to one line in docker's 80-column help. The long
// --disable-challenge-resource-verification keeps its name (it is the Azure
// SDK's DisableChallengeResourceVerification option, and what a search for
// it finds) but is hidden from help: shown, it alone would push every
// command's usage column past docker's, and it is for the rare vault behind
// a custom domain, which README's Key Vault section documents.
func addVaultFlags(flags *pflag.FlagSet, o *vaultOptions) {
	if o.timeout == 0 {
		o.timeout = defaultVaultTimeout
	}
	flags.StringVar(&o.vault, "vault", "", "Vault name or URL (or $DOCKER_VAULT_URL)")
	// No default is shown ("" is DefaultAzureCredential, as "default" is):
	// `(default "default")` would not fit on the line.
	flags.StringVar(&o.credential, "credential", "", `Azure sign-in: "default", "azure-cli"...`)
	flags.DurationVar(&o.timeout, "timeout", o.timeout, "Give up after this long")
	flags.BoolVar(&o.disableChallengeResourceVerification, "disable-challenge-resource-verification", false,
		"Accept a vault behind a custom domain, whose authentication challenge names another domain")
	_ = flags.MarkHidden("disable-challenge-resource-verification")
}

// validate checks the Key Vault flags before any work.
func (o *vaultOptions) validate() error {
	if o.timeout <= 0 {
		return errors.New("invalid --timeout: must be more than 0")
	}
	return nil
}

// withTimeout bounds the whole command by --timeout.
func (o *vaultOptions) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, o.timeout, fmt.Errorf("timed out after %s (--timeout)", o.timeout))
}

// open returns the vault chosen by --vault, DOCKER_VAULT_URL or the compose
// project's x-vault url (projectURL, "" when there is none).
func (o *vaultOptions) open(ctx context.Context, projectURL string) (keyvault.Store, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	return keyvault.Open(ctx, keyvault.Config{
		VaultFlag:                            o.vault,
		EnvURL:                               os.Getenv("DOCKER_VAULT_URL"),
		ProjectURL:                           projectURL,
		Credential:                           o.credential,
		DisableChallengeResourceVerification: o.disableChallengeResourceVerification,
	})
}
