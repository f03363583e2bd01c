package keyvault

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// The emulator covers the service's behaviour; these tests cover the corner
// cases it does not produce (retry-after-ms, loops of nextLink, a foreign
// nextLink, a challenge for another cloud, odd shapes) with a transport
// that answers in process. The client above it is the unmodified SDK.

type azToken = azcore.AccessToken

var farFuture = time.Now().Add(24 * time.Hour)

// fakeVault is a policy.Transporter playing a vault: it answers the
// unauthenticated first request with the challenge, then hands every
// authorized request to handle, numbered from 0.
type fakeVault struct {
	resource string // challenge resource; default https://vault.azure.net
	handle   func(n int, r *http.Request) *http.Response

	mu    sync.Mutex
	n     int
	times []time.Time
	hosts []string
}

func (f *fakeVault) Do(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts = append(f.hosts, r.URL.Host)
	if r.Header.Get("Authorization") == "" {
		res := f.resource
		if res == "" {
			res = "https://vault.azure.net"
		}
		resp := reply(r, http.StatusUnauthorized, `{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}`)
		resp.Header.Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="`+res+`"`)
		return resp, nil
	}
	f.times = append(f.times, time.Now())
	n := f.n
	f.n++
	return f.handle(n, r), nil
}

func (f *fakeVault) gaps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var gaps []time.Duration
	for i := 1; i < len(f.times); i++ {
		gaps = append(gaps, f.times[i].Sub(f.times[i-1]))
	}
	return gaps
}

func reply(r *http.Request, status int, body string, header ...string) *http.Response {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Header: h, Request: r,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
	}
}

const fakeSecret = `{"value":"fake-value-123","id":"https://fake.vault.azure.net/secrets/s/0123456789abcdef0123456789abcdef","attributes":{"enabled":true,"created":1700000000,"updated":1700000000}}`

func throttled(r *http.Request, header ...string) *http.Response {
	return reply(r, http.StatusTooManyRequests, `{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received."}}`, header...)
}

func fakeStore(t *testing.T, f *fakeVault, vault string, opts AzureOptions) Store {
	t.Helper()
	opts.Transport = f
	st, err := NewAzureStore(vault, fakeCredential{}, opts)
	assert.NilError(t, err)
	return st
}

func TestRetryAfterMilliseconds(t *testing.T) {
	for _, header := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		t.Run(header, func(t *testing.T) {
			f := &fakeVault{handle: func(n int, r *http.Request) *http.Response {
				if n < 2 {
					return throttled(r, header, "300")
				}
				return reply(r, 200, fakeSecret)
			}}
			st := fakeStore(t, f, "fake", AzureOptions{Retry: RetryOptions{Delay: time.Millisecond}})
			sec, err := st.Get(context.Background(), "s", "")
			assert.NilError(t, err)
			assert.Check(t, is.Equal(string(sec.Value), "fake-value-123"))
			for _, g := range f.gaps() {
				assert.Check(t, g >= 300*time.Millisecond, "waited %s, asked 300ms", g)
			}
			assert.Check(t, is.Len(f.gaps(), 2))
		})
	}
}

// Without Retry-After, 429s back off exponentially: about Delay, 3*Delay,
// 7*Delay, with jitter of -20%..+30%.
func TestBackoffWithoutRetryAfter(t *testing.T) {
	const delay = 40 * time.Millisecond
	f := &fakeVault{handle: func(n int, r *http.Request) *http.Response {
		if n < 3 {
			return throttled(r)
		}
		return reply(r, 200, fakeSecret)
	}}
	st := fakeStore(t, f, "fake", AzureOptions{Retry: RetryOptions{Delay: delay}})
	_, err := st.Get(context.Background(), "s", "")
	assert.NilError(t, err)
	g := f.gaps()
	assert.Assert(t, is.Len(g, 3))
	assert.Check(t, g[0] >= delay*8/10, "first wait %s", g[0])
	assert.Check(t, g[1] > g[0] && g[1] >= 3*delay*8/10, "second wait %s after %s", g[1], g[0])
	assert.Check(t, g[2] > g[1] && g[2] >= 7*delay*8/10, "third wait %s after %s", g[2], g[1])
}

func TestRetryAfterLongerThanMaxDelayFailsAtOnce(t *testing.T) {
	f := &fakeVault{handle: func(_ int, r *http.Request) *http.Response { return throttled(r, "Retry-After", "120") }}
	st := fakeStore(t, f, "fake", AzureOptions{Retry: RetryOptions{MaxDelay: time.Second}})
	start := time.Now()
	_, err := st.Get(context.Background(), "s", "")
	assert.Check(t, is.ErrorIs(err, ErrThrottled))
	assert.Check(t, time.Since(start) < time.Second)
}

func TestListRefusesRepeatedNextLink(t *testing.T) {
	const link = "https://fake.vault.azure.net:443/secrets?api-version=2026-04-01&$skiptoken=abc"
	f := &fakeVault{handle: func(_ int, r *http.Request) *http.Response {
		return reply(r, 200, `{"value":[{"id":"https://fake.vault.azure.net/secrets/a","attributes":{"enabled":true}}],"nextLink":"`+link+`"}`)
	}}
	st := fakeStore(t, f, "fake", AzureOptions{})
	n := 0
	err := st.List(context.Background(), func(SecretProperties) error { n++; return nil })
	assert.Check(t, is.ErrorIs(err, ErrMalformed))
	assert.Check(t, is.Error(err, "failed to list secrets from https://fake.vault.azure.net: page 2 repeats an earlier nextLink, so the list would never end"))
	assert.Check(t, is.Equal(n, 2))
}

func TestListRefusesForeignNextLink(t *testing.T) {
	f := &fakeVault{handle: func(_ int, r *http.Request) *http.Response {
		return reply(r, 200, `{"value":[],"nextLink":"https://evil.example.com/secrets?$skiptoken=abc"}`)
	}}
	st := fakeStore(t, f, "fake", AzureOptions{})
	err := st.List(context.Background(), func(SecretProperties) error { return nil })
	assert.Check(t, is.ErrorIs(err, ErrMalformed))
	assert.Check(t, is.ErrorContains(err, "nextLink to another host (evil.example.com); refusing to follow it"))
	for _, h := range f.hosts {
		assert.Check(t, is.Equal(h, "fake.vault.azure.net"))
	}
}

func TestListRefusesUnusableIDs(t *testing.T) {
	f := &fakeVault{handle: func(_ int, r *http.Request) *http.Response {
		return reply(r, 200, `{"value":[{"id":"https://fake.vault.azure.net/keys/k1"}]}`)
	}}
	st := fakeStore(t, f, "fake", AzureOptions{})
	err := st.List(context.Background(), func(SecretProperties) error { return nil })
	assert.Check(t, is.ErrorIs(err, ErrMalformed))
	assert.Check(t, is.ErrorContains(err, `is not a secret id`))
}

func TestReplyOfTheWrongShape(t *testing.T) {
	f := &fakeVault{handle: func(_ int, r *http.Request) *http.Response {
		return reply(r, 200, `{"value":{"nested":"shape-leak-value"},"id":"https://fake.vault.azure.net/secrets/s/v"}`)
	}}
	st := fakeStore(t, f, "fake", AzureOptions{})
	_, err := st.Get(context.Background(), "s", "")
	assert.Check(t, is.ErrorIs(err, ErrMalformed))
	assert.Check(t, is.Error(err, "failed to get secret s from https://fake.vault.azure.net: Key Vault's reply does not have the expected shape"))
}

// The challenge check stays on: a challenge naming another cloud's resource
// is refused before any token is asked for or sent.
func TestChallengeResourceVerification(t *testing.T) {
	f := &fakeVault{resource: "https://vault.azure.cn", handle: func(_ int, r *http.Request) *http.Response {
		return reply(r, 200, fakeSecret)
	}}
	st := fakeStore(t, f, "fake", AzureOptions{})
	_, err := st.Get(context.Background(), "s", "")
	assert.Check(t, is.ErrorIs(err, ErrUnauthenticated))
	assert.Check(t, is.ErrorContains(err, "names a resource outside the vault's domain, so no token was sent"))
	assert.Check(t, is.ErrorContains(err, "--disable-challenge-resource-verification"))
	assert.Check(t, is.Len(f.times, 0), "no authorized request")

	// A vault behind a custom domain works only with the check off.
	f = &fakeVault{handle: func(_ int, r *http.Request) *http.Response { return reply(r, 200, fakeSecret) }}
	_, err = NewAzureStore("https://secrets.example.com", fakeCredential{}, AzureOptions{Transport: f})
	assert.Check(t, is.ErrorContains(err, "add --disable-challenge-resource-verification"))
	st = fakeStore(t, f, "https://secrets.example.com", AzureOptions{DisableChallengeResourceVerification: true})
	_, err = st.Get(context.Background(), "s", "")
	assert.NilError(t, err)
}

func TestErrorMessagesAreOneLine(t *testing.T) {
	f := &fakeVault{handle: func(_ int, r *http.Request) *http.Response {
		return reply(r, 400, `{"error":{"code":"BadParameter","message":"The request is bad.\r\nReally\r\n bad."}}`)
	}}
	st := fakeStore(t, f, "fake", AzureOptions{})
	_, err := st.Set(context.Background(), "s", []byte("one-line-value"), SetOptions{})
	assert.Check(t, is.Error(err, "failed to set secret s in https://fake.vault.azure.net: Key Vault answered 400 BadParameter: The request is bad. Really bad."))
	var kvErr *Error
	assert.Assert(t, errors.As(err, &kvErr))
	assert.Check(t, is.Equal(kvErr.StatusCode, 400))
	var re *azcore.ResponseError
	assert.Check(t, errors.As(err, &re), "the SDK's error stays reachable")
}
