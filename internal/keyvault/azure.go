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
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// MaxConcurrency bounds the requests a caller sends to one vault at once
// (e.g. value GETs of a sync, version lists of `ls --versions`). Key Vault
// throttles per vault; a handful in flight hides latency without inviting
// 429s.
const MaxConcurrency = 8

// DefaultMaxPages is where List and Versions stop following nextLink. At 25
// items a page it is 250,000 secrets, far past any real vault (the service
// caps none, but sync would be unusable long before): a list that gets
// there is a service or proxy sending pages that never end.
const DefaultMaxPages = 10_000

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

// AzureOptions configure NewAzureStore.
type AzureOptions struct {
	// Transport sends the HTTP requests. Nil uses NewHTTPClient.
	Transport policy.Transporter
	// DisableChallengeResourceVerification turns off the SDK's check that
	// the resource named by the vault's authentication challenge matches the
	// vault's domain. Only for vaults behind a custom domain; the check is
	// what stops a look-alike host from being handed a Key Vault token.
	DisableChallengeResourceVerification bool
	// Retry bounds retries; the zero value is sensible.
	Retry RetryOptions
	// MaxPages bounds a list; 0 is DefaultMaxPages.
	MaxPages int
}

type azureStore struct {
	url      string
	host     string
	client   *azsecrets.Client
	maxPages int
}

// NewAzureStore returns a Store for the vault at vaultURL (a name or URL,
// see ParseVaultURL) that authenticates with cred.
func NewAzureStore(vaultURL string, cred azcore.TokenCredential, opts AzureOptions) (Store, error) {
	u, err := ParseVaultURL(vaultURL, opts.DisableChallengeResourceVerification)
	if err != nil {
		return nil, err
	}
	transport := opts.Transport
	if transport == nil {
		c, err := NewHTTPClient()
		if err != nil {
			return nil, err
		}
		transport = c
	}
	retry := opts.Retry.withDefaults()
	clientOpts := &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: transport,
			Retry: policy.RetryOptions{
				MaxRetries:    retry.MaxRetries,
				TryTimeout:    retry.TryTimeout,
				RetryDelay:    retry.Delay,
				MaxRetryDelay: retry.MaxDelay,
			},
			PerRetryPolicies: []policy.Policy{&guardPolicy{maxTotal: retry.MaxTotal}},
			Telemetry:        policy.TelemetryOptions{ApplicationID: "docker-vault"},
		},
		DisableChallengeResourceVerification: opts.DisableChallengeResourceVerification,
	}
	client, err := azsecrets.NewClient(u, cred, clientOpts)
	if err != nil {
		return nil, fmt.Errorf("failed to create a Key Vault client for %s: %w", u, err)
	}
	maxPages := opts.MaxPages
	if maxPages <= 0 {
		maxPages = DefaultMaxPages
	}
	return &azureStore{url: u, host: strings.TrimPrefix(u, "https://"), client: client, maxPages: maxPages}, nil
}

func (s *azureStore) VaultURL() string { return s.url }

// secretNameRE is the service's rule for secret names. Checking it here
// turns a typo into a clear error instead of a 400 (or a request to an
// unexpected path).
var secretNameRE = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)

var versionRE = regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)

func (s *azureStore) checkName(op, name, version string) error {
	if !secretNameRE.MatchString(name) {
		return &Error{Op: op, Vault: s.url, Name: name,
			Detail: "invalid secret name: Key Vault names are 1-127 letters, digits and hyphens"}
	}
	if version != "" && !versionRE.MatchString(version) {
		return &Error{Op: op, Vault: s.url, Name: name, Detail: fmt.Sprintf("invalid version %q", version)}
	}
	return nil
}

func (s *azureStore) Get(ctx context.Context, name, version string) (Secret, error) {
	if err := s.checkName(OpGet, name, version); err != nil {
		return Secret{}, err
	}
	ctx, st := withCallState(ctx)
	resp, err := s.client.GetSecret(ctx, name, version, nil)
	if err != nil {
		return Secret{}, s.fail(ctx, st, OpGet, name, version, err)
	}
	props, err := s.properties(resp.ID, resp.Attributes, resp.ContentType, resp.Tags, resp.Managed)
	if err != nil {
		return Secret{}, s.malformed(OpGet, name, err)
	}
	var value []byte
	if resp.Value != nil {
		value = []byte(*resp.Value)
	}
	return Secret{SecretProperties: props, Value: value}, nil
}

func (s *azureStore) Set(ctx context.Context, name string, value []byte, opts SetOptions) (SecretProperties, error) {
	if err := s.checkName(OpSet, name, ""); err != nil {
		return SecretProperties{}, err
	}
	v := string(value)
	params := azsecrets.SetSecretParameters{Value: &v}
	if opts.ContentType != "" {
		params.ContentType = &opts.ContentType
	}
	if len(opts.Tags) > 0 {
		params.Tags = make(map[string]*string, len(opts.Tags))
		for k, t := range opts.Tags {
			params.Tags[k] = &t
		}
	}
	ctx, st := withCallState(ctx)
	resp, err := s.client.SetSecret(ctx, name, params, nil)
	if err != nil {
		return SecretProperties{}, s.fail(ctx, st, OpSet, name, "", err)
	}
	props, err := s.properties(resp.ID, resp.Attributes, resp.ContentType, resp.Tags, resp.Managed)
	if err != nil {
		return SecretProperties{}, s.malformed(OpSet, name, err)
	}
	return props, nil
}

func (s *azureStore) List(ctx context.Context, fn func(SecretProperties) error) error {
	pager := s.client.NewListSecretPropertiesPager(nil)
	return s.pages(ctx, OpList, "", pager.More, func(ctx context.Context) ([]*azsecrets.SecretProperties, *string, error) {
		page, err := pager.NextPage(ctx)
		return page.Value, page.NextLink, err
	}, fn)
}

func (s *azureStore) Versions(ctx context.Context, name string) ([]SecretProperties, error) {
	if err := s.checkName(OpVersions, name, ""); err != nil {
		return nil, err
	}
	var out []SecretProperties
	pager := s.client.NewListSecretPropertiesVersionsPager(name, nil)
	err := s.pages(ctx, OpVersions, name, pager.More, func(ctx context.Context) ([]*azsecrets.SecretProperties, *string, error) {
		page, err := pager.NextPage(ctx)
		return page.Value, page.NextLink, err
	}, func(p SecretProperties) error {
		out = append(out, p)
		return nil
	})
	return out, err
}

// pages drives a pager, refusing the ways a list can fail to end: a
// nextLink seen before (a loop), more than maxPages pages, or a nextLink
// pointing away from the vault (the SDK would follow it and hand that host
// the vault's bearer token).
func (s *azureStore) pages(ctx context.Context, op, name string, more func() bool,
	next func(context.Context) ([]*azsecrets.SecretProperties, *string, error), fn func(SecretProperties) error,
) error {
	seen := map[string]bool{}
	for n := 1; more(); n++ {
		if n > s.maxPages {
			return &Error{Op: op, Vault: s.url, Name: name, kind: ErrMalformed,
				Detail: fmt.Sprintf("the list did not end after %d pages; the service or a proxy keeps sending nextLink", s.maxPages)}
		}
		callCtx, st := withCallState(ctx)
		items, nextLink, err := next(callCtx)
		if err != nil {
			return s.fail(callCtx, st, op, name, "", err)
		}
		for _, item := range items {
			if item == nil {
				continue
			}
			p, err := s.properties(item.ID, item.Attributes, item.ContentType, item.Tags, item.Managed)
			if err != nil {
				return s.malformed(op, name, err)
			}
			if op == OpList {
				// List items carry the base id; say so rather than
				// pass on whatever a proxy may have added.
				p.Version = ""
			}
			if err := fn(p); err != nil {
				return err
			}
		}
		if nextLink != nil && *nextLink != "" {
			if seen[*nextLink] {
				return &Error{Op: op, Vault: s.url, Name: name, kind: ErrMalformed,
					Detail: fmt.Sprintf("page %d repeats an earlier nextLink, so the list would never end", n)}
			}
			seen[*nextLink] = true
			if err := s.checkNextLink(*nextLink); err != nil {
				return &Error{Op: op, Vault: s.url, Name: name, kind: ErrMalformed, Detail: err.Error()}
			}
		}
	}
	return nil
}

func (s *azureStore) checkNextLink(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return errors.New("the service sent a nextLink that is not a URL")
	}
	// The service writes the port out (https://NAME.vault.azure.net:443/...).
	if !strings.EqualFold(u.Scheme, "https") || !strings.EqualFold(u.Hostname(), s.host) || (u.Port() != "" && u.Port() != "443") {
		return fmt.Errorf("the service sent a nextLink to another host (%s); refusing to follow it", u.Host)
	}
	return nil
}

// properties converts the SDK's model, reading name and version from the id
// itself: the SDK's ID.Name panics on an id it cannot parse.
func (s *azureStore) properties(id *azsecrets.ID, attrs *azsecrets.SecretAttributes, contentType *string, tags map[string]*string, managed *bool) (SecretProperties, error) {
	if id == nil {
		return SecretProperties{}, errors.New("an item has no id")
	}
	u, err := url.Parse(string(*id))
	if err != nil {
		return SecretProperties{}, errors.New("an item's id is not a URL")
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "secrets" || parts[1] == "" {
		return SecretProperties{}, fmt.Errorf("an item's id %q is not a secret id", u.Path)
	}
	p := SecretProperties{Name: parts[1]}
	if len(parts) == 3 {
		p.Version = parts[2]
	}
	if contentType != nil {
		p.ContentType = *contentType
	}
	if managed != nil {
		p.Managed = *managed
	}
	if attrs != nil {
		// The service omits "enabled" for an enabled secret only in
		// hand-written replies; treat absent as enabled, as the portal does.
		p.Enabled = attrs.Enabled == nil || *attrs.Enabled
		p.Created = timeOf(attrs.Created)
		p.Updated = timeOf(attrs.Updated)
		p.NotBefore = timeOf(attrs.NotBefore)
		p.Expires = timeOf(attrs.Expires)
	} else {
		p.Enabled = true
	}
	if len(tags) > 0 {
		p.Tags = make(map[string]string, len(tags))
		for k, v := range tags {
			if v != nil {
				p.Tags[k] = *v
			}
		}
	}
	return p, nil
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func (s *azureStore) malformed(op, name string, err error) error {
	return &Error{Op: op, Vault: s.url, Name: name, kind: ErrMalformed, Err: err,
		Detail: "invalid reply from Key Vault: " + oneLine(err.Error(), 200)}
}

// fail turns an SDK error into an *Error. It never puts a response body or
// the SDK's multi-line message into the text: only codes, the service's
// one-line message, and what to do.
func (s *azureStore) fail(ctx context.Context, st *callState, op, name, version string, err error) error {
	e := &Error{Op: op, Vault: s.url, Name: name, Err: err}
	if ctxErr := ctx.Err(); ctxErr != nil {
		e.Err = ctxErr
		switch cause := context.Cause(ctx); {
		case errors.Is(ctxErr, context.DeadlineExceeded) && !errors.Is(cause, context.DeadlineExceeded):
			e.Detail = cause.Error()
		case errors.Is(ctxErr, context.DeadlineExceeded):
			e.Detail = "timed out"
		default:
			e.Detail = "canceled"
		}
		if st.last != "" {
			// "timed out" alone hides that every try was refused.
			e.Detail += fmt.Sprintf(" (%d tries; the last failed with %s)", st.tries, st.last)
		}
		return e
	}
	var signIn *SignInError
	if errors.As(err, &signIn) {
		e.kind = ErrUnauthenticated
		e.Detail = signIn.Error()
		return e
	}
	var mal *malformedError
	if errors.As(err, &mal) {
		e.kind, e.StatusCode = ErrMalformed, mal.status
		e.Detail = fmt.Sprintf("Key Vault's reply (HTTP %d) is not valid JSON", mal.status)
		return e
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		s.describeResponse(e, st, re, version)
		return e
	}
	msg := err.Error()
	var (
		unknownCA x509.UnknownAuthorityError
		certErr   *tls.CertificateVerificationError
		hostErr   x509.HostnameError
		dnsErr    *net.DNSError
	)
	switch {
	case strings.Contains(msg, "doesn't match the requested domain"):
		// keyvault/internal's challenge check (a plain error string).
		e.kind = ErrUnauthenticated
		e.Detail = "the vault's authentication challenge names a resource outside the vault's domain, so no token was sent: " +
			"check the vault URL; for a vault behind a custom domain use --disable-challenge-resource-verification"
	case errors.As(err, &unknownCA) || (errors.As(err, &certErr) && !errors.As(err, &hostErr)):
		e.Detail = fmt.Sprintf("the TLS certificate of %s is not trusted: install its CA in the system store or name it in SSL_CERT_FILE", s.host)
	case errors.As(err, &hostErr):
		e.Detail = fmt.Sprintf("the TLS certificate presented for %s is not valid for that host", s.host)
	case errors.As(err, &dnsErr):
		e.Detail = fmt.Sprintf("cannot resolve %s: check the vault name, and DNS or HTTPS_PROXY", dnsErr.Name)
	case strings.HasPrefix(msg, "unmarshalling type"):
		// Valid JSON of the wrong shape. The SDK's text may quote a
		// fragment of the reply (a value, for a GET): don't repeat it.
		e.kind = ErrMalformed
		e.Detail = "Key Vault's reply does not have the expected shape"
	default:
		e.Detail = "cannot reach the vault: " + networkError(err)
		if st.tries > 1 {
			e.Detail += fmt.Sprintf(" (after %d tries in %s)", st.tries, st.elapsed())
		}
	}
	return e
}

// serviceError is the body of a Key Vault error reply.
type serviceError struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError *struct {
			Code string `json:"code"`
		} `json:"innererror"`
	} `json:"error"`
}

func (s *azureStore) describeResponse(e *Error, st *callState, re *azcore.ResponseError, version string) {
	e.StatusCode, e.Code = re.StatusCode, re.ErrorCode
	var body serviceError
	var message string
	if re.RawResponse != nil {
		// azcore reads only error.code into ErrorCode; the inner code (e.g.
		// SecretDisabled under Forbidden) is in the body.
		if payload, err := runtime.Payload(re.RawResponse); err == nil && json.Unmarshal(payload, &body) == nil {
			if body.Error.Code != "" {
				e.Code = body.Error.Code
			}
			if body.Error.InnerError != nil {
				e.InnerCode = body.Error.InnerError.Code
			}
			message = oneLine(body.Error.Message, 200)
		}
	}
	status := fmt.Sprintf("%d %s", re.StatusCode, e.Code)
	if e.Code == "" {
		status = fmt.Sprintf("%d %s", re.StatusCode, http.StatusText(re.StatusCode))
	}
	vaultName, _, _ := strings.Cut(s.host, ".")
	switch {
	case re.StatusCode == http.StatusNotFound:
		e.kind = ErrNotFound
		switch {
		case e.Op == OpList:
			e.Detail = "the vault answered 404 Not Found: check the vault URL"
		case version != "":
			e.Detail = fmt.Sprintf("version %s of the secret does not exist", version)
		default:
			e.Detail = "the secret does not exist"
		}
	case re.StatusCode == http.StatusForbidden && e.InnerCode == "SecretDisabled":
		e.kind = ErrDisabled
		e.Detail = fmt.Sprintf("the secret is disabled: enable it with `az keyvault secret set-attributes --vault-name %s --name %s --enabled true`", vaultName, e.Name)
	case re.StatusCode == http.StatusForbidden && (e.InnerCode == "ForbiddenByFirewall" || e.InnerCode == "ForbiddenByConnection"):
		e.kind = ErrForbidden
		e.Detail = fmt.Sprintf("the vault's firewall refused this client (%s): allow its IP address or network in the vault's networking settings", e.InnerCode)
	case re.StatusCode == http.StatusForbidden:
		// AccessDenied (access policies), ForbiddenByRbac and
		// ForbiddenByPolicy (RBAC): the same fix, in two models.
		e.kind = ErrForbidden
		e.Permission = permission(e.Op)
		why := e.InnerCode
		if why == "" {
			why = e.Code
		}
		e.Detail = fmt.Sprintf("access denied (%s): the identity lacks the %s permission; grant it the %s role or an access policy with %s",
			why, e.Permission, role(e.Op), e.Permission)
	case re.StatusCode == http.StatusUnauthorized:
		e.kind = ErrUnauthenticated
		e.Detail = fmt.Sprintf("the vault refused the token (%s): check that the identity belongs to the vault's tenant", status)
		if message != "" {
			e.Detail += ": " + message
		}
	case re.StatusCode == http.StatusTooManyRequests:
		e.kind = ErrThrottled
		e.Detail = fmt.Sprintf("throttled (%s) %s; try again later or with fewer requests at once", status, st.gaveUp())
	case re.StatusCode >= 500 || re.StatusCode == http.StatusRequestTimeout:
		e.kind = ErrUnavailable
		e.Detail = fmt.Sprintf("Key Vault answered %s %s; try again later", status, st.gaveUp())
	case re.StatusCode == http.StatusConflict && e.InnerCode == "ObjectIsDeletedButRecoverable":
		e.Detail = fmt.Sprintf("a deleted secret of this name awaits purge: recover it (`az keyvault secret recover --vault-name %s --name %s`) or purge it first", vaultName, e.Name)
	default:
		e.Detail = "Key Vault answered " + status
		if message != "" {
			e.Detail += ": " + message
		}
	}
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
