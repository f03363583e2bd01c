package keyvault

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParseVaultURL(t *testing.T) {
	tests := []struct {
		in, want, err string
		custom        bool
	}{
		{in: "myvault", want: "https://myvault.vault.azure.net"},
		{in: "  MyVault-01 ", want: "https://myvault-01.vault.azure.net"},
		{in: "abc", want: "https://abc.vault.azure.net"},
		{in: "a23456789012345678901234", want: "https://a23456789012345678901234.vault.azure.net"},
		{in: "https://myvault.vault.azure.net", want: "https://myvault.vault.azure.net"},
		{in: "https://myvault.vault.azure.net/", want: "https://myvault.vault.azure.net"},
		{in: "HTTPS://MyVault.Vault.Azure.Net:443/", want: "https://myvault.vault.azure.net"},
		{in: "https://cnvault.vault.azure.cn", want: "https://cnvault.vault.azure.cn"},
		{in: "https://govvault.vault.usgovcloudapi.net/", want: "https://govvault.vault.usgovcloudapi.net"},
		{in: "https://devault.vault.microsoftazure.de", want: "https://devault.vault.microsoftazure.de"},
		{in: "https://secrets.example.com", want: "https://secrets.example.com", custom: true},

		{in: "ab", err: `invalid vault name "ab": use 3-24 letters`},
		{in: "a234567890123456789012345", err: `invalid vault name "a234567890123456789012345"`},
		{in: "1vault", err: `invalid vault name "1vault"`},
		{in: "vault-", err: `invalid vault name "vault-"`},
		{in: "my--vault", err: `invalid vault name "my--vault"`},
		{in: "my_vault", err: `invalid vault name "my_vault"`},
		{in: "myvault.vault.azure.net", err: `"myvault.vault.azure.net" is neither a vault name nor a URL: use a name like myvault or a URL like https://myvault.vault.azure.net`},
		{in: "http://myvault.vault.azure.net", err: `vault URL "http://myvault.vault.azure.net" must use https: use https://myvault.vault.azure.net`},
		{in: "http://x", err: `vault URL "http://x" must use https: use https://x`},
		{in: "ftp://myvault.vault.azure.net", err: `must use https`},
		{in: "https://myvault.vault.azure.net/secrets/x", err: `vault URL "https://myvault.vault.azure.net/secrets/x" must not have a path: use https://myvault.vault.azure.net`},
		{in: "https://myvault.vault.azure.net?api-version=7.4", err: `must not have a query`},
		{in: "https://myvault.vault.azure.net/#x", err: `must not have a fragment`},
		{in: "https://user:hunter2@myvault.vault.azure.net", err: `vault URL "https://user:xxxxx@myvault.vault.azure.net" must not contain user info`},
		{in: "https://myvault.vault.azure.net:8443", err: `must not name a port: Key Vault listens on 443`},
		{in: "https://127.0.0.1", err: `is an IP address`},
		{in: "https://a.b.vault.azure.net", err: `has extra labels before .vault.azure.net`},
		{in: "https://my--vault.vault.azure.net", err: `invalid vault name "my--vault"`},
		{in: "https://hsm1.managedhsm.azure.net", err: `is a Managed HSM, which holds keys but no secrets`},
		{in: "https://myvault.vault.azure.com", err: `"myvault.vault.azure.com" is not in a Key Vault domain (*.vault.azure.net, *.vault.azure.cn, *.vault.usgovcloudapi.net, *.vault.microsoftazure.de): check the URL, or for a vault behind a custom domain add --disable-challenge-resource-verification`},
		{in: "https://secrets.example.com", err: `not in a Key Vault domain`},
		{in: "https://", err: `has no host`},
		{in: "https://bad_host.example.com", custom: true, err: `has an invalid host name`},
		{in: "https://localhost", custom: true, err: `needs a fully qualified host name`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseVaultURL(tc.in, tc.custom)
			if tc.err != "" {
				assert.Check(t, is.ErrorContains(err, tc.err))
				assert.Check(t, !strings.Contains(err.Error(), "\n"))
				assert.Check(t, !strings.Contains(err.Error(), "hunter2"))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(got, tc.want))
		})
	}
}

func TestResolveVaultURLPrecedence(t *testing.T) {
	got, err := ResolveVaultURL("flagvault", "https://envvault.vault.azure.net", "https://projvault.vault.azure.net", false)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got, "https://flagvault.vault.azure.net"))

	got, err = ResolveVaultURL("", "https://envvault.vault.azure.net", "https://projvault.vault.azure.net", false)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got, "https://envvault.vault.azure.net"))

	got, err = ResolveVaultURL(" ", "", "projvault", false)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got, "https://projvault.vault.azure.net"))

	_, err = ResolveVaultURL("", "", "", false)
	assert.Check(t, is.ErrorIs(err, ErrNoVault))

	// An invalid higher-precedence value is an error, never skipped over.
	_, err = ResolveVaultURL("", "http://envvault", "projvault", false)
	assert.Check(t, is.ErrorContains(err, "invalid vault in DOCKER_VAULT_URL: "))
	_, err = ResolveVaultURL("", "", "x", false)
	assert.Check(t, is.ErrorContains(err, "invalid vault in the compose file's x-vault url: "))
}
