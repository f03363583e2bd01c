// Package kvtest is an Azure Key Vault (secrets data plane) emulator for tests.
//
// It is faithful enough that the unmodified Azure SDK for Go, with its
// challenge policy and resource verification on, and azidentity's managed
// identity credential cannot tell it from the service for what docker vault
// uses. To get there without a test-only code path in the client:
//
//   - the vault is addressed by a real-looking URL, https://<name>.vault.azure.net,
//     and answers the service's challenge (resource https://vault.azure.net),
//     so the SDK's check that the vault host ends in "."+resource host passes;
//   - clients reach that host through an HTTP CONNECT proxy on 127.0.0.1
//     (HTTPS_PROXY). The proxy tunnels only *.vault.azure.net:443, and only
//     into the emulator's own TLS listener: it never dials anything;
//   - the TLS certificate is issued by a CA generated at start, which clients
//     trust through SSL_CERT_FILE (or Server.Transport in process);
//   - tokens come from an App Service managed identity endpoint
//     (IDENTITY_ENDPOINT, IDENTITY_HEADER) that the data plane trusts.
//
// Every listener binds to loopback. See README.md for the routes, the admin
// endpoint and what the emulator does not reproduce.
package kvtest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// MaxPageSize is the most items the service returns in one page.
const MaxPageSize = 25

// Options configure an emulator. The zero value is a working emulator named
// "emulator" with no secrets and no faults.
type Options struct {
	// VaultName is the vault's name: the emulator serves
	// https://<VaultName>.vault.azure.net. Default "emulator".
	VaultName string
	// Seed holds initial secrets, name to value.
	Seed map[string]string
	// Clock, when set, gives the created and updated times of the versions
	// written and changed (tokens, deletion and faults keep the real
	// time). Tests of what a client does with those times set it: several
	// versions within one second, or versions long settled. Nil is the
	// time of each request.
	Clock func() time.Time

	// Fault knobs; see Faults for their meaning. They can change at run time
	// through SetFaults or the admin endpoint.
	Latency         time.Duration
	ThrottleRate    float64
	RetryAfter      time.Duration // 0: 429 without Retry-After
	ErrorRate       float64
	ErrorStatus     int // 500 or 503; 0: either
	Forbidden       []string
	ForbiddenCode   string // "ForbiddenByPolicy" (default) or "AccessDenied"
	Malformed       []string
	EmptyPages      bool
	EndlessPages    bool
	SoftDeleteDelay time.Duration

	// PageSize is the page size of lists when the client sends no
	// maxresults. Default and max 25.
	PageSize int
	// RandSeed seeds fault decisions and generated versions and request
	// ids. Zero, the default, draws a seed from crypto/rand, so every run
	// generates new version ids, as the service does: a swarm secret named
	// after a version of an earlier run must not look current. Set it to
	// repeat a run (Server.RandSeed gives the seed a run used). Tokens and
	// IDENTITY_HEADER are always random.
	RandSeed int64

	// ProxyAddr is where the plain-http listener (proxy, token endpoint,
	// admin) listens. Default "127.0.0.1:0". Must be a loopback address.
	ProxyAddr string
	// AdminAddr, when set, also serves the admin endpoint on its own
	// loopback listener, and AdminURL points there.
	AdminAddr string
}

// Faults returns the fault fields of o.
func (o Options) Faults() Faults {
	return Faults{
		Latency:         o.Latency,
		ThrottleRate:    o.ThrottleRate,
		RetryAfter:      o.RetryAfter,
		ErrorRate:       o.ErrorRate,
		ErrorStatus:     o.ErrorStatus,
		Forbidden:       append([]string(nil), o.Forbidden...),
		ForbiddenCode:   o.ForbiddenCode,
		Malformed:       append([]string(nil), o.Malformed...),
		EmptyPages:      o.EmptyPages,
		EndlessPages:    o.EndlessPages,
		SoftDeleteDelay: o.SoftDeleteDelay,
	}
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	vaultName string
	vaultHost string
	pageSize  int

	// Identity of the fake tenant and managed identity. The tenant is fixed
	// (it is the one in the recordings); the identity is per server.
	tenantID, clientID, objectID string
	identityHeader               string

	pki *pki

	store  *store
	faults faultState
	counts counters

	randSeed int64
	idMu     sync.Mutex
	idRNG    *mathrand.Rand

	tlsListener *mergedListener
	tlsServer   *http.Server
	front       net.Listener
	frontServer *http.Server
	admin       net.Listener
	adminServer *http.Server

	closeOnce sync.Once
	closeErr  error
}

// tenantID is the tenant of the recorded challenges; any GUID would do, but
// this one keeps the emulator's challenge byte-identical to the recordings.
const tenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"

var vaultNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,22}[a-z0-9]$`)

// Start starts an emulator with opts. Close it when done.
func Start(opts Options) (*Server, error) {
	name := strings.ToLower(opts.VaultName)
	if name == "" {
		name = "emulator"
	}
	if !vaultNameRE.MatchString(name) || strings.Contains(name, "--") {
		return nil, fmt.Errorf("invalid vault name %q: use 3-24 letters, digits and single hyphens, starting with a letter", opts.VaultName)
	}
	pageSize := opts.PageSize
	if pageSize == 0 {
		pageSize = MaxPageSize
	}
	if pageSize < 1 || pageSize > MaxPageSize {
		return nil, fmt.Errorf("invalid page size %d: must be between 1 and %d", opts.PageSize, MaxPageSize)
	}
	faults := opts.Faults()
	if err := faults.validate(); err != nil {
		return nil, err
	}
	proxyAddr := opts.ProxyAddr
	if proxyAddr == "" {
		proxyAddr = "127.0.0.1:0"
	}
	if err := CheckLoopback(proxyAddr); err != nil {
		return nil, err
	}
	if opts.AdminAddr != "" {
		if err := CheckLoopback(opts.AdminAddr); err != nil {
			return nil, err
		}
	}

	// Two independent streams, so generating a version never shifts which
	// request a fault hits.
	seed := opts.RandSeed
	if seed == 0 {
		seed = randomSeed()
	}
	s := &Server{
		randSeed:       seed,
		vaultName:      name,
		vaultHost:      name + ".vault.azure.net",
		pageSize:       pageSize,
		tenantID:       tenantID,
		clientID:       randomGUID(),
		objectID:       randomGUID(),
		identityHeader: randomHex(24),
		store:          newStore(opts.Clock),
		faults:         faultState{f: faults, rng: mathrand.New(mathrand.NewPCG(uint64(seed), 0x6661756c7473))},
		idRNG:          mathrand.New(mathrand.NewPCG(uint64(seed), 0x76657273696f6e)),
	}
	var err error
	if s.pki, err = newPKI(s.vaultHost); err != nil {
		return nil, err
	}
	now := time.Now()
	// In name order, so two runs with the same RandSeed give every secret
	// the same version.
	for _, n := range slices.Sorted(maps.Keys(opts.Seed)) {
		if _, _, apiErr := s.store.set(n, setParams{value: opts.Seed[n]}, s.newVersionID, now); apiErr != nil {
			return nil, fmt.Errorf("invalid seed secret %q: %s", n, apiErr.message)
		}
	}
	if err := s.listen(proxyAddr, opts.AdminAddr); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// NewServer starts an emulator for a test and closes it when the test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("failed to start key vault emulator: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (s *Server) listen(proxyAddr, adminAddr string) error {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("failed to listen for TLS: %w", err)
	}
	s.tlsListener = newMergedListener(tcp)
	s.tlsServer = &http.Server{
		Handler:           http.HandlerFunc(s.serveData),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// HTTP/1.1 only: a non-nil empty map turns off HTTP/2, so each
		// request costs what it costs against the service's front end.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     quietLog(),
	}
	tlsConfig := &tls.Config{
		Certificates: []tls.Certificate{s.pki.leaf},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
	go func() { _ = s.tlsServer.Serve(tls.NewListener(s.tlsListener, tlsConfig)) }()

	if s.front, err = net.Listen("tcp", proxyAddr); err != nil {
		return fmt.Errorf("failed to listen on %s: %w", proxyAddr, err)
	}
	s.frontServer = &http.Server{Handler: s.frontHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog()}
	go func() { _ = s.frontServer.Serve(s.front) }()

	if adminAddr != "" {
		if s.admin, err = net.Listen("tcp", adminAddr); err != nil {
			return fmt.Errorf("failed to listen on %s: %w", adminAddr, err)
		}
		mux := http.NewServeMux()
		s.registerAdmin(mux)
		s.adminServer = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog()}
		go func() { _ = s.adminServer.Serve(s.admin) }()
	}
	return nil
}

// Close stops every listener and drops open connections.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for _, srv := range []*http.Server{s.frontServer, s.adminServer, s.tlsServer} {
			if srv != nil {
				errs = append(errs, srv.Close())
			}
		}
		if s.tlsListener != nil {
			errs = append(errs, ignoreClosed(s.tlsListener.Close()))
		}
		for _, l := range []net.Listener{s.front, s.admin} {
			if l != nil {
				errs = append(errs, ignoreClosed(l.Close()))
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// CheckLoopback rejects an address that is not host:port on a loopback IP
// (or "localhost"). The emulator must never be reachable from elsewhere.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to listen on %q: only loopback addresses (127.0.0.1, ::1, localhost) are allowed", addr)
	}
	return nil
}
