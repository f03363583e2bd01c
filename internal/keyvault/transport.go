package keyvault

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// NewHTTPClient returns the HTTP client for Key Vault and token requests,
// configured from the environment as it is now: HTTPS_PROXY / NO_PROXY, and
// SSL_CERT_FILE added to the system's trusted roots.
//
// Go's own handling of these (http.ProxyFromEnvironment, the system pool)
// reads the environment once per process. Reading it per client gives the
// same result in the plugin, which opens one vault per run, and lets a test
// binary talk to several emulators, each with its own proxy and CA, through
// the production code path instead of a test-only one.
//
// TLS is always verified; there is no switch to turn that off. A private CA
// is trusted by installing it in the system store or naming it in
// SSL_CERT_FILE.
func NewHTTPClient() (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if file := os.Getenv("SSL_CERT_FILE"); file != "" {
		pem, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("failed to read SSL_CERT_FILE: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("SSL_CERT_FILE %s holds no PEM certificate", file)
		}
		tlsConfig.RootCAs = pool
	}
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	transport := &http.Transport{
		Proxy: func(r *http.Request) (*url.URL, error) { return proxy(r.URL) },
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       tlsConfig,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   MaxConcurrency + 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	return &http.Client{Transport: transport}, nil
}
