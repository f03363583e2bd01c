package keyvault

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestNewCredentialNames(t *testing.T) {
	clearAzureEnv(t)
	// Enough for every credential to construct; none is asked for a token.
	t.Setenv("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
	t.Setenv("AZURE_CLIENT_ID", "00000000-0000-4000-8000-000000000001")
	t.Setenv("AZURE_CLIENT_SECRET", "not-a-real-secret")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "/nonexistent/token")
	t.Setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token")
	t.Setenv("IDENTITY_HEADER", "h")

	for name, want := range map[string]string{
		"":                            "DefaultAzureCredential",
		"default":                     "DefaultAzureCredential",
		"env":                         "env",
		"environment":                 "env",
		"EnvironmentCredential":       "env",
		"workload-identity":           "workload-identity",
		"managed-identity":            "managed-identity",
		"MSI":                         "managed-identity",
		"azure-cli":                   "azure-cli",
		"az":                          "azure-cli",
		"azd":                         "azd",
		"azure-developer-cli":         "azd",
		"AzureDeveloperCLICredential": "azd",
		"azure-powershell":            "azure-powershell",
	} {
		cred, err := NewCredential(name, nil)
		assert.NilError(t, err, name)
		sc, ok := cred.(*signInCredential)
		assert.Assert(t, ok, name)
		assert.Check(t, is.Equal(sc.label, want), name)
	}

	_, err := NewCredential("kerberos", nil)
	assert.Check(t, is.Error(err, `unknown credential "kerberos": use one of default, env, workload-identity, managed-identity, azure-cli, azd, azure-powershell`))
}

func TestNewCredentialMissingConfiguration(t *testing.T) {
	clearAzureEnv(t)
	_, err := NewCredential("env", nil)
	assert.Check(t, is.Error(err, "cannot use --credential env: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH)"))
	_, err = NewCredential("workload-identity", nil)
	assert.Check(t, is.ErrorContains(err, "cannot use --credential workload-identity: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE"))
}

func TestDefaultChainHonoursAzureTokenCredentials(t *testing.T) {
	clearAzureEnv(t)
	tests := []struct {
		env   string
		tried string
		hint  string
		err   string
	}{
		{tried: "env, workload-identity, managed-identity, azure-cli, azd, azure-powershell",
			hint: "run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH), or pick one with --credential"},
		{env: "dev", tried: "azure-cli, azd, azure-powershell", hint: "run `az login`, or pick one with --credential"},
		{env: "prod", tried: "env, workload-identity, managed-identity"},
		{env: "AzureCLICredential", tried: "azure-cli", hint: "run `az login`"},
		{env: "managedidentitycredential", tried: "managed-identity"},
		{env: "bogus", err: `invalid AZURE_TOKEN_CREDENTIALS "bogus": use dev, prod, or one of`},
		{env: "-", err: `invalid AZURE_TOKEN_CREDENTIALS ""`},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			switch tc.env {
			case "":
			case "-":
				t.Setenv("AZURE_TOKEN_CREDENTIALS", "")
			default:
				t.Setenv("AZURE_TOKEN_CREDENTIALS", tc.env)
			}
			cred, err := NewCredential("default", nil)
			if tc.err != "" {
				assert.Check(t, is.ErrorContains(err, tc.err))
				return
			}
			assert.NilError(t, err)
			sc := cred.(*signInCredential)
			assert.Check(t, is.Equal(strings.Join(sc.tried, ", "), tc.tried))
			if tc.hint != "" {
				assert.Check(t, is.Equal(sc.hint, tc.hint))
			}
		})
	}
}

type fakeCredential struct {
	err error
}

func (f fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azToken, error) {
	if f.err != nil {
		return azToken{}, f.err
	}
	return azToken{Token: "fake-token", ExpiresOn: farFuture}, nil
}

func TestSignInErrorIsOneLine(t *testing.T) {
	sdkErr := errors.New("DefaultAzureCredential: failed to acquire a token.\nAttempted credentials:\n\tEnvironmentCredential: missing environment variable AZURE_TENANT_ID\n\tManagedIdentityCredential: no response")
	c := &signInCredential{cred: fakeCredential{err: sdkErr}, label: "DefaultAzureCredential", tried: []string{"env", "managed-identity"}, hint: "run `az login`"}
	_, err := c.GetToken(context.Background(), policy.TokenRequestOptions{})
	assert.Check(t, is.Error(err, "could not sign in to Azure with DefaultAzureCredential (tried env, managed-identity): run `az login`"))
	assert.Check(t, is.ErrorIs(err, ErrUnauthenticated))
	assert.Check(t, is.ErrorIs(err, sdkErr))

	// A cancelled sign-in is a cancellation, not a sign-in failure.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.cred = fakeCredential{err: context.Canceled}
	_, err = c.GetToken(ctx, policy.TokenRequestOptions{})
	assert.Check(t, !errors.Is(err, ErrUnauthenticated))
}
