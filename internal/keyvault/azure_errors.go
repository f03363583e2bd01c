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
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// The SDK's errors become an *Error here, in one place, so every message
// follows the same rules: one line, no response body, no value, and what
// to do about it.

// malformed is a reply that parsed but cannot be used (an id that is not a
// secret id).
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
