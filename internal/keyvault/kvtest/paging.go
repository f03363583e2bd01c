package kvtest

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The three lists share paginate, so they page alike: by the key of the
// last item served, as the service does, not by offset.

func (s *Server) listSecrets(r *http.Request, f Faults, now time.Time) (int, []byte, *apiError) {
	return s.listByName(r, f, now, false, func(sec *secret) secretJSON {
		// Items carry the base id and the latest version's properties.
		return s.bundle(sec, sec.latest(), false, false)
	})
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
	return s.listByName(r, f, now, true, func(sec *secret) secretJSON {
		return s.deletedBundle(sec, false)
	})
}

// listByName serves a page of the secrets (deleted or not) in the service's
// order, paged by lower-cased name, each item written by item. item runs
// with the store locked.
func (s *Server) listByName(r *http.Request, f Faults, now time.Time, deleted bool, item func(*secret) secretJSON) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	all := s.store.sortedSecrets(deleted, now)
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
		page.Value = append(page.Value, item(sec))
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
