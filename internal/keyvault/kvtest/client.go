package kvtest

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// How clients reach the emulator: its URLs, its CA, the environment of a
// child process, and a transport for clients in the test's own process.

// VaultURL is the vault's URL: https://<name>.vault.azure.net.
func (s *Server) VaultURL() string { return "https://" + s.vaultHost }

// ProxyURL is the CONNECT proxy clients use as HTTPS_PROXY.
func (s *Server) ProxyURL() string { return "http://" + s.front.Addr().String() }

// TLSAddr is the data plane's own TLS listener, for clients that dial it
// directly (its certificate also names localhost and 127.0.0.1).
func (s *Server) TLSAddr() string { return s.tlsListener.Addr().String() }

// CACertPEM is the PEM of the CA that issued the emulator's certificate.
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.pki.caPEM...) }

// WriteCA writes the CA certificate (public, no key) to path for
// SSL_CERT_FILE.
func (s *Server) WriteCA(path string) error {
	if err := os.WriteFile(path, s.pki.caPEM, 0o644); err != nil {
		return fmt.Errorf("failed to write emulator CA: %w", err)
	}
	return nil
}

// IdentityEndpoint is the managed identity endpoint for IDENTITY_ENDPOINT.
func (s *Server) IdentityEndpoint() string { return s.ProxyURL() + "/msi/token" }

// IdentityHeader is the secret clients send as X-IDENTITY-HEADER
// (IDENTITY_HEADER).
func (s *Server) IdentityHeader() string { return s.identityHeader }

// AdminURL is the base of the admin endpoint, e.g. http://127.0.0.1:PORT/admin.
func (s *Server) AdminURL() string {
	if s.admin != nil {
		return "http://" + s.admin.Addr().String() + "/admin"
	}
	return s.ProxyURL() + "/admin"
}

// Env lists, as KEY=VALUE, what a child process needs to use the emulator
// through DefaultAzureCredential: SSL_CERT_FILE (caFile, see WriteCA),
// HTTPS_PROXY, IDENTITY_ENDPOINT, IDENTITY_HEADER and DOCKER_VAULT_URL.
//
// Build the child's environment without inherited AZURE_*, IDENTITY_*,
// MSI_*, NO_PROXY and proxy variables: they would change which credential
// DefaultAzureCredential picks or where requests go.
func (s *Server) Env(caFile string) []string {
	return []string{
		"SSL_CERT_FILE=" + caFile,
		"HTTPS_PROXY=" + s.ProxyURL(),
		"IDENTITY_ENDPOINT=" + s.IdentityEndpoint(),
		"IDENTITY_HEADER=" + s.IdentityHeader(),
		"DOCKER_VAULT_URL=" + s.VaultURL(),
	}
}

// Transport returns a transport for in-process clients: requests to
// *.vault.azure.net go through the emulator's proxy and trust its CA; any
// other request (the token endpoint) goes direct. Wrap it in an http.Client
// for azcore's ClientOptions.Transport, or use HTTPClient.
func (s *Server) Transport() *http.Transport {
	proxy, _ := url.Parse(s.ProxyURL())
	return &http.Transport{
		Proxy: func(r *http.Request) (*url.URL, error) {
			if r.URL.Scheme == "https" && strings.HasSuffix(strings.ToLower(r.URL.Hostname()), ".vault.azure.net") {
				return proxy, nil
			}
			return nil, nil
		},
		TLSClientConfig:     &tls.Config{RootCAs: s.pki.caPool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     time.Minute,
	}
}

// HTTPClient is an http.Client over Transport. It satisfies azcore's
// policy.Transporter.
func (s *Server) HTTPClient() *http.Client { return &http.Client{Transport: s.Transport()} }

// Token returns a valid bearer token for the data plane, as the managed
// identity endpoint would issue it, for tests that speak raw HTTP.
func (s *Server) Token() string {
	tok, _ := s.issueToken(vaultResource, time.Now())
	return tok
}
