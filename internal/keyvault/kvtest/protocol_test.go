package kvtest_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

var (
	guidRE      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	challengeRE = regexp.MustCompile(`^Bearer authorization="https://login\.microsoftonline\.com/[0-9a-f-]{36}", resource="https://vault\.azure\.net"$`)
)

func TestUnauthenticatedRequestsGetTheChallenge(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{Seed: map[string]string{"a": "seeded-value-1"}})
	cases := map[string]string{
		"none":   "-",
		"forged": s.Token()[:40] + "x.y.z",
		"basic":  "",
	}
	for name, token := range cases {
		t.Run(name, func(t *testing.T) {
			r := callWith(t, s, token, http.MethodGet, "/secrets/a/", nil)
			assert.Equal(t, r.status, http.StatusUnauthorized)
			assert.Assert(t, is.Regexp(challengeRE, r.header.Get("WWW-Authenticate")))
			code, _ := r.errorCodes(t)
			assert.Equal(t, code, "Unauthorized")
			assertNoLeak(t, "seeded-value-1", string(r.body))
		})
	}
	// A token for another resource is refused too.
	tok := tokenFor(t, s, "https://management.azure.com")
	r := callWith(t, s, tok, http.MethodGet, "/secrets/a/", nil)
	assert.Equal(t, r.status, http.StatusUnauthorized)
	assert.Assert(t, is.Contains(string(r.body), "audience"))
	assert.Equal(t, s.Count(kvtest.RouteChallenge), 4)
	assert.Equal(t, s.Count(kvtest.RouteGetSecret), 0, "challenged requests are not route requests")

	// The recorded first request: a PUT with its body stripped.
	r = callWith(t, s, "-", http.MethodPut, "/secrets/new?api-version=2026-04-01", nil)
	assert.Equal(t, r.status, http.StatusUnauthorized)
	assert.Equal(t, r.header.Get("Content-Type"), "application/json; charset=utf-8")
	assert.Equal(t, string(r.body), `{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token."}}`)
}

// tokenFor asks the emulator's managed identity endpoint for a token, as
// MSAL does for App Service.
func tokenFor(t *testing.T, s *kvtest.Server, resource string) string {
	t.Helper()
	resp := tokenRequest(t, s, s.IdentityHeader(), "2019-08-01", resource)
	defer resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusOK)
	var body map[string]string
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&body))
	return body["access_token"]
}

func tokenRequest(t *testing.T, s *kvtest.Server, header, apiVersion, resource string) *http.Response {
	t.Helper()
	q := url.Values{}
	if apiVersion != "" {
		q.Set("api-version", apiVersion)
	}
	if resource != "" {
		q.Set("resource", resource)
	}
	req, err := http.NewRequest(http.MethodGet, s.IdentityEndpoint()+"?"+q.Encode(), nil)
	assert.NilError(t, err)
	if header != "" {
		req.Header.Set("X-IDENTITY-HEADER", header)
	}
	resp, err := http.DefaultClient.Do(req)
	assert.NilError(t, err)
	return resp
}

func TestTokenEndpoint(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	resp := tokenRequest(t, s, s.IdentityHeader(), "2019-08-01", "https://vault.azure.net")
	defer resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusOK)
	var body map[string]any
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, body["resource"], "https://vault.azure.net")
	assert.Equal(t, body["token_type"], "Bearer")
	assert.Assert(t, is.Regexp(guidRE, body["client_id"].(string)))
	expiresOn, ok := body["expires_on"].(string)
	assert.Assert(t, ok, "App Service sends expires_on as a string")
	var exp int64
	_, err := fmt.Sscan(expiresOn, &exp)
	assert.NilError(t, err)
	assert.Assert(t, time.Until(time.Unix(exp, 0)) > time.Hour)

	r := callWith(t, s, body["access_token"].(string), http.MethodGet, "/secrets", nil)
	assert.Equal(t, r.status, http.StatusOK)

	for _, tc := range []struct {
		name, header, version, resource string
		status                          int
	}{
		{"missing header", "", "2019-08-01", "https://vault.azure.net", http.StatusBadRequest},
		{"wrong header", "nope", "2019-08-01", "https://vault.azure.net", http.StatusUnauthorized},
		{"wrong api-version", s.IdentityHeader(), "2017-09-01", "https://vault.azure.net", http.StatusBadRequest},
		{"no resource", s.IdentityHeader(), "2019-08-01", "", http.StatusBadRequest},
	} {
		resp := tokenRequest(t, s, tc.header, tc.version, tc.resource)
		resp.Body.Close()
		assert.Equal(t, resp.StatusCode, tc.status, tc.name)
	}
	assert.Equal(t, s.Count(kvtest.RouteToken), 5)
}

func TestServiceHeaders(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.SetSecret("h", "v")
	r := call(t, s, http.MethodGet, "/secrets/h/", nil)
	assert.Equal(t, r.status, http.StatusOK)
	assert.Equal(t, r.header.Get("Content-Type"), "application/json; charset=utf-8")
	assert.Equal(t, r.header.Get("Cache-Control"), "no-cache")
	assert.Equal(t, r.header.Get("Content-Length"), fmt.Sprint(len(r.body)))
	assert.Assert(t, is.Regexp(guidRE, r.header.Get("x-ms-request-id")))
	assert.Assert(t, r.header.Get("x-ms-keyvault-service-version") != "")

	call(t, s, http.MethodDelete, "/secrets/h", nil)
	r = call(t, s, http.MethodDelete, "/deletedsecrets/h", nil)
	assert.Equal(t, r.status, http.StatusNoContent)
	assert.Equal(t, r.header.Get("Content-Type"), "")
	assert.Equal(t, len(r.body), 0)
}

func TestWireShapes(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	r := call(t, s, http.MethodPut, "/secrets/plain", map[string]any{"value": "shape-value"})
	assert.Equal(t, r.status, http.StatusOK)
	m := r.json(t)
	// Unset fields are omitted, not null.
	_, hasCT := m["contentType"]
	_, hasTags := m["tags"]
	assert.Assert(t, !hasCT && !hasTags, "%s", r.body)
	attrs := m["attributes"].(map[string]any)
	_, hasNbf := attrs["nbf"]
	assert.Assert(t, !hasNbf)
	assert.Equal(t, attrs["recoveryLevel"], "Recoverable+Purgeable")
	assert.Equal(t, attrs["recoverableDays"], float64(90))
	// Timestamps are integer seconds.
	assert.Assert(t, !strings.Contains(string(r.body), `"created":1.`), "%s", r.body)
	assert.Assert(t, regexp.MustCompile(`"created":\d{10},`).Match(r.body), "%s", r.body)

	// An empty value is a value.
	r = call(t, s, http.MethodPut, "/secrets/empty", map[string]any{"value": ""})
	assert.Equal(t, r.status, http.StatusOK)
	assert.Equal(t, r.json(t)["value"], "")

	// Bad bodies are 400 BadParameter and never echo the body.
	for _, body := range []any{`{"value": "leaky-value",`, map[string]any{"contentType": "x"}, ""} {
		r = call(t, s, http.MethodPut, "/secrets/bad", body)
		assert.Equal(t, r.status, http.StatusBadRequest, "%v", body)
		code, _ := r.errorCodes(t)
		assert.Equal(t, code, "BadParameter")
		assertNoLeak(t, "leaky-value", string(r.body))
	}

	// Lists never carry values.
	s.Populate("listed", 3)
	for _, path := range []string{"/secrets", "/secrets/plain/versions"} {
		r = call(t, s, http.MethodGet, path, nil)
		assert.Equal(t, r.status, http.StatusOK)
		assertNoLeak(t, "shape-value", string(r.body))
		assertNoLeak(t, "populated-", string(r.body))
		assert.Assert(t, !strings.Contains(string(r.body), `"value":"`), "%s", r.body)
	}
}

func TestAPIVersions(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	for _, v := range []string{"7.0", "7.3", "7.4-preview.1", "7.6", "2025-07-01", "2026-03-01-preview", "2026-04-01"} {
		r := call(t, s, http.MethodGet, "/secrets?api-version="+v, nil)
		assert.Equal(t, r.status, http.StatusOK, v)
	}
	for _, path := range []string{"/secrets?maxresults=1", "/secrets?api-version=8.0", "/secrets?api-version=2016-10-01"} {
		r := call(t, s, http.MethodGet, path, nil)
		assert.Equal(t, r.status, http.StatusBadRequest, path)
		code, _ := r.errorCodes(t)
		assert.Equal(t, code, "BadParameter", path)
	}
}

func TestUnknownRoutes(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	r := call(t, s, http.MethodGet, "/keys", nil)
	assert.Equal(t, r.status, http.StatusNotFound)
	r = call(t, s, http.MethodPost, "/secrets", nil)
	assert.Equal(t, r.status, http.StatusMethodNotAllowed)
	r = call(t, s, http.MethodPost, "/secrets/x/backup", nil)
	assert.Equal(t, r.status, http.StatusNotImplemented)
	assert.Equal(t, s.Count(kvtest.RouteUnknown), 2)
	assert.Equal(t, s.Count(kvtest.RouteBackupSecret), 1)
}

// listPage fetches one page and returns its item ids and nextLink.
func listPage(t *testing.T, s *kvtest.Server, target string) ([]string, any) {
	t.Helper()
	r := call(t, s, http.MethodGet, target, nil)
	assert.Equal(t, r.status, http.StatusOK, "%s", r.body)
	var page struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
		NextLink any `json:"nextLink"`
	}
	assert.NilError(t, json.Unmarshal(r.body, &page))
	_, present := r.json(t)["nextLink"]
	assert.Assert(t, present, "nextLink is always present, null on the last page")
	ids := make([]string, len(page.Value))
	for i, v := range page.Value {
		ids[i] = v.ID
	}
	return ids, page.NextLink
}

func TestPagingMaxResultsAndNextLink(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.Populate("p", 60)

	ids, next := listPage(t, s, "/secrets?api-version=7.6&maxresults=7")
	assert.Equal(t, len(ids), 7)
	link, ok := next.(string)
	assert.Assert(t, ok)
	u, err := url.Parse(link)
	assert.NilError(t, err)
	// Absolute, on the host the client addressed, with the service's :443.
	assert.Equal(t, u.Scheme, "https")
	assert.Equal(t, u.Host, "emulator.vault.azure.net:443")
	assert.Equal(t, u.Path, "/secrets")
	assert.Equal(t, u.Query().Get("api-version"), "7.6")
	assert.Equal(t, u.Query().Get("maxresults"), "7")
	assert.Assert(t, u.Query().Get("$skiptoken") != "")

	all := append([]string(nil), ids...)
	pages := 1
	for next != nil {
		ids, next = listPage(t, s, next.(string))
		all = append(all, ids...)
		pages++
	}
	assert.Equal(t, pages, 9)
	assert.Equal(t, len(all), 60)
	assert.Equal(t, all[0], s.VaultURL()+"/secrets/p-00000")
	assert.Equal(t, all[59], s.VaultURL()+"/secrets/p-00059")

	for _, bad := range []string{"0", "26", "-1", "x"} {
		r := call(t, s, http.MethodGet, "/secrets?api-version=7.6&maxresults="+bad, nil)
		assert.Equal(t, r.status, http.StatusBadRequest, bad)
	}
	r := call(t, s, http.MethodGet, "/secrets?api-version=7.6&$skiptoken=!!", nil)
	assert.Equal(t, r.status, http.StatusBadRequest)
	ids, next = listPage(t, s, "/secrets?api-version=7.6&maxresults=25")
	assert.Equal(t, len(ids), 25)
	assert.Assert(t, next != nil)
}

func TestPagingIsStableUnderChanges(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.Populate("p", 10)
	ids, next := listPage(t, s, "/secrets?api-version=7.6&maxresults=5")
	assert.Equal(t, len(ids), 5)
	// A secret that sorts before the marker does not shift the next page.
	s.SetSecret("a-first", "v")
	ids, next = listPage(t, s, next.(string))
	assert.Equal(t, ids[0], s.VaultURL()+"/secrets/p-00005")
	assert.Equal(t, len(ids), 5)
	assert.Equal(t, next, nil)
}

func TestEmptyAndEndlessPages(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{EmptyPages: true})
	s.Populate("p", 30)
	var sizes []int
	var total int
	next := any("/secrets?api-version=7.6")
	for next != nil {
		var ids []string
		ids, next = listPage(t, s, next.(string))
		sizes = append(sizes, len(ids))
		total += len(ids)
	}
	assert.DeepEqual(t, sizes, []int{0, 25, 0, 5})
	assert.Equal(t, total, 30)

	s.SetFaults(kvtest.Faults{EndlessPages: true})
	next = any("/secrets?api-version=7.6")
	seen := map[string]bool{}
	for range 6 {
		_, next = listPage(t, s, next.(string))
		link, ok := next.(string)
		assert.Assert(t, ok, "every page has a nextLink")
		assert.Assert(t, !seen[link], "each nextLink is new")
		seen[link] = true
	}
}

func TestMalformedReplies(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{Malformed: []string{kvtest.RouteListSecrets}})
	s.SetSecret("m", "v")
	r := call(t, s, http.MethodGet, "/secrets", nil)
	assert.Equal(t, r.status, http.StatusOK)
	assert.Equal(t, r.header.Get("Content-Type"), "application/json; charset=utf-8")
	assert.Assert(t, !json.Valid(r.body))
	r = call(t, s, http.MethodGet, "/secrets/m/", nil)
	assert.Assert(t, json.Valid(r.body), "other routes are untouched")
	assert.Equal(t, s.Count(kvtest.RouteFaultMalformed), 1)
}

func TestServerErrorMixIsSeeded(t *testing.T) {
	statuses := func() string {
		s := kvtest.NewServer(t, kvtest.Options{ErrorRate: 0.5, RandSeed: 7})
		var b strings.Builder
		for range 40 {
			r := call(t, s, http.MethodGet, "/secrets", nil)
			fmt.Fprintf(&b, "%d ", r.status)
			if r.status >= 500 {
				code, _ := r.errorCodes(t)
				assert.Assert(t, code == "InternalServerError" || code == "ServiceUnavailable", code)
			}
		}
		return b.String()
	}
	first := statuses()
	assert.Equal(t, statuses(), first)
	for _, want := range []string{"200 ", "500 ", "503 "} {
		assert.Assert(t, is.Contains(first, want))
	}
}

func TestLatency(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{Latency: 50 * time.Millisecond})
	start := time.Now()
	call(t, s, http.MethodGet, "/secrets", nil)
	assert.Assert(t, time.Since(start) >= 50*time.Millisecond)
	s.SetFaults(kvtest.Faults{})
	start = time.Now()
	call(t, s, http.MethodGet, "/secrets", nil)
	assert.Assert(t, time.Since(start) < 50*time.Millisecond)
}

func TestForbiddenWildcard(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{Forbidden: []string{"*"}, ForbiddenCode: "AccessDenied"})
	r := call(t, s, http.MethodGet, "/secrets", nil)
	assert.Equal(t, r.status, http.StatusForbidden)
	code, inner := r.errorCodes(t)
	assert.Equal(t, code, "Forbidden")
	assert.Equal(t, inner, "AccessDenied")
	assert.Assert(t, is.Contains(string(r.body), "secrets list permission"))
}

func TestInvalidOptions(t *testing.T) {
	for _, opts := range []kvtest.Options{
		{VaultName: "no_underscores"},
		{PageSize: 26},
		{ThrottleRate: 1.5},
		{ErrorStatus: 502},
		{ForbiddenCode: "Nope"},
		{Malformed: []string{"GET /nope"}},
		{ProxyAddr: "0.0.0.0:0"},
		{AdminAddr: "192.0.2.1:0"},
		{Seed: map[string]string{"bad name": "v"}},
	} {
		_, err := kvtest.Start(opts)
		assert.Assert(t, err != nil, "%+v", opts)
	}
}

func TestCountPanicsOnUnknownKey(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	defer func() { assert.Assert(t, recover() != nil) }()
	s.Count("GET /secrets/{name}")
}

func TestProxyRefusesAnythingButTheVault(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{VaultName: "myvault"})
	proxyAddr := strings.TrimPrefix(s.ProxyURL(), "http://")
	connect := func(target string) int {
		conn, err := net.Dial("tcp", proxyAddr)
		assert.NilError(t, err)
		defer conn.Close()
		fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		assert.NilError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, connect("example.com:443"), http.StatusForbidden)
	assert.Equal(t, connect("127.0.0.1:22"), http.StatusForbidden)
	assert.Equal(t, connect("myvault.vault.azure.net:80"), http.StatusForbidden)
	assert.Equal(t, connect("vault.azure.net.evil.com:443"), http.StatusForbidden)
	assert.Equal(t, connect("other.vault.azure.net:443"), http.StatusBadGateway)
	assert.Equal(t, connect("MyVault.Vault.Azure.Net:443"), http.StatusOK)

	// Plain forward proxying is refused.
	conn, err := net.Dial("tcp", proxyAddr)
	assert.NilError(t, err)
	defer conn.Close()
	fmt.Fprint(conn, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	assert.NilError(t, err)
	resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusForbidden)
	assert.Equal(t, s.Count(kvtest.RouteProxyRefused), 6)
	assert.Equal(t, s.Count(kvtest.RouteConnect), 1)
}

func TestTLSCertificate(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	pool := x509.NewCertPool()
	assert.Assert(t, pool.AppendCertsFromPEM(s.CACertPEM()))
	for _, name := range []string{"emulator.vault.azure.net", "anything.vault.azure.net", "localhost", "127.0.0.1"} {
		conn, err := tls.Dial("tcp", s.TLSAddr(), &tls.Config{RootCAs: pool, ServerName: name})
		assert.NilError(t, err, name)
		conn.Close()
	}
	// Not trusted without the CA.
	_, err := tls.Dial("tcp", s.TLSAddr(), &tls.Config{ServerName: "emulator.vault.azure.net"})
	assert.ErrorContains(t, err, "certificate")
}

func TestAdminEndpoint(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{AdminAddr: "127.0.0.1:0"})
	admin := s.AdminURL()
	assert.Assert(t, !strings.HasPrefix(admin, s.ProxyURL()), "AdminAddr gets its own listener")
	post := func(path, contentType, body string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Post(admin+path, contentType, strings.NewReader(body))
		assert.NilError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		assert.NilError(t, err)
		return resp, string(b)
	}

	const value = "admin-set-value-5b2"
	resp, body := post("/secrets/from-script", "application/octet-stream", value)
	assert.Equal(t, resp.StatusCode, http.StatusOK)
	assertNoLeak(t, value, body)
	var set map[string]string
	assert.NilError(t, json.Unmarshal([]byte(body), &set))
	assert.Equal(t, len(set["version"]), 32)
	r := call(t, s, http.MethodGet, "/secrets/from-script/"+set["version"], nil)
	assert.Equal(t, r.json(t)["value"], value)

	resp, _ = post("/secrets/from-script/disable", "", "")
	assert.Equal(t, resp.StatusCode, http.StatusNoContent)
	r = call(t, s, http.MethodGet, "/secrets/from-script/", nil)
	_, inner := r.errorCodes(t)
	assert.Equal(t, inner, "SecretDisabled")
	resp, _ = post("/secrets/from-script/enable", "", "")
	assert.Equal(t, resp.StatusCode, http.StatusNoContent)
	resp, _ = post("/secrets/nope/enable", "", "")
	assert.Equal(t, resp.StatusCode, http.StatusNotFound)
	resp, _ = post("/secrets/bad_name", "", "v")
	assert.Equal(t, resp.StatusCode, http.StatusBadRequest)

	// Faults change partially: fields left out keep their value.
	resp, _ = post("/faults", "application/json", `{"latency":"5ms","throttleRate":0.25,"forbidden":["x"]}`)
	assert.Equal(t, resp.StatusCode, http.StatusOK)
	resp, body = post("/faults", "application/json", `{"retryAfter":"2s"}`)
	assert.Equal(t, resp.StatusCode, http.StatusOK, body)
	f := s.CurrentFaults()
	assert.Equal(t, f.Latency, 5*time.Millisecond)
	assert.Equal(t, f.ThrottleRate, 0.25)
	assert.Equal(t, f.RetryAfter, 2*time.Second)
	assert.DeepEqual(t, f.Forbidden, []string{"x"})
	for _, bad := range []string{`{"throttleRate":2}`, `{"latency":"soon"}`, `{"nope":1}`, `{"malformed":["GET /x"]}`} {
		resp, _ = post("/faults", "application/json", bad)
		assert.Equal(t, resp.StatusCode, http.StatusBadRequest, bad)
	}
	getResp, err := http.Get(admin + "/faults")
	assert.NilError(t, err)
	var shown map[string]any
	assert.NilError(t, json.NewDecoder(getResp.Body).Decode(&shown))
	getResp.Body.Close()
	assert.Equal(t, shown["retryAfter"], "2s")

	// Counters over HTTP, then reset.
	getResp, err = http.Get(admin + "/counters")
	assert.NilError(t, err)
	var counts map[string]int
	assert.NilError(t, json.NewDecoder(getResp.Body).Decode(&counts))
	getResp.Body.Close()
	assert.Equal(t, counts[kvtest.RouteGetSecret], 2)
	assert.DeepEqual(t, counts, s.Counts())
	resp, _ = post("/reset", "", "")
	assert.Equal(t, resp.StatusCode, http.StatusNoContent)
	assert.Equal(t, len(s.Counts()), 0)

	// The admin endpoint is on the front listener too.
	getResp, err = http.Get(s.ProxyURL() + "/admin/counters")
	assert.NilError(t, err)
	getResp.Body.Close()
	assert.Equal(t, getResp.StatusCode, http.StatusOK)
}

func TestDirectHelpersPanicOnMisuse(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	for name, fn := range map[string]func(){
		"bad name":     func() { s.SetSecret("bad name", "v") },
		"too big":      func() { s.SetSecret("big", strings.Repeat("z", 25601)) },
		"not found":    func() { s.SetEnabled("missing", false) },
		"bad faults":   func() { s.SetFaults(kvtest.Faults{ErrorRate: -1}) },
		"bad populate": func() { s.Populate("bad_prefix", 1) },
	} {
		func() {
			defer func() {
				r := recover()
				assert.Assert(t, r != nil, name)
				assertNoLeak(t, strings.Repeat("z", 100), fmt.Sprint(r))
			}()
			fn()
		}()
	}
}

func TestSeededRunsAreRepeatable(t *testing.T) {
	seed := map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}
	ids := func() []any {
		s := kvtest.NewServer(t, kvtest.Options{Seed: seed, RandSeed: 99})
		var out []any
		for name := range seed {
			out = append(out, call(t, s, http.MethodGet, "/secrets/"+name+"/", nil).json(t)["id"])
		}
		sort.Slice(out, func(i, j int) bool { return out[i].(string) < out[j].(string) })
		return out
	}
	first := ids()
	for range 3 {
		assert.DeepEqual(t, ids(), first)
	}
}

// Versions are random by default, as the service's are: two runs must not
// give a secret the same version ids, or a swarm secret named after a
// version from an earlier run looks current. An explicit RandSeed, or the
// seed a run drew given back, repeats a run's versions.
func TestVersionsRandomUnlessSeeded(t *testing.T) {
	type run struct {
		seeded, set string // the Seed option's version, then a PUT's
		seed        int64
	}
	start := func(opts kvtest.Options) run {
		opts.Seed = map[string]string{"db-password": "first-value"}
		s := kvtest.NewServer(t, opts)
		version := func(r rawResponse) string {
			assert.Assert(t, is.Equal(r.status, http.StatusOK), "%s", r.body)
			id, _ := r.json(t)["id"].(string)
			return id[strings.LastIndex(id, "/")+1:]
		}
		return run{
			seeded: version(call(t, s, http.MethodGet, "/secrets/db-password/", nil)),
			set:    version(call(t, s, http.MethodPut, "/secrets/db-password", map[string]string{"value": "second-value"})),
			seed:   s.RandSeed(),
		}
	}

	a, b := start(kvtest.Options{}), start(kvtest.Options{})
	assert.Check(t, a.seeded != b.seeded, "two default runs gave the seeded secret version %s", a.seeded)
	assert.Check(t, a.set != b.set, "two default runs gave the set secret version %s", a.set)
	assert.Check(t, a.seed > 0 && b.seed > 0 && a.seed != b.seed, "drawn seeds %d, %d", a.seed, b.seed)
	assert.Check(t, is.Len(a.seeded, 32))

	c, d := start(kvtest.Options{RandSeed: 42}), start(kvtest.Options{RandSeed: 42})
	assert.Check(t, c == d, "two runs with RandSeed 42: %+v, %+v", c, d)
	assert.Check(t, is.Equal(c.seed, int64(42)))
	assert.Check(t, c.seeded != a.seeded && c.seeded != b.seeded)

	again := start(kvtest.Options{RandSeed: a.seed})
	assert.Check(t, is.Equal(again.seeded, a.seeded))
	assert.Check(t, is.Equal(again.set, a.set))
}
