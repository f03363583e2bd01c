package keyvault

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// MaxConcurrency bounds the requests a caller sends to one vault at once
// (e.g. value GETs of a sync, version lists of `ls --versions`). Key Vault
// throttles per vault; a handful in flight hides latency without inviting
// 429s.
const MaxConcurrency = 8

// DefaultMaxPages is where List and Versions stop following nextLink. At 25
// items a page it is 250,000 secrets, far past any real vault (the service
// caps none, but sync would be unusable long before): a list that gets
// there is a service or proxy sending pages that never end.
const DefaultMaxPages = 10_000

// AzureOptions configure NewAzureStore.
type AzureOptions struct {
	// Transport sends the HTTP requests. Nil uses NewHTTPClient.
	Transport policy.Transporter
	// DisableChallengeResourceVerification turns off the SDK's check that
	// the resource named by the vault's authentication challenge matches the
	// vault's domain. Only for vaults behind a custom domain; the check is
	// what stops a look-alike host from being handed a Key Vault token.
	DisableChallengeResourceVerification bool
	// Retry bounds retries; the zero value is sensible.
	Retry RetryOptions
	// MaxPages bounds a list; 0 is DefaultMaxPages.
	MaxPages int
}

type azureStore struct {
	url      string
	host     string
	client   *azsecrets.Client
	maxPages int
}

// NewAzureStore returns a Store for the vault at vaultURL (a name or URL,
// see ParseVaultURL) that authenticates with cred.
func NewAzureStore(vaultURL string, cred azcore.TokenCredential, opts AzureOptions) (Store, error) {
	u, err := ParseVaultURL(vaultURL, opts.DisableChallengeResourceVerification)
	if err != nil {
		return nil, err
	}
	transport := opts.Transport
	if transport == nil {
		c, err := NewHTTPClient()
		if err != nil {
			return nil, err
		}
		transport = c
	}
	retry := opts.Retry.withDefaults()
	clientOpts := &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: transport,
			Retry: policy.RetryOptions{
				MaxRetries:    retry.MaxRetries,
				TryTimeout:    retry.TryTimeout,
				RetryDelay:    retry.Delay,
				MaxRetryDelay: retry.MaxDelay,
			},
			PerRetryPolicies: []policy.Policy{&guardPolicy{maxTotal: retry.MaxTotal}},
			Telemetry:        policy.TelemetryOptions{ApplicationID: "docker-vault"},
		},
		DisableChallengeResourceVerification: opts.DisableChallengeResourceVerification,
	}
	client, err := azsecrets.NewClient(u, cred, clientOpts)
	if err != nil {
		return nil, fmt.Errorf("failed to create a Key Vault client for %s: %w", u, err)
	}
	maxPages := opts.MaxPages
	if maxPages <= 0 {
		maxPages = DefaultMaxPages
	}
	return &azureStore{url: u, host: strings.TrimPrefix(u, "https://"), client: client, maxPages: maxPages}, nil
}

func (s *azureStore) VaultURL() string { return s.url }

var versionRE = regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)

func (s *azureStore) checkName(op, name, version string) error {
	if !ValidSecretName(name) {
		return &Error{Op: op, Vault: s.url, Name: name,
			Detail: "invalid secret name: Key Vault names are 1-127 letters, digits and hyphens"}
	}
	if version != "" && !versionRE.MatchString(version) {
		return &Error{Op: op, Vault: s.url, Name: name, Detail: fmt.Sprintf("invalid version %q", version)}
	}
	return nil
}
