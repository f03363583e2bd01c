package kvtest

import (
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// serviceVersion is what the recorded service reported; clients only log it.
const serviceVersion = "1.9.3347.1"

// apiVersionRE accepts the versions the Key Vault secrets API has had:
// 7.0 to 7.6 (with -preview suffixes) and the date-based 2025/2026 ones the
// current SDK sends (azsecrets v1.5.1: 2026-04-01).
var apiVersionRE = regexp.MustCompile(`^(7\.[0-6](-preview(\.\d+)?)?|202[56]-\d\d-\d\d(-preview)?)$`)

// latestAPIVersion is named in the error for an unknown api-version.
const latestAPIVersion = "2026-04-01"

// request is a parsed data-plane request.
type request struct {
	route   string
	name    string
	version string
	status  int // non-zero: answer this (404/405/501) without dispatching
}

// parseRoute maps a method and path onto the service's operations.
func parseRoute(method, escapedPath string) request {
	raw := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil {
			return request{route: RouteUnknown, status: http.StatusNotFound}
		}
		segs[i] = u
	}
	// A trailing slash is the same resource: azsecrets asks for the latest
	// version as /secrets/{name}/ (an empty version).
	if len(segs) > 1 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	want := func(route, m string, r request) request {
		r.route = route
		if method != m {
			return request{route: RouteUnknown, status: http.StatusMethodNotAllowed}
		}
		return r
	}
	switch {
	case len(segs) == 1 && segs[0] == "secrets":
		return want(RouteListSecrets, http.MethodGet, request{})
	case len(segs) == 2 && segs[0] == "secrets" && segs[1] == "restore" && method == http.MethodPost:
		return request{route: RouteRestoreSecret, status: http.StatusNotImplemented}
	case len(segs) == 2 && segs[0] == "secrets":
		r := request{name: segs[1]}
		switch method {
		case http.MethodPut:
			r.route = RouteSetSecret
		case http.MethodGet:
			r.route = RouteGetSecret
		case http.MethodPatch:
			r.route = RouteUpdateSecret
		case http.MethodDelete:
			r.route = RouteDeleteSecret
		default:
			return request{route: RouteUnknown, status: http.StatusMethodNotAllowed}
		}
		return r
	case len(segs) == 3 && segs[0] == "secrets" && segs[2] == "versions":
		return want(RouteListVersions, http.MethodGet, request{name: segs[1]})
	case len(segs) == 3 && segs[0] == "secrets" && segs[2] == "backup":
		r := want(RouteBackupSecret, http.MethodPost, request{name: segs[1]})
		if r.status == 0 {
			r.status = http.StatusNotImplemented
		}
		return r
	case len(segs) == 3 && segs[0] == "secrets":
		r := request{name: segs[1], version: segs[2]}
		switch method {
		case http.MethodGet:
			r.route = RouteGetSecret
		case http.MethodPatch:
			r.route = RouteUpdateSecret
		default:
			return request{route: RouteUnknown, status: http.StatusMethodNotAllowed}
		}
		return r
	case len(segs) == 1 && segs[0] == "deletedsecrets":
		return want(RouteListDeleted, http.MethodGet, request{})
	case len(segs) == 2 && segs[0] == "deletedsecrets":
		r := request{name: segs[1]}
		switch method {
		case http.MethodGet:
			r.route = RouteGetDeleted
		case http.MethodDelete:
			r.route = RoutePurgeDeleted
		default:
			return request{route: RouteUnknown, status: http.StatusMethodNotAllowed}
		}
		return r
	case len(segs) == 3 && segs[0] == "deletedsecrets" && segs[2] == "recover":
		return want(RouteRecoverDeleted, http.MethodPost, request{name: segs[1]})
	}
	return request{route: RouteUnknown, status: http.StatusNotFound}
}

// serveData is the vault's data plane, behind the TLS listener. The order
// of its checks is part of the emulation: a request without a valid token
// gets the challenge whatever else is wrong with it, and a fault hits only
// an authenticated request with a known api-version.
func (s *Server) serveData(w http.ResponseWriter, r *http.Request) {
	if !s.delay(r) {
		return
	}
	h := w.Header()
	s.setHeaders(h, r)

	now := time.Now()
	if _, reason := validateToken(r.Header.Get("Authorization"), now); reason != "" {
		s.count(RouteChallenge)
		h["WWW-Authenticate"] = []string{`Bearer authorization="https://login.microsoftonline.com/` + s.tenantID + `", resource="` + vaultResource + `"`}
		writeError(w, &apiError{status: http.StatusUnauthorized, code: "Unauthorized", message: reason})
		return
	}

	req := parseRoute(r.Method, r.URL.EscapedPath())
	s.count(req.route)
	if apiErr := checkAPIVersion(r.URL.Query().Get("api-version")); apiErr != nil {
		writeError(w, apiErr)
		return
	}

	f, d := s.faults.decide()
	if apiErr := s.injectFault(h, req, f, d); apiErr != nil {
		writeError(w, apiErr)
		return
	}
	if apiErr := unsupported(req, r); apiErr != nil {
		writeError(w, apiErr)
		return
	}

	status, body, apiErr := s.dispatch(req, r, f, now)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	if f.malformed(req.route) {
		s.count(RouteFaultMalformed)
		// Cut mid-document: the reply still claims JSON and a 200, which
		// is what a broken intermediary produces.
		body = body[:len(body)/2]
	}
	writeJSON(w, status, body)
}

// delay waits out the Latency fault. It returns false when the client gave
// up meanwhile: there is no one left to answer.
func (s *Server) delay(r *http.Request) bool {
	if d := s.faults.get().Latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		}
	}
	return true
}

// setHeaders sets the headers the service sends with every reply.
func (s *Server) setHeaders(h http.Header, r *http.Request) {
	h.Set("Cache-Control", "no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "-1")
	h.Set("Strict-Transport-Security", "max-age=31536000;includeSubDomains")
	h.Set("X-Content-Type-Options", "nosniff")
	// Set by key, not Set: the service sends these names in lower case and
	// Set would canonicalise them. Clients read headers case-insensitively.
	h["x-ms-keyvault-region"] = []string{"emulator"}
	h["x-ms-keyvault-network-info"] = []string{"conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;"}
	h["x-ms-keyvault-service-version"] = []string{serviceVersion}
	h["x-ms-request-id"] = []string{s.newRequestID()}
	if id := r.Header.Get("x-ms-client-request-id"); id != "" {
		h["x-ms-client-request-id"] = []string{id}
	}
}

// checkAPIVersion refuses a missing or unknown api-version, as the service
// does before anything else about the request.
func checkAPIVersion(v string) *apiError {
	if v == "" {
		return errBadParameter("The request URI contains an invalid or missing api-version query parameter.")
	}
	if !apiVersionRE.MatchString(v) {
		return errBadParameter("The specified version (%s) is not recognized. Consider using the latest supported version (%s).", truncateForMessage(v), latestAPIVersion)
	}
	return nil
}

// injectFault is the reply of the fault d decided for req, if any, counted
// under its fault route.
func (s *Server) injectFault(h http.Header, req request, f Faults, d decision) *apiError {
	switch {
	case f.forbids(req.name):
		s.count(RouteFaultForbidden)
		code := f.ForbiddenCode
		if code == "" {
			code = "ForbiddenByPolicy"
		}
		return s.forbiddenError(code, req.route, req.name)
	case d.throttle:
		s.count(RouteFaultThrottle)
		if f.RetryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
		}
		return throttledError()
	case d.errStatus != 0:
		s.count(RouteFaultError)
		return serverError(d.errStatus)
	}
	return nil
}

// unsupported is the reply to a request parseRoute could not dispatch: an
// unknown path, a method the path does not take, or backup and restore.
func unsupported(req request, r *http.Request) *apiError {
	switch req.status {
	case http.StatusNotFound:
		return &apiError{status: http.StatusNotFound, code: "NotFound", message: "The requested operation is not supported: " + r.Method + " " + truncateForMessage(r.URL.Path)}
	case http.StatusMethodNotAllowed:
		return &apiError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", message: "The method " + r.Method + " is not allowed on " + truncateForMessage(r.URL.Path)}
	case http.StatusNotImplemented:
		return &apiError{status: http.StatusNotImplemented, code: "NotImplemented", message: "The Key Vault emulator does not implement backup and restore."}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, e *apiError) { writeJSON(w, e.status, e.body()) }

func (s *Server) dispatch(req request, r *http.Request, f Faults, now time.Time) (int, []byte, *apiError) {
	switch req.route {
	case RouteSetSecret:
		return s.setSecret(req, r, now)
	case RouteGetSecret:
		return s.getSecret(req)
	case RouteUpdateSecret:
		return s.updateSecret(req, r, now)
	case RouteDeleteSecret:
		return s.deleteSecret(req, f, now)
	case RouteListSecrets:
		return s.listSecrets(r, f, now)
	case RouteListVersions:
		return s.listVersions(req, r, f)
	case RouteListDeleted:
		return s.listDeleted(r, f, now)
	case RouteGetDeleted:
		return s.getDeleted(req, now)
	case RoutePurgeDeleted:
		return s.purgeDeleted(req, now)
	case RouteRecoverDeleted:
		return s.recoverDeleted(req, now)
	}
	return 0, nil, &apiError{status: http.StatusNotFound, code: "NotFound", message: "The requested operation is not supported."}
}
