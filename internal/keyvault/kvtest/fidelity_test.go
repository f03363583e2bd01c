//go:build corpus

package kvtest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/docker-vault/docker-vault/internal/corpus"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

// The fidelity test replays every request of the real service's recordings
// (../shared/keyvault-recordings beside the repository) against a fresh
// emulator and compares what comes back: status, the headers clients and
// operators look at, and the JSON bodies' shape.
//
// What is normalised, and why:
//   - hosts: request hosts are sanitised in the recordings and ids keep the
//     real vault's host; both become "VAULT";
//   - versions: the service generated them; a recorded version maps to the
//     one the emulator generated for the same request, and request paths are
//     rewritten with it;
//   - timestamps: compared as integer Unix seconds (type), plus the relation
//     scheduledPurgeDate = deletedDate + recoverableDays days;
//   - recoveryLevel/recoverableDays: vault configuration (the recorded vault
//     used 7-day retention), compared by type;
//   - error messages: the service's wording changed between the two
//     api-versions recorded, compared by type; error codes are compared.
//
// Everything else a client set (value, contentType, tags, enabled, nbf,
// exp) and every id must be equal after normalisation.
//
// Soft delete is asynchronous in the service: the recordings show GET of the
// deleted secret answering 404, then 200, as the SDK test polled. Consecutive
// identical requests form a poll group; its entries before the final status
// are transient. The replay polls the way the recorded client did: a transient
// entry also matches when the emulator already answers with the group's final
// reply (it finished sooner), and a final entry is re-sent every 100ms, for at
// most 5s, while the emulator still gives the transient reply. The test runs
// with the emulator's SoftDeleteDelay at 0 and at 500ms, so both paths run.

type recording struct {
	Entries []recordedEntry `json:"Entries"`
}

type recordedEntry struct {
	RequestURI      string            `json:"RequestUri"`
	RequestMethod   string            `json:"RequestMethod"`
	RequestHeaders  map[string]string `json:"RequestHeaders"`
	RequestBody     json.RawMessage   `json:"RequestBody"`
	StatusCode      int               `json:"StatusCode"`
	ResponseHeaders map[string]string `json:"ResponseHeaders"`
	ResponseBody    json.RawMessage   `json:"ResponseBody"`
}

type replayStats struct {
	replayed, exact, early, polled int
}

func TestFidelityAgainstRecordings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpus.Recordings(t), "*.json"))
	assert.NilError(t, err)
	assert.Assert(t, len(files) > 0, "no recordings found")
	sort.Strings(files)

	for _, mode := range []struct {
		name  string
		delay time.Duration
	}{{"immediate-soft-delete", 0}, {"delayed-soft-delete", 500 * time.Millisecond}} {
		t.Run(mode.name, func(t *testing.T) {
			var total replayStats
			for _, file := range files {
				t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
					st := replayRecording(t, file, mode.delay)
					total.replayed += st.replayed
					total.exact += st.exact
					total.early += st.early
					total.polled += st.polled
				})
			}
			matched := total.exact + total.early + total.polled
			t.Logf("fidelity (%s): %d recordings, %d entries replayed, %d matched (%d exactly, %d with the soft delete finished early, %d after polling)",
				mode.name, len(files), total.replayed, matched, total.exact, total.early, total.polled)
			assert.Equal(t, matched, total.replayed)
		})
	}
}

func replayRecording(t *testing.T, file string, delay time.Duration) replayStats {
	raw, err := os.ReadFile(file)
	assert.NilError(t, err)
	var rec recording
	assert.NilError(t, json.Unmarshal(raw, &rec))
	assert.Assert(t, len(rec.Entries) > 0)

	s := kvtest.NewServer(t, kvtest.Options{SoftDeleteDelay: delay})
	r := &replayer{t: t, s: s, client: s.HTTPClient(), token: tokenFor(t, s, "https://vault.azure.net"), versions: map[string]string{}}
	var st replayStats
	entries := rec.Entries
	for i := 0; i < len(entries); {
		// A poll group: consecutive entries with the same request.
		j := i + 1
		for j < len(entries) && sameRequest(entries[i], entries[j]) {
			j++
		}
		group := entries[i:j]
		final := group[len(group)-1]
		for k, e := range group {
			st.replayed++
			transient := e.StatusCode != final.StatusCode
			res := r.send(e)
			r.learnVersions(e, res)
			diffs := r.compare(e, res)
			switch {
			case len(diffs) == 0:
				st.exact++
			case transient && len(r.compare(final, res)) == 0:
				st.early++
			case !transient && k > 0 && r.isTransientReply(group, res):
				res, diffs = r.poll(e, group)
				if len(diffs) == 0 {
					st.polled++
				}
			}
			if len(diffs) > 0 && !(transient && len(r.compare(final, res)) == 0) {
				t.Errorf("entry %d: %s %s: %s", i+k, e.RequestMethod, e.RequestURI, strings.Join(diffs, "; "))
			}
		}
		i = j
	}
	return st
}

func sameRequest(a, b recordedEntry) bool {
	return a.RequestMethod == b.RequestMethod && a.RequestURI == b.RequestURI && bytes.Equal(a.RequestBody, b.RequestBody) &&
		(a.RequestHeaders["Authorization"] == "") == (b.RequestHeaders["Authorization"] == "")
}

type replayer struct {
	t        *testing.T
	s        *kvtest.Server
	client   *http.Client
	token    string
	versions map[string]string // recorded version -> emulator version
}

type replayed struct {
	status int
	header http.Header
	body   []byte
}

var versionSegRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (r *replayer) send(e recordedEntry) replayed {
	t := r.t
	u, err := url.Parse(e.RequestURI)
	assert.NilError(t, err)
	segs := strings.Split(u.Path, "/")
	for i, seg := range segs {
		if versionSegRE.MatchString(seg) {
			mapped, ok := r.versions[seg]
			assert.Assert(t, ok, "recorded version %s was not created earlier in the recording", seg)
			segs[i] = mapped
		}
	}
	target := r.s.VaultURL() + strings.Join(segs, "/") + "?" + u.RawQuery
	var body io.Reader
	if len(e.RequestBody) > 0 && string(e.RequestBody) != "null" {
		body = bytes.NewReader(e.RequestBody)
	}
	req, err := http.NewRequest(e.RequestMethod, target, body)
	assert.NilError(t, err)
	for _, h := range []string{"Accept", "Content-Type", "User-Agent"} {
		if v, ok := e.RequestHeaders[h]; ok {
			req.Header.Set(h, v)
		}
	}
	if _, ok := e.RequestHeaders["Authorization"]; ok {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.client.Do(req)
	assert.NilError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	assert.NilError(t, err)
	return replayed{status: resp.StatusCode, header: resp.Header, body: b}
}

// isTransientReply says whether res matches an earlier, transient entry of
// the group: the emulator has not reached the final state yet.
func (r *replayer) isTransientReply(group []recordedEntry, res replayed) bool {
	final := group[len(group)-1]
	for _, e := range group {
		if e.StatusCode != final.StatusCode && len(r.compare(e, res)) == 0 {
			return true
		}
	}
	return false
}

func (r *replayer) poll(e recordedEntry, group []recordedEntry) (replayed, []string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(100 * time.Millisecond)
		res := r.send(e)
		diffs := r.compare(e, res)
		if len(diffs) == 0 || time.Now().After(deadline) || !r.isTransientReply(group, res) {
			return res, diffs
		}
	}
}

// learnVersions maps the version a recorded set created onto the one the
// emulator created for the same request. Only a set creates versions, so
// every other reply's ids are checked against the mapping, not learned.
func (r *replayer) learnVersions(e recordedEntry, res replayed) {
	if e.RequestMethod != http.MethodPut || e.StatusCode != http.StatusOK {
		return
	}
	var rec, got map[string]any
	if json.Unmarshal(e.ResponseBody, &rec) != nil || json.Unmarshal(res.body, &got) != nil {
		return
	}
	recID, _ := rec["id"].(string)
	gotID, _ := got["id"].(string)
	rv, gv := lastSeg(recID), lastSeg(gotID)
	if !versionSegRE.MatchString(rv) || !versionSegRE.MatchString(gv) {
		return
	}
	for _, mapped := range r.versions {
		if mapped == gv {
			r.t.Errorf("the emulator reused version %s for a new set", gv)
			return
		}
	}
	r.versions[rv] = gv
}

func lastSeg(id string) string { return id[strings.LastIndex(id, "/")+1:] }

var (
	recordedChallengeRE = regexp.MustCompile(`^Bearer authorization="https://login\.(microsoftonline\.com|windows\.net)/[0-9a-f-]{36}", resource="https://[^"/]+"$`)
	requestIDRE         = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|Sanitized)$`)
)

// headersThatMatter are compared for presence; the listed values too.
var headersThatMatter = []string{
	"Cache-Control", "Content-Length", "Content-Type", "Expires", "Pragma", "Strict-Transport-Security",
	"WWW-Authenticate", "X-Content-Type-Options", "x-ms-keyvault-network-info", "x-ms-keyvault-region",
	"x-ms-keyvault-service-version", "x-ms-request-id",
}

var exactHeaders = map[string]bool{
	"Cache-Control": true, "Content-Type": true, "Expires": true, "Pragma": true,
	"Strict-Transport-Security": true, "X-Content-Type-Options": true,
}

func (r *replayer) compare(e recordedEntry, res replayed) []string {
	var diffs []string
	if e.StatusCode != res.status {
		diffs = append(diffs, fmt.Sprintf("status: recorded %d, emulator %d", e.StatusCode, res.status))
	}
	recHeaders := http.Header{}
	for k, v := range e.ResponseHeaders {
		recHeaders.Set(k, v)
	}
	for _, h := range headersThatMatter {
		want, got := recHeaders.Get(h), res.header.Get(h)
		switch {
		case (want == "") != (got == ""):
			diffs = append(diffs, fmt.Sprintf("header %s: recorded %q, emulator %q", h, want, got))
		case want == "":
		case exactHeaders[h] && want != got:
			diffs = append(diffs, fmt.Sprintf("header %s: recorded %q, emulator %q", h, want, got))
		case h == "WWW-Authenticate" && (!recordedChallengeRE.MatchString(want) || !challengeRE.MatchString(got)):
			diffs = append(diffs, fmt.Sprintf("challenge: recorded %q, emulator %q", want, got))
		case h == "x-ms-request-id" && (!requestIDRE.MatchString(want) || !guidRE.MatchString(got)):
			diffs = append(diffs, fmt.Sprintf("request id: recorded %q, emulator %q", want, got))
		case h == "Content-Length" && got != fmt.Sprint(len(res.body)):
			diffs = append(diffs, fmt.Sprintf("content-length %s for a %d-byte body", got, len(res.body)))
		}
	}

	recNull := len(e.ResponseBody) == 0 || string(e.ResponseBody) == "null"
	if recNull || len(res.body) == 0 {
		if recNull != (len(res.body) == 0) {
			diffs = append(diffs, fmt.Sprintf("body: recorded %s, emulator %q", e.ResponseBody, res.body))
		}
		return diffs
	}
	var want, got any
	if err := json.Unmarshal(e.ResponseBody, &want); err != nil {
		return append(diffs, "recorded body is not JSON")
	}
	if err := json.Unmarshal(res.body, &got); err != nil {
		return append(diffs, "emulator body is not JSON")
	}
	return append(diffs, r.shapeDiff("$", "", want, got)...)
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

var hostRE = regexp.MustCompile(`^https://[^/]+`)

// normalizeID puts an id on a neutral host; recorded versions are mapped to
// the emulator's.
func (r *replayer) normalizeID(id string, recorded bool) string {
	id = hostRE.ReplaceAllString(id, "https://VAULT")
	if recorded {
		if v := lastSeg(id); versionSegRE.MatchString(v) {
			if mapped, ok := r.versions[v]; ok {
				id = strings.TrimSuffix(id, v) + mapped
			}
		}
	}
	return id
}

func (r *replayer) shapeDiff(path, key string, want, got any) []string {
	if jsonType(want) != jsonType(got) {
		return []string{fmt.Sprintf("%s: recorded %s, emulator %s", path, jsonType(want), jsonType(got))}
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		var diffs []string
		for _, k := range sortedKeys(w) {
			if _, ok := g[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing in the emulator's reply", path, k))
				continue
			}
			diffs = append(diffs, r.shapeDiff(path+"."+k, k, w[k], g[k])...)
		}
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: not in the recorded reply", path, k))
			}
		}
		if dd, ok := g["deletedDate"].(float64); ok {
			spd, _ := g["scheduledPurgeDate"].(float64)
			days, _ := g["attributes"].(map[string]any)["recoverableDays"].(float64)
			if spd-dd != days*86400 {
				diffs = append(diffs, fmt.Sprintf("%s: scheduledPurgeDate is not deletedDate + %v days", path, days))
			}
		}
		return diffs
	case []any:
		g := got.([]any)
		if len(w) != len(g) {
			return []string{fmt.Sprintf("%s: recorded %d items, emulator %d", path, len(w), len(g))}
		}
		// List items are matched by id: the emulator's version ids sort
		// differently from the recorded ones.
		byID := map[string]any{}
		for _, item := range g {
			if m, ok := item.(map[string]any); ok {
				if id, ok := m["id"].(string); ok {
					byID[r.normalizeID(id, false)] = item
				}
			}
		}
		var diffs []string
		// Ids differ, so order cannot be compared item by item; but if the
		// recorded list is sorted by id (it is: names, and versions by id),
		// the emulator's must be too.
		if sortedByID(w) && !sortedByID(g) {
			diffs = append(diffs, fmt.Sprintf("%s: recorded items are sorted by id, the emulator's are not", path))
		}
		for i, item := range w {
			other := g[i]
			if m, ok := item.(map[string]any); ok {
				if id, ok := m["id"].(string); ok {
					if other, ok = byID[r.normalizeID(id, true)]; !ok {
						diffs = append(diffs, fmt.Sprintf("%s: no item with id %s", path, r.normalizeID(id, true)))
						continue
					}
				}
			}
			diffs = append(diffs, r.shapeDiff(fmt.Sprintf("%s[%d]", path, i), "", item, other)...)
		}
		return diffs
	}
	switch key {
	case "id", "recoveryId":
		if a, b := r.normalizeID(want.(string), true), r.normalizeID(got.(string), false); a != b {
			return []string{fmt.Sprintf("%s: recorded %s, emulator %s", path, a, b)}
		}
	case "created", "updated", "deletedDate", "scheduledPurgeDate", "nbf", "exp":
		if g := got.(float64); g != math.Trunc(g) {
			return []string{fmt.Sprintf("%s: %v is not whole seconds", path, g)}
		}
		if (key == "nbf" || key == "exp") && want != got {
			return []string{fmt.Sprintf("%s: recorded %v, emulator %v", path, want, got)}
		}
	case "message", "recoveryLevel", "recoverableDays", "nextLink":
		// Type only; see the comment at the top of the file.
	default:
		if want != got {
			return []string{fmt.Sprintf("%s: recorded %v, emulator %v", path, want, got)}
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedByID(items []any) bool {
	var ids []string
	for _, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			return false
		}
		id, ok := m["id"].(string)
		if !ok {
			return false
		}
		ids = append(ids, strings.ToLower(id))
	}
	return len(ids) > 1 && sort.StringsAreSorted(ids)
}
