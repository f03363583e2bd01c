package keyvault

import (
	"errors"
	"fmt"
	"strings"
)

// Conditions callers branch on. Every error a Store returns for one of them
// matches the sentinel with errors.Is; errors.As with *Error gives the
// details.
var (
	// ErrNotFound: the secret (or that version of it) does not exist.
	ErrNotFound = errors.New("secret not found")
	// ErrDisabled: the secret exists but is disabled, so its value cannot be
	// read (403 Forbidden, inner code SecretDisabled).
	ErrDisabled = errors.New("secret is disabled")
	// ErrForbidden: the identity may not do this (access policy, RBAC or
	// firewall). Error.Permission names what is missing when it is a
	// permission.
	ErrForbidden = errors.New("access denied")
	// ErrThrottled: Key Vault kept answering 429 past the retry budget.
	ErrThrottled = errors.New("throttled by Key Vault")
	// ErrUnavailable: Key Vault kept answering 5xx past the retry budget.
	ErrUnavailable = errors.New("key vault unavailable")
	// ErrUnauthenticated: no credential could sign in, or the vault refused
	// the token it got (401).
	ErrUnauthenticated = errors.New("not signed in to Azure")
	// ErrMalformed: the service's reply could not be understood (invalid
	// JSON, an unusable secret id, a list that never ends).
	ErrMalformed = errors.New("invalid reply from Key Vault")
)

// Error is a failed Key Vault operation. Its message is one line, safe to
// print: it names the vault, the operation and the secret, never a value,
// and does not repeat the SDK's multi-line dumps.
type Error struct {
	// Op is the operation: OpGet, OpList, OpVersions or OpSet.
	Op string
	// Vault is the vault URL.
	Vault string
	// Name is the secret name, empty for OpList.
	Name string
	// StatusCode is the HTTP status of the service's reply, 0 when there
	// was none (sign-in, network, malformed reply).
	StatusCode int
	// Code and InnerCode are the service's error.code and
	// error.innererror.code, e.g. "Forbidden" and "SecretDisabled".
	Code, InnerCode string
	// Permission is the access-policy permission the operation needs
	// ("secrets get", "secrets list", "secrets set") when the service
	// denied it.
	Permission string
	// Detail is the one-line explanation and what to do about it.
	Detail string
	// Err is the underlying error, for errors.As (e.g. *azcore.ResponseError).
	Err error

	kind error // one of the sentinels, or nil
}

// Operations, as Error.Op.
const (
	OpGet      = "get"
	OpList     = "list"
	OpVersions = "versions"
	OpSet      = "set"
)

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("failed to ")
	switch e.Op {
	case OpGet:
		fmt.Fprintf(&b, "get secret %s", e.Name)
	case OpList:
		b.WriteString("list secrets")
	case OpVersions:
		fmt.Fprintf(&b, "list versions of secret %s", e.Name)
	case OpSet:
		fmt.Fprintf(&b, "set secret %s", e.Name)
	default:
		b.WriteString(e.Op)
		if e.Name != "" {
			b.WriteString(" " + e.Name)
		}
	}
	if e.Vault != "" {
		if e.Op == OpSet {
			b.WriteString(" in ")
		} else {
			b.WriteString(" from ")
		}
		b.WriteString(e.Vault)
	}
	b.WriteString(": ")
	switch {
	case e.Detail != "":
		b.WriteString(e.Detail)
	case e.Err != nil:
		b.WriteString(oneLine(e.Err.Error(), 300))
	case e.kind != nil:
		b.WriteString(e.kind.Error())
	}
	return b.String()
}

// Unwrap gives both the sentinel and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// permission is the access-policy permission an operation needs.
func permission(op string) string {
	switch op {
	case OpGet:
		return "secrets get"
	case OpSet:
		return "secrets set"
	default:
		return "secrets list"
	}
}

// role is the built-in RBAC role that grants an operation.
func role(op string) string {
	if op == OpSet {
		return "Key Vault Secrets Officer"
	}
	return "Key Vault Secrets User"
}

// oneLine collapses whitespace runs (the service's messages carry \r\n) and
// cuts s to at most max bytes, so a message stays one readable line.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
