package kvtest

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is a Key Vault error reply. Messages follow the service's wording
// where recordings or public reports show it; they name secrets, never values.
type apiError struct {
	status  int
	code    string
	message string
	inner   string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	InnerError *innerError `json:"innererror,omitempty"`
}

type innerError struct {
	Code string `json:"code"`
}

func (e *apiError) body() []byte {
	b := errorBody{Error: errorDetail{Code: e.code, Message: e.message}}
	if e.inner != "" {
		b.Error.InnerError = &innerError{Code: e.inner}
	}
	out, _ := json.Marshal(b)
	return out
}

func errBadParameter(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "BadParameter", message: fmt.Sprintf(format, args...)}
}

func errSecretNotFound(nameOrID string) *apiError {
	return &apiError{
		status: http.StatusNotFound,
		code:   "SecretNotFound",
		message: "A secret with (name/id) " + nameOrID + " was not found in this key vault. " +
			"If you recently deleted this secret you may be able to recover it using the correct recovery command. " +
			"For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
	}
}

func errDeletedNotFound(name string) *apiError {
	// Wording from the recordings.
	return &apiError{status: http.StatusNotFound, code: "SecretNotFound", message: "Deleted Secret not found: " + name}
}

func errDisabled() *apiError {
	return &apiError{
		status:  http.StatusForbidden,
		code:    "Forbidden",
		message: "Operation get is not allowed on a disabled secret.",
		inner:   "SecretDisabled",
	}
}

func errDeletedButRecoverable(name string) *apiError {
	return &apiError{
		status: http.StatusConflict,
		code:   "Conflict",
		message: "Secret " + name + " is currently in a deleted but recoverable state, and its name cannot be reused; " +
			"in this state, the secret can only be recovered or purged.",
		inner: "ObjectIsDeletedButRecoverable",
	}
}

func errBeingDeleted(name string) *apiError {
	return &apiError{
		status:  http.StatusConflict,
		code:    "Conflict",
		message: "Secret " + name + " is currently being deleted.",
		inner:   "ObjectIsBeingDeleted",
	}
}
