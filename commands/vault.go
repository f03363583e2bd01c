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
func addVaultFlags(flags *pflag.FlagSet, o *vaultOptions) {
	if o.timeout == 0 {
		o.timeout = defaultVaultTimeout
	}
	flags.StringVar(&o.vault, "vault", "", "Key Vault name or URL (default: $DOCKER_VAULT_URL, then the compose file's x-vault url)")
	flags.StringVar(&o.credential, "credential", keyvault.CredentialDefault, keyvault.CredentialHelp)
	flags.DurationVar(&o.timeout, "timeout", o.timeout, "Give up when the command takes longer than this")
	flags.BoolVar(&o.disableChallengeResourceVerification, "disable-challenge-resource-verification", false,
		"Accept a vault behind a custom domain, whose authentication challenge names another domain")
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
