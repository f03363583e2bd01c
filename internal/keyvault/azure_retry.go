package keyvault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// RetryOptions bound how long one request keeps retrying 429, 408 and 5xx
// answers and network errors. The zero value is the defaults.
type RetryOptions struct {
	// MaxRetries is how many times a request is retried. Default 6; negative
	// means no retry.
	MaxRetries int32
	// Delay is the base of the exponential backoff used when the service
	// sends no Retry-After: about Delay, 3*Delay, 7*Delay... with jitter.
	// Default 500ms.
	Delay time.Duration
	// MaxDelay caps one wait. A Retry-After longer than it is not waited
	// for: the request fails at once. Default 30s.
	MaxDelay time.Duration
	// MaxTotal caps the time one request spends, waits included, before it
	// stops retrying. Default 60s. The caller's context deadline (--timeout)
	// bounds it further: a Retry-After that would end past the deadline is
	// not waited for.
	MaxTotal time.Duration
	// TryTimeout bounds a single attempt, so a connection that hangs is
	// retried instead of eating the whole budget. Default 60s.
	TryTimeout time.Duration
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.MaxRetries == 0 {
		o.MaxRetries = 6
	}
	if o.Delay == 0 {
		o.Delay = 500 * time.Millisecond
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = 30 * time.Second
	}
	if o.MaxTotal == 0 {
		o.MaxTotal = 60 * time.Second
	}
	if o.TryTimeout == 0 {
		o.TryTimeout = 60 * time.Second
	}
	return o
}

// callState follows one logical request through the pipeline's retries.
// It travels in the context because the retry policy clones the request for
// every try.
type callState struct {
	start    time.Time
	tries    int    // attempts answered 408/429/5xx or failed on the network
	last     string // what the last such attempt got, for a timeout's message
	budget   bool
	maxTotal time.Duration
}

type callStateKey struct{}

func withCallState(ctx context.Context) (context.Context, *callState) {
	st := &callState{start: time.Now()}
	return context.WithValue(ctx, callStateKey{}, st), st
}

func (st *callState) elapsed() time.Duration {
	return time.Since(st.start).Round(100 * time.Millisecond)
}

func (st *callState) gaveUp() string {
	switch {
	case st.budget:
		return fmt.Sprintf("after %d tries in %s (retry budget %s spent)", st.tries, st.elapsed(), st.maxTotal)
	case st.tries > 0:
		return fmt.Sprintf("after %d tries in %s", st.tries, st.elapsed())
	}
	return ""
}

// guardPolicy runs inside the SDK's retry loop, after authentication, on
// every try. It does what azcore's retry policy cannot:
//
//   - stops retrying when the request has spent its budget (MaxTotal) or
//     when the Retry-After the service asks for would end past the
//     caller's deadline, so a throttled command fails with "throttled"
//     instead of sleeping into a timeout;
//   - refuses a 2xx reply that is not valid JSON, without letting the JSON
//     decoder's message (which quotes the reply, possibly a value) through.
type guardPolicy struct {
	maxTotal time.Duration
}

func (p *guardPolicy) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	ctx := req.Raw().Context()
	st, _ := ctx.Value(callStateKey{}).(*callState)
	if st == nil {
		return resp, err
	}
	st.maxTotal = p.maxTotal
	if err != nil {
		if ctx.Err() == nil {
			st.tries++
			st.last = networkError(err)
			if permanent(err) || time.Since(st.start) > p.maxTotal {
				st.budget = true
				return resp, nonRetriable{err}
			}
		}
		return resp, err
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		body, perr := runtime.Payload(resp)
		if perr != nil {
			return resp, perr
		}
		if len(body) > 0 && !json.Valid(body) {
			return nil, nonRetriable{&malformedError{status: code}}
		}
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		st.tries++
		st.last = fmt.Sprintf("HTTP %d", code)
		wait := retryAfter(resp)
		now := time.Now()
		deadline, hasDeadline := ctx.Deadline()
		if now.Add(wait).Sub(st.start) > p.maxTotal || (hasDeadline && now.Add(wait).After(deadline)) {
			st.budget = true
			return nil, nonRetriable{runtime.NewResponseError(resp)}
		}
	}
	return resp, nil
}

// networkError is a network failure in one line, without the method and
// URL *url.Error repeats (the message names the vault already).
func networkError(err error) string {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return oneLine(err.Error(), 200)
}

// permanent reports network errors that a retry cannot fix: an untrusted
// or mismatched certificate, a host name that does not exist. Retrying them
// would only spend the budget before saying the same thing.
func permanent(err error) bool {
	var (
		unknownCA x509.UnknownAuthorityError
		certErr   *tls.CertificateVerificationError
		hostErr   x509.HostnameError
		dnsErr    *net.DNSError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &certErr) || errors.As(err, &hostErr) ||
		(errors.As(err, &dnsErr) && dnsErr.IsNotFound)
}

// nonRetriable marks an error the retry policy must return at once
// (azcore checks for a NonRetriable() method with errors.As).
type nonRetriable struct{ error }

func (nonRetriable) NonRetriable()   {}
func (e nonRetriable) Unwrap() error { return e.error }

// malformedError is a 2xx reply whose body is not JSON. It carries no part
// of the body.
type malformedError struct{ status int }

func (e *malformedError) Error() string {
	return fmt.Sprintf("reply (HTTP %d) is not valid JSON", e.status)
}

// retryAfter reads the wait the service asks for, as azcore does:
// retry-after-ms, x-ms-retry-after-ms, then Retry-After in seconds or as an
// HTTP date. Zero when there is none.
func retryAfter(resp *http.Response) time.Duration {
	for _, h := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if v := resp.Header.Get(h); v != "" {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if sec, err := strconv.ParseInt(v, 10, 64); err == nil && sec > 0 {
		return time.Duration(sec) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
