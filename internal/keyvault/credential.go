package keyvault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// credentialKind is one way to sign in to Azure that --credential can pick.
type credentialKind struct {
	name    string   // what --credential takes
	aliases []string // also accepted, e.g. the azidentity type name
	sdkName string   // the azidentity type, as AZURE_TOKEN_CREDENTIALS names it
	hint    string   // what the user can do when it cannot sign in
}

// credentialKinds are DefaultAzureCredential's links, in its order, under
// short names a user can type. "default" is the chain itself.
var credentialKinds = []credentialKind{
	{
		name: "env", aliases: []string{"environment"}, sdkName: "EnvironmentCredential",
		hint: "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH)",
	},
	{
		name: "workload-identity", sdkName: "WorkloadIdentityCredential",
		hint: "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE (the AKS workload identity webhook does)",
	},
	{
		name: "managed-identity", aliases: []string{"msi"}, sdkName: "ManagedIdentityCredential",
		hint: "run on an Azure resource that has a managed identity (AZURE_CLIENT_ID selects a user-assigned one)",
	},
	{
		name: "azure-cli", aliases: []string{"az"}, sdkName: "AzureCLICredential",
		hint: "run `az login`",
	},
	{
		name: "azd", aliases: []string{"azure-developer-cli"}, sdkName: "AzureDeveloperCLICredential",
		hint: "run `azd auth login`",
	},
	{
		name: "azure-powershell", sdkName: "AzurePowerShellCredential",
		hint: "run `Connect-AzAccount`",
	},
}

// CredentialDefault is the --credential value for DefaultAzureCredential.
const CredentialDefault = "default"

// CredentialNames lists what --credential accepts, for help and errors.
func CredentialNames() []string {
	names := []string{CredentialDefault}
	for _, k := range credentialKinds {
		names = append(names, k.name)
	}
	return names
}

// CredentialHelp is the --credential flag's help; README.md says what
// each one reads.
const CredentialHelp = "How to sign in to Azure: default (DefaultAzureCredential, honours AZURE_TOKEN_CREDENTIALS), env, workload-identity, managed-identity, azure-cli, azd or azure-powershell"

// NewCredential returns the credential --credential name selects ("" is
// "default"). client, when not nil, carries the credentials' own HTTP
// requests (token endpoints), so they get the same proxy and CA trust as
// the vault's. Its GetToken fails with a one-line error wrapping
// ErrUnauthenticated that says what was tried and what to do.
func NewCredential(name string, client *http.Client) (azcore.TokenCredential, error) {
	var opts azcore.ClientOptions
	if client != nil {
		opts.Transport = client
	}
	if name == "" || strings.EqualFold(name, CredentialDefault) {
		tried, err := defaultChain()
		if err != nil {
			return nil, err
		}
		cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: opts})
		if err != nil {
			return nil, fmt.Errorf("failed to set up DefaultAzureCredential: %s", oneLine(err.Error(), 300))
		}
		hint := chainHint(tried)
		return &signInCredential{cred: cred, label: "DefaultAzureCredential", tried: kindNames(tried), hint: hint}, nil
	}
	kind, ok := lookupKind(name)
	if !ok {
		return nil, fmt.Errorf("unknown credential %q: use one of %s", name, strings.Join(CredentialNames(), ", "))
	}
	var (
		cred azcore.TokenCredential
		err  error
	)
	switch kind.name {
	case "env":
		cred, err = azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{ClientOptions: opts})
	case "workload-identity":
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: opts})
	case "managed-identity":
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		// As DefaultAzureCredential does, so picking the link by name
		// changes nothing else.
		if id, ok := os.LookupEnv("AZURE_CLIENT_ID"); ok && id != "" {
			o.ID = azidentity.ClientID(id)
		}
		cred, err = azidentity.NewManagedIdentityCredential(o)
	case "azure-cli":
		cred, err = azidentity.NewAzureCLICredential(nil)
	case "azd":
		cred, err = azidentity.NewAzureDeveloperCLICredential(nil)
	case "azure-powershell":
		cred, err = azidentity.NewAzurePowerShellCredential(nil)
	}
	if err != nil {
		// Construction fails when the credential's configuration is
		// missing (e.g. env without AZURE_CLIENT_ID): say what to set.
		return nil, fmt.Errorf("cannot use --credential %s: %s", kind.name, kind.hint)
	}
	return &signInCredential{cred: cred, label: kind.name, tried: []string{kind.name}, hint: kind.hint}, nil
}

func lookupKind(name string) (credentialKind, bool) {
	for _, k := range credentialKinds {
		if strings.EqualFold(name, k.name) || strings.EqualFold(name, k.sdkName) {
			return k, true
		}
		for _, a := range k.aliases {
			if strings.EqualFold(name, a) {
				return k, true
			}
		}
	}
	return credentialKind{}, false
}

// defaultChain is what DefaultAzureCredential will try, following the same
// reading of AZURE_TOKEN_CREDENTIALS as azidentity v1.15.0 (which does the
// selecting itself: this only names the links for messages).
func defaultChain() ([]credentialKind, error) {
	v, ok := os.LookupEnv("AZURE_TOKEN_CREDENTIALS")
	if !ok {
		return credentialKinds, nil
	}
	switch v {
	case "dev":
		return credentialKinds[3:], nil
	case "prod":
		return credentialKinds[:3], nil
	}
	for _, k := range credentialKinds {
		if strings.EqualFold(v, k.sdkName) {
			return []credentialKind{k}, nil
		}
	}
	sdkNames := make([]string, 0, len(credentialKinds))
	for _, k := range credentialKinds {
		sdkNames = append(sdkNames, k.sdkName)
	}
	sort.Strings(sdkNames)
	return nil, fmt.Errorf("invalid AZURE_TOKEN_CREDENTIALS %q: use dev, prod, or one of %s (or unset it)", v, strings.Join(sdkNames, ", "))
}

// chainHint says what to do when a (possibly narrowed) chain failed,
// naming the most common fixes among the links it has.
func chainHint(tried []credentialKind) string {
	if len(tried) == 1 {
		return tried[0].hint
	}
	var hints []string
	for _, k := range tried {
		switch k.name {
		case "azure-cli", "env":
			hints = append(hints, k.hint)
		}
	}
	if len(hints) == 0 {
		hints = append(hints, tried[0].hint)
	}
	slices.Reverse(hints) // `az login` first: the usual fix on a laptop
	return strings.Join(append(hints, "pick one with --credential"), ", or ")
}

func kindNames(ks []credentialKind) []string {
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.name
	}
	return names
}

// signInCredential turns the SDK's sign-in failures, which run to several
// paragraphs (one per link of the chain, each with troubleshooting links),
// into one line that says what was tried and what the user can do. The
// SDK's error stays reachable with errors.As.
type signInCredential struct {
	cred  azcore.TokenCredential
	label string
	tried []string
	hint  string
}

func (c *signInCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.cred.GetToken(ctx, opts)
	if err == nil {
		return tok, nil
	}
	if ctx.Err() != nil {
		// A timeout or Ctrl-C, not a sign-in problem.
		return tok, err
	}
	return tok, &SignInError{Credential: c.label, Tried: c.tried, Hint: c.hint, Err: err}
}

// SignInError is a credential that could not get a token.
type SignInError struct {
	// Credential is what --credential selected ("DefaultAzureCredential"
	// for the chain).
	Credential string
	// Tried are the credentials attempted, by --credential name.
	Tried []string
	// Hint is what the user can do.
	Hint string
	// Err is the SDK's error (e.g. *azidentity.AuthenticationFailedError).
	Err error
}

func (e *SignInError) Error() string {
	msg := "could not sign in to Azure with " + e.Credential
	if len(e.Tried) > 1 {
		msg += " (tried " + strings.Join(e.Tried, ", ") + ")"
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(e.Err, &afe) && afe.RawResponse != nil {
		// A credential was configured but its token endpoint said no: the
		// status tells "wrong identity" (400/401/403) from "endpoint down".
		msg += fmt.Sprintf(": the sign-in endpoint answered %d %s", afe.RawResponse.StatusCode, http.StatusText(afe.RawResponse.StatusCode))
	}
	return msg + ": " + e.Hint
}

// Unwrap makes a SignInError ErrUnauthenticated and exposes the SDK's error.
func (e *SignInError) Unwrap() []error { return []error{ErrUnauthenticated, e.Err} }
