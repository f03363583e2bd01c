package keyvault

import (
	"context"
	"net/http"
)

// Config is what a command knows when it needs a vault: the raw values of
// --vault, DOCKER_VAULT_URL and the compose project's x-vault url, and the
// --credential name.
type Config struct {
	// VaultFlag, EnvURL and ProjectURL are tried in that order; see
	// ResolveVaultURL.
	VaultFlag, EnvURL, ProjectURL string
	// Credential is a --credential name; "" is "default".
	Credential string
	// DisableChallengeResourceVerification: see AzureOptions.
	DisableChallengeResourceVerification bool
	// Retry bounds retries; the zero value is sensible.
	Retry RetryOptions
	// HTTPClient carries every request, to the vault and to token
	// endpoints. Nil builds one with NewHTTPClient.
	HTTPClient *http.Client
}

// Open resolves the vault URL, selects the credential and returns a Store.
// It sends no request: a wrong vault, a sign-in failure or a missing
// permission show up on the first call, as an *Error.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	vaultURL, err := ResolveVaultURL(cfg.VaultFlag, cfg.EnvURL, cfg.ProjectURL, cfg.DisableChallengeResourceVerification)
	if err != nil {
		return nil, err
	}
	client := cfg.HTTPClient
	if client == nil {
		if client, err = NewHTTPClient(); err != nil {
			return nil, err
		}
	}
	cred, err := NewCredential(cfg.Credential, client)
	if err != nil {
		return nil, err
	}
	return NewAzureStore(vaultURL, cred, AzureOptions{
		Transport:                            client,
		DisableChallengeResourceVerification: cfg.DisableChallengeResourceVerification,
		Retry:                                cfg.Retry,
	})
}
