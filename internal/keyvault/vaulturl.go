package keyvault

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// ErrNoVault: no --vault, DOCKER_VAULT_URL or compose x-vault url was given.
var ErrNoVault = errors.New("no vault given: use --vault NAME, set DOCKER_VAULT_URL, or add `x-vault: {url: https://NAME.vault.azure.net}` to the compose file")

// vaultDomains are the Key Vault DNS suffixes of the Azure clouds: public,
// China, US Government and Germany (retired, still resolvable for some).
// A vault's URL is https://NAME.<suffix>, and the service's challenge names
// the resource https://<suffix>, which the SDK checks the host against.
var vaultDomains = []string{
	"vault.azure.net",
	"vault.azure.cn",
	"vault.usgovcloudapi.net",
	"vault.microsoftazure.de",
}

// hsmDomains are Managed HSM's suffixes. A Managed HSM holds keys only: it
// has no secrets API, so pointing docker vault at one can only fail later
// with a confusing 404. Refuse it up front instead.
var hsmDomains = []string{
	"managedhsm.azure.net",
	"managedhsm.azure.cn",
	"managedhsm.usgovcloudapi.net",
	"managedhsm.microsoftazure.de",
}

// vaultNameRE is the service's rule for vault names: 3-24 characters,
// letters, digits and hyphens, starting with a letter and ending with a
// letter or digit. Consecutive hyphens are checked separately (RE2 has no
// lookahead).
var vaultNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$`)

// dnsLabelRE is one label of a custom domain.
var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ResolveVaultURL picks the vault by precedence: the --vault flag, then
// DOCKER_VAULT_URL (env), then the compose project's top-level
// `x-vault: {url: ...}` (project), and validates it with ParseVaultURL. An
// empty value at every level is ErrNoVault.
func ResolveVaultURL(flag, env, project string, customDomain bool) (string, error) {
	for _, c := range []struct{ source, value string }{
		{"--vault", flag},
		{"DOCKER_VAULT_URL", env},
		{"the compose file's x-vault url", project},
	} {
		if strings.TrimSpace(c.value) == "" {
			continue
		}
		u, err := ParseVaultURL(c.value, customDomain)
		if err != nil {
			return "", fmt.Errorf("invalid vault in %s: %w", c.source, err)
		}
		return u, nil
	}
	return "", ErrNoVault
}

// ParseVaultURL turns a vault name ("myvault") or URL
// ("https://myvault.vault.azure.net/") into the canonical base URL
// ("https://myvault.vault.azure.net"), rejecting, before any request is
// made, whatever would send a token or a value somewhere unexpected: a
// scheme other than https, user info, a path, query or fragment, a port
// other than 443, an IP address, or a host outside the Key Vault domains
// unless customDomain is set (--disable-challenge-resource-verification:
// without it the SDK would refuse the challenge of a custom domain anyway).
func ParseVaultURL(s string, customDomain bool) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		if strings.ContainsAny(s, "./:") {
			return "", fmt.Errorf("%q is neither a vault name nor a URL: use a name like myvault or a URL like https://myvault.vault.azure.net", s)
		}
		if err := checkVaultName(s); err != nil {
			return "", err
		}
		return "https://" + strings.ToLower(s) + "." + vaultDomains[0], nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("the vault URL is not a valid URL: use https://NAME.vault.azure.net")
	}
	switch {
	case u.User != nil:
		return "", fmt.Errorf("vault URL %q must not contain user info: credentials come from --credential, not the URL", redactUser(u))
	case !strings.EqualFold(u.Scheme, "https"):
		return "", fmt.Errorf("vault URL %q must use https: use https://%s", s, u.Host)
	case u.Path != "" && u.Path != "/", u.RawPath != "":
		return "", fmt.Errorf("vault URL %q must not have a path: use https://%s", s, u.Host)
	case u.RawQuery != "" || u.ForceQuery:
		return "", fmt.Errorf("vault URL %q must not have a query: use https://%s", s, u.Host)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "", fmt.Errorf("vault URL %q must not have a fragment: use https://%s", s, u.Host)
	case u.Port() != "" && u.Port() != "443":
		return "", fmt.Errorf("vault URL %q must not name a port: Key Vault listens on 443", s)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("vault URL %q has no host: use https://NAME.vault.azure.net", s)
	}
	if net.ParseIP(host) != nil {
		return "", fmt.Errorf("vault URL %q is an IP address: use the vault's name, https://NAME.vault.azure.net, so TLS and the token's audience can be checked", s)
	}
	for _, d := range hsmDomains {
		if strings.HasSuffix(host, "."+d) {
			return "", fmt.Errorf("%q is a Managed HSM, which holds keys but no secrets: use a Key Vault URL (https://NAME.vault.azure.net)", s)
		}
	}
	for _, d := range vaultDomains {
		name, ok := strings.CutSuffix(host, "."+d)
		if !ok {
			continue
		}
		if strings.Contains(name, ".") {
			return "", fmt.Errorf("vault URL %q has extra labels before .%s: use https://NAME.%s", s, d, d)
		}
		if err := checkVaultName(name); err != nil {
			return "", err
		}
		return "https://" + host, nil
	}
	if !customDomain {
		return "", fmt.Errorf("%q is not in a Key Vault domain (*.%s): check the URL, or for a vault behind a custom domain add --disable-challenge-resource-verification",
			host, strings.Join(vaultDomains, ", *."))
	}
	labels := strings.Split(host, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("vault URL %q needs a fully qualified host name", s)
	}
	for _, l := range labels {
		if !dnsLabelRE.MatchString(l) {
			return "", fmt.Errorf("vault URL %q has an invalid host name", s)
		}
	}
	return "https://" + host, nil
}

func checkVaultName(name string) error {
	if !vaultNameRE.MatchString(name) || strings.Contains(name, "--") {
		return fmt.Errorf("invalid vault name %q: use 3-24 letters, digits and single hyphens, starting with a letter and ending with a letter or digit", name)
	}
	return nil
}

// redactUser drops the password of a URL for an error message: a user who
// typed https://user:pass@host must not see the password echoed to a log.
func redactUser(u *url.URL) string {
	c := *u
	if _, has := c.User.Password(); has {
		c.User = url.UserPassword(c.User.Username(), "xxxxx")
	}
	return c.String()
}
