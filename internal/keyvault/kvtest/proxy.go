package kvtest

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
)

// frontHandler serves the plain-http loopback listener: the CONNECT proxy,
// the managed identity endpoint and the admin endpoint.
func (s *Server) frontHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /msi/token", s.handleToken)
	mux.HandleFunc("GET /msi/token/", s.handleToken)
	s.registerAdmin(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			s.handleConnect(w, r)
			return
		}
		// An absolute-form request ("GET http://host/ HTTP/1.1") is a client
		// using us as a forward proxy for plain http: never forward.
		if r.URL.Scheme != "" || r.URL.Host != "" {
			s.refuse(w, http.StatusForbidden, "kv-emulator proxy: only CONNECT to *.vault.azure.net:443 is allowed")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) refuse(w http.ResponseWriter, status int, msg string) {
	s.count(RouteProxyRefused)
	w.Header().Set("Connection", "close")
	http.Error(w, msg, status)
}

// handleConnect opens a tunnel to the emulator's TLS listener for the vault
// host. The tunnel's other end is handed straight to that listener in memory:
// the proxy dials nothing, whatever the request names.
func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil || port != "443" {
		s.refuse(w, http.StatusForbidden, "kv-emulator proxy: only CONNECT to *.vault.azure.net:443 is allowed")
		return
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if !strings.HasSuffix(host, ".vault.azure.net") {
		s.refuse(w, http.StatusForbidden, "kv-emulator proxy: only CONNECT to *.vault.azure.net:443 is allowed")
		return
	}
	if host != s.vaultHost {
		// What a real proxy answers when the name does not resolve: a
		// client pointed at the wrong vault fails loudly.
		s.refuse(w, http.StatusBadGateway, "kv-emulator proxy: unknown vault "+host+"; this emulator serves "+s.vaultHost)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "kv-emulator proxy: hijacking not supported", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = conn.Close()
		return
	}
	s.count(RouteConnect)
	var tunnel net.Conn = conn
	if rw.Reader.Buffered() > 0 {
		// The client may have pipelined its TLS hello behind the CONNECT.
		tunnel = &bufferedConn{Conn: conn, r: rw.Reader}
	}
	s.tlsListener.inject(tunnel)
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// mergedListener accepts both TCP connections on the TLS port and tunnels
// handed over by the proxy.
type mergedListener struct {
	tcp   net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newMergedListener(tcp net.Listener) *mergedListener {
	l := &mergedListener{tcp: tcp, conns: make(chan net.Conn), done: make(chan struct{})}
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				// Closed (or broken): stop feeding; Accept sees done.
				_ = l.Close()
				return
			}
			select {
			case l.conns <- c:
			case <-l.done:
				_ = c.Close()
				return
			}
		}
	}()
	return l
}

func (l *mergedListener) inject(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *mergedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *mergedListener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		close(l.done)
		err = l.tcp.Close()
	})
	return err
}

func (l *mergedListener) Addr() net.Addr { return l.tcp.Addr() }

// quietLog drops net/http's server log: handshake failures of clients that
// do not trust the CA are expected in tests and are not the emulator's news.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
