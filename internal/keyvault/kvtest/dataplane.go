package kvtest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// serviceVersion is what the recorded service reported; clients only log it.
const serviceVersion = "1.9.3347.1"

// maxBodyBytes bounds request bodies. A maximal value with tags and
// attributes is far below it.
const maxBodyBytes = 1 << 20

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

// serveData is the vault's data plane, behind the TLS listener.
func (s *Server) serveData(w http.ResponseWriter, r *http.Request) {
	if d := s.faults.get().Latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	h := w.Header()
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

	now := time.Now()
	if _, reason := validateToken(r.Header.Get("Authorization"), now); reason != "" {
		s.count(RouteChallenge)
		h["WWW-Authenticate"] = []string{`Bearer authorization="https://login.microsoftonline.com/` + s.tenantID + `", resource="` + vaultResource + `"`}
		writeError(w, &apiError{status: http.StatusUnauthorized, code: "Unauthorized", message: reason})
		return
	}

	req := parseRoute(r.Method, r.URL.EscapedPath())
	s.count(req.route)
	q := r.URL.Query()
	if v := q.Get("api-version"); v == "" {
		writeError(w, errBadParameter("The request URI contains an invalid or missing api-version query parameter."))
		return
	} else if !apiVersionRE.MatchString(v) {
		writeError(w, errBadParameter("The specified version (%s) is not recognized. Consider using the latest supported version (%s).", truncateForMessage(v), latestAPIVersion))
		return
	}

	f, d := s.faults.decide()
	switch {
	case f.forbids(req.name):
		s.count(RouteFaultForbidden)
		code := f.ForbiddenCode
		if code == "" {
			code = "ForbiddenByPolicy"
		}
		writeError(w, s.forbiddenError(code, req.route, req.name))
		return
	case d.throttle:
		s.count(RouteFaultThrottle)
		if f.RetryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
		}
		writeError(w, throttledError())
		return
	case d.errStatus != 0:
		s.count(RouteFaultError)
		writeError(w, serverError(d.errStatus))
		return
	}

	switch req.status {
	case http.StatusNotFound:
		writeError(w, &apiError{status: http.StatusNotFound, code: "NotFound", message: "The requested operation is not supported: " + r.Method + " " + truncateForMessage(r.URL.Path)})
		return
	case http.StatusMethodNotAllowed:
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", message: "The method " + r.Method + " is not allowed on " + truncateForMessage(r.URL.Path)})
		return
	case http.StatusNotImplemented:
		writeError(w, &apiError{status: http.StatusNotImplemented, code: "NotImplemented", message: "The Key Vault emulator does not implement backup and restore."})
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

// Wire shapes. Field order follows the service's replies; unset fields are
// omitted, as the service omits them.

type attributesJSON struct {
	Enabled         bool   `json:"enabled"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         int64  `json:"created"`
	Updated         int64  `json:"updated"`
	RecoveryLevel   string `json:"recoveryLevel"`
	RecoverableDays int    `json:"recoverableDays"`
}

type secretJSON struct {
	RecoveryID         string            `json:"recoveryId,omitempty"`
	DeletedDate        *int64            `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *int64            `json:"scheduledPurgeDate,omitempty"`
	Value              *string           `json:"value,omitempty"`
	ContentType        *string           `json:"contentType,omitempty"`
	ID                 string            `json:"id"`
	Attributes         attributesJSON    `json:"attributes"`
	Tags               map[string]string `json:"tags,omitempty"`
}

type listJSON struct {
	Value    []secretJSON `json:"value"`
	NextLink *string      `json:"nextLink"`
}

type attributesIn struct {
	Enabled   *bool        `json:"enabled"`
	NotBefore *json.Number `json:"nbf"`
	Expires   *json.Number `json:"exp"`
}

type setIn struct {
	Value       *string            `json:"value"`
	ContentType *string            `json:"contentType"`
	Attributes  *attributesIn      `json:"attributes"`
	Tags        map[string]*string `json:"tags"`
}

type updateIn struct {
	ContentType *string             `json:"contentType"`
	Attributes  *attributesIn       `json:"attributes"`
	Tags        *map[string]*string `json:"tags"`
}

func (s *Server) secretID(sec *secret, v *version) string {
	id := s.VaultURL() + "/secrets/" + sec.name
	if v != nil {
		id += "/" + v.id
	}
	return id
}

// bundle renders a version. withValue is true only for set and get: every
// other reply of the service leaves the value out.
func (s *Server) bundle(sec *secret, v *version, withValue, versioned bool) secretJSON {
	out := secretJSON{
		ContentType: v.contentType,
		Attributes: attributesJSON{
			Enabled:         v.enabled,
			NotBefore:       v.notBefore,
			Expires:         v.expires,
			Created:         v.created,
			Updated:         v.updated,
			RecoveryLevel:   recoveryLevel,
			RecoverableDays: recoverableDays,
		},
	}
	if versioned {
		out.ID = s.secretID(sec, v)
	} else {
		out.ID = s.secretID(sec, nil)
	}
	if withValue {
		value := v.value
		out.Value = &value
	}
	if len(v.tags) > 0 {
		out.Tags = v.tags
	}
	return out
}

func (s *Server) deletedBundle(sec *secret, versioned bool) secretJSON {
	out := s.bundle(sec, sec.latest(), false, versioned)
	out.RecoveryID = s.VaultURL() + "/deletedsecrets/" + sec.name
	date, purge := sec.deleted.date, sec.deleted.purgeDate
	out.DeletedDate, out.ScheduledPurgeDate = &date, &purge
	return out
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own wire types get here; they always marshal.
		panic("kvtest: " + err.Error())
	}
	return b
}

func decodeBody(r *http.Request, v any) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errBadParameter("The request body is too large.")
		}
		return errBadParameter("The request body could not be read.")
	}
	if len(body) == 0 {
		return errBadParameter("The request body is missing.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		// Never echo the body: it may hold the value.
		return errBadParameter("The request body is not valid JSON for this operation.")
	}
	return nil
}

func unixField(n *json.Number, field string) (*int64, *apiError) {
	if n == nil {
		return nil, nil
	}
	if i, err := n.Int64(); err == nil {
		return &i, nil
	}
	fl, err := n.Float64()
	if err != nil || fl < 0 || fl > math.MaxInt32*4 {
		return nil, errBadParameter("Invalid value for attributes.%s: it must be a Unix time in seconds.", field)
	}
	i := int64(fl)
	return &i, nil
}

func flattenTags(in map[string]*string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		if v != nil {
			out[k] = *v
		} else {
			out[k] = ""
		}
	}
	return out
}

func (s *Server) setSecret(req request, r *http.Request, now time.Time) (int, []byte, *apiError) {
	if err := validateName(req.name); err != nil {
		return 0, nil, err
	}
	var in setIn
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Value == nil {
		return 0, nil, errBadParameter("The parameter value is required.")
	}
	p := setParams{value: *in.Value, contentType: in.ContentType, tags: flattenTags(in.Tags)}
	if a := in.Attributes; a != nil {
		var err *apiError
		p.enabled = a.Enabled
		if p.notBefore, err = unixField(a.NotBefore, "nbf"); err != nil {
			return 0, nil, err
		}
		if p.expires, err = unixField(a.Expires, "exp"); err != nil {
			return 0, nil, err
		}
	}
	sec, v, err := s.store.set(req.name, p, s.newVersionID, now)
	if err != nil {
		return 0, nil, err
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return http.StatusOK, marshal(s.bundle(sec, v, true, true)), nil
}

func (s *Server) getSecret(req request) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if req.version != "" && !versionRE.MatchString(req.version) {
		if err := validateName(req.name); err != nil {
			return 0, nil, err
		}
		return 0, nil, errSecretNotFound(req.name + "/" + truncateForMessage(req.version))
	}
	sec, v, err := s.store.lookup(req.name, req.version)
	if err != nil {
		return 0, nil, err
	}
	// nbf and exp are not enforced on get: the service returns the value.
	if !v.enabled {
		return 0, nil, errDisabled()
	}
	return http.StatusOK, marshal(s.bundle(sec, v, true, true)), nil
}

func (s *Server) updateSecret(req request, r *http.Request, now time.Time) (int, []byte, *apiError) {
	var in updateIn
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	var tags map[string]string
	if in.Tags != nil {
		tags = flattenTags(*in.Tags)
	}
	if err := validateProperties(in.ContentType, tags); err != nil {
		return 0, nil, err
	}
	var nbf, exp *int64
	if a := in.Attributes; a != nil {
		var err *apiError
		if nbf, err = unixField(a.NotBefore, "nbf"); err != nil {
			return 0, nil, err
		}
		if exp, err = unixField(a.Expires, "exp"); err != nil {
			return 0, nil, err
		}
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if req.version != "" && !versionRE.MatchString(req.version) {
		if err := validateName(req.name); err != nil {
			return 0, nil, err
		}
		return 0, nil, errSecretNotFound(req.name + "/" + truncateForMessage(req.version))
	}
	sec, v, err := s.store.lookup(req.name, req.version)
	if err != nil {
		return 0, nil, err
	}
	if in.ContentType != nil {
		ct := *in.ContentType
		v.contentType = &ct
	}
	if in.Tags != nil {
		v.tags = tags
	}
	if a := in.Attributes; a != nil {
		if a.Enabled != nil {
			v.enabled = *a.Enabled
		}
		if nbf != nil {
			v.notBefore = nbf
		}
		if exp != nil {
			v.expires = exp
		}
	}
	v.updated = now.Unix()
	return http.StatusOK, marshal(s.bundle(sec, v, false, true)), nil
}

func (s *Server) deleteSecret(req request, f Faults, now time.Time) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sec, err := s.store.active(req.name)
	if err != nil {
		return 0, nil, err
	}
	sec.deleted = &deletion{
		date:      now.Unix(),
		purgeDate: now.Unix() + recoverableDays*24*60*60,
		visibleAt: now.Add(f.SoftDeleteDelay),
	}
	return http.StatusOK, marshal(s.deletedBundle(sec, true)), nil
}

func (s *Server) getDeleted(req request, now time.Time) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sec, err := s.store.deletedSecret(req.name, now)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, marshal(s.deletedBundle(sec, true)), nil
}

func (s *Server) purgeDeleted(req request, now time.Time) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sec, err := s.store.deletedSecret(req.name, now)
	if err != nil {
		return 0, nil, err
	}
	delete(s.store.secrets, strings.ToLower(sec.name))
	return http.StatusNoContent, nil, nil
}

func (s *Server) recoverDeleted(req request, now time.Time) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sec, err := s.store.deletedSecret(req.name, now)
	if err != nil {
		return 0, nil, err
	}
	sec.deleted = nil
	return http.StatusOK, marshal(s.bundle(sec, sec.latest(), false, true)), nil
}

func (s *Server) listSecrets(r *http.Request, f Faults, now time.Time) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	all := s.store.sortedSecrets(false, now)
	keys := make([]string, len(all))
	for i, sec := range all {
		keys[i] = strings.ToLower(sec.name)
	}
	start, end, next, err := s.paginate(r, f, keys)
	if err != nil {
		return 0, nil, err
	}
	page := listJSON{Value: make([]secretJSON, 0, end-start), NextLink: next}
	for _, sec := range all[start:end] {
		// Items carry the base id and the latest version's properties.
		page.Value = append(page.Value, s.bundle(sec, sec.latest(), false, false))
	}
	return http.StatusOK, marshal(page), nil
}

func (s *Server) listVersions(req request, r *http.Request, f Faults) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sec, err := s.store.active(req.name)
	if err != nil {
		return 0, nil, err
	}
	// The service orders versions by id, not by creation (see the
	// ListSecretVersions recording).
	versions := append([]*version(nil), sec.versions...)
	sort.Slice(versions, func(i, j int) bool { return versions[i].id < versions[j].id })
	keys := make([]string, len(versions))
	for i, v := range versions {
		keys[i] = v.id
	}
	start, end, next, err := s.paginate(r, f, keys)
	if err != nil {
		return 0, nil, err
	}
	page := listJSON{Value: make([]secretJSON, 0, end-start), NextLink: next}
	for _, v := range versions[start:end] {
		page.Value = append(page.Value, s.bundle(sec, v, false, true))
	}
	return http.StatusOK, marshal(page), nil
}

func (s *Server) listDeleted(r *http.Request, f Faults, now time.Time) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	all := s.store.sortedSecrets(true, now)
	keys := make([]string, len(all))
	for i, sec := range all {
		keys[i] = strings.ToLower(sec.name)
	}
	start, end, next, err := s.paginate(r, f, keys)
	if err != nil {
		return 0, nil, err
	}
	page := listJSON{Value: make([]secretJSON, 0, end-start), NextLink: next}
	for _, sec := range all[start:end] {
		page.Value = append(page.Value, s.deletedBundle(sec, false))
	}
	return http.StatusOK, marshal(page), nil
}

// skipToken is the emulator's paging state. It travels base64-encoded in
// $skiptoken, opaque to clients, as the service's does.
type skipToken struct {
	// NextMarker is the key of the last item served; the next page starts
	// after it, so items added or removed meanwhile do not shift pages.
	NextMarker string `json:"NextMarker"`
	// EmptyServed says the empty page before this position was served.
	EmptyServed bool `json:"E,omitempty"`
	// Round counts pages served past the end in endless mode.
	Round int `json:"N,omitempty"`
}

// paginate picks the page of keys (sorted ascending) the request asks for,
// and its nextLink.
func (s *Server) paginate(r *http.Request, f Faults, keys []string) (start, end int, next *string, _ *apiError) {
	q := r.URL.Query()
	size := s.pageSize
	maxResults := q.Get("maxresults")
	if maxResults != "" {
		n, err := strconv.Atoi(maxResults)
		if err != nil || n < 1 || n > MaxPageSize {
			return 0, 0, nil, errBadParameter("Invalid value for maxresults: %s. It must be an integer between 1 and %d.", truncateForMessage(maxResults), MaxPageSize)
		}
		size = n
	}
	var tok skipToken
	if raw := q.Get("$skiptoken"); raw != "" {
		b, err := base64.RawURLEncoding.DecodeString(raw)
		if err != nil || json.Unmarshal(b, &tok) != nil {
			return 0, 0, nil, errBadParameter("The $skiptoken is not valid.")
		}
	}
	start = sort.SearchStrings(keys, tok.NextMarker)
	if start < len(keys) && tok.NextMarker != "" && keys[start] == tok.NextMarker {
		start++
	}
	link := func(t skipToken) *string {
		b, _ := json.Marshal(t)
		l := s.nextLink(r, base64.RawURLEncoding.EncodeToString(b), maxResults)
		return &l
	}
	if f.EmptyPages && !tok.EmptyServed {
		return start, start, link(skipToken{NextMarker: tok.NextMarker, EmptyServed: true, Round: tok.Round}), nil
	}
	end = min(start+size, len(keys))
	switch {
	case end < len(keys):
		next = link(skipToken{NextMarker: keys[end-1]})
	case f.EndlessPages:
		marker := tok.NextMarker
		if end > start {
			marker = keys[end-1]
		}
		next = link(skipToken{NextMarker: marker, Round: tok.Round + 1})
	}
	return start, end, next, nil
}

// nextLink is absolute on the host the client addressed, with the port the
// service spells out, and keeps the api-version and maxresults.
func (s *Server) nextLink(r *http.Request, token, maxResults string) string {
	host := r.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host += ":443"
	}
	link := "https://" + host + r.URL.EscapedPath() +
		"?api-version=" + url.QueryEscape(r.URL.Query().Get("api-version")) +
		"&$skiptoken=" + token
	if maxResults != "" {
		link += "&maxresults=" + url.QueryEscape(maxResults)
	}
	return link
}
