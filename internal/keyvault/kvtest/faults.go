package kvtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Faults are the emulator's run-time knobs: the fault fields of Options.
// Change them with Server.SetFaults or POST /admin/faults.
type Faults struct {
	// Latency is added to every data-plane request, before it is answered.
	Latency time.Duration
	// ThrottleRate is the probability (0..1) that an authenticated request is
	// answered 429 Throttled.
	ThrottleRate float64
	// RetryAfter is sent as a Retry-After header (whole seconds, rounded up,
	// as the service sends it) on 429s. Zero sends no Retry-After, which the
	// service also does.
	RetryAfter time.Duration
	// ErrorRate is the probability (0..1) that an authenticated request is
	// answered with a 5xx.
	ErrorRate float64
	// ErrorStatus is the 5xx to send: 500 or 503. Zero picks one of the two
	// at random for each failure.
	ErrorStatus int
	// Forbidden lists secret names (case-insensitive) whose every request is
	// answered 403 Forbidden. "*" forbids every data-plane request, lists too.
	Forbidden []string
	// ForbiddenCode is the innererror code of those 403s: "ForbiddenByPolicy"
	// (the default) or "AccessDenied".
	ForbiddenCode string
	// Malformed lists route keys (e.g. "GET /secrets") whose successful
	// replies are cut short, so the body is not valid JSON.
	Malformed []string
	// EmptyPages serves an empty page (value: [] with a nextLink) before
	// every page of a list, as the service does when it skips over items.
	EmptyPages bool
	// EndlessPages gives every page a nextLink, so a list never ends.
	EndlessPages bool
	// SoftDeleteDelay is how long a deleted secret stays invisible under
	// /deletedsecrets (404) after DELETE, as the service's asynchronous soft
	// delete does. Zero makes it visible at once.
	SoftDeleteDelay time.Duration
}

func (f Faults) validate() error {
	if f.Latency < 0 || f.RetryAfter < 0 || f.SoftDeleteDelay < 0 {
		return fmt.Errorf("invalid faults: durations must not be negative")
	}
	if f.ThrottleRate < 0 || f.ThrottleRate > 1 || f.ErrorRate < 0 || f.ErrorRate > 1 {
		return fmt.Errorf("invalid faults: rates must be between 0 and 1")
	}
	switch f.ErrorStatus {
	case 0, http.StatusInternalServerError, http.StatusServiceUnavailable:
	default:
		return fmt.Errorf("invalid faults: error status %d is not 500 or 503", f.ErrorStatus)
	}
	switch f.ForbiddenCode {
	case "", "ForbiddenByPolicy", "AccessDenied":
	default:
		return fmt.Errorf("invalid faults: forbidden code %q is not ForbiddenByPolicy or AccessDenied", f.ForbiddenCode)
	}
	for _, route := range f.Malformed {
		if !isDataRoute(route) {
			return fmt.Errorf("invalid faults: %q is not a data-plane route", route)
		}
	}
	return nil
}

// faultsJSON is the admin endpoint's view of Faults: durations are Go
// duration strings ("20ms") and every field is optional, so a POST changes
// only what it names.
type faultsJSON struct {
	Latency         *string   `json:"latency,omitempty"`
	ThrottleRate    *float64  `json:"throttleRate,omitempty"`
	RetryAfter      *string   `json:"retryAfter,omitempty"`
	ErrorRate       *float64  `json:"errorRate,omitempty"`
	ErrorStatus     *int      `json:"errorStatus,omitempty"`
	Forbidden       *[]string `json:"forbidden,omitempty"`
	ForbiddenCode   *string   `json:"forbiddenCode,omitempty"`
	Malformed       *[]string `json:"malformed,omitempty"`
	EmptyPages      *bool     `json:"emptyPages,omitempty"`
	EndlessPages    *bool     `json:"endlessPages,omitempty"`
	SoftDeleteDelay *string   `json:"softDeleteDelay,omitempty"`
}

// MarshalJSON renders durations as strings so the admin endpoint round-trips.
func (f Faults) MarshalJSON() ([]byte, error) {
	d := func(v time.Duration) *string { s := v.String(); return &s }
	forbidden, malformed := append([]string{}, f.Forbidden...), append([]string{}, f.Malformed...)
	return json.Marshal(faultsJSON{
		Latency:         d(f.Latency),
		ThrottleRate:    &f.ThrottleRate,
		RetryAfter:      d(f.RetryAfter),
		ErrorRate:       &f.ErrorRate,
		ErrorStatus:     &f.ErrorStatus,
		Forbidden:       &forbidden,
		ForbiddenCode:   &f.ForbiddenCode,
		Malformed:       &malformed,
		EmptyPages:      &f.EmptyPages,
		EndlessPages:    &f.EndlessPages,
		SoftDeleteDelay: d(f.SoftDeleteDelay),
	})
}

// UnmarshalJSON applies the fields present in data on top of f.
func (f *Faults) UnmarshalJSON(data []byte) error {
	var p faultsJSON
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("invalid faults JSON: %w", err)
	}
	dur := func(dst *time.Duration, s *string, field string) error {
		if s == nil {
			return nil
		}
		v, err := time.ParseDuration(*s)
		if err != nil {
			return fmt.Errorf("invalid faults JSON: %s: %w", field, err)
		}
		*dst = v
		return nil
	}
	if err := dur(&f.Latency, p.Latency, "latency"); err != nil {
		return err
	}
	if err := dur(&f.RetryAfter, p.RetryAfter, "retryAfter"); err != nil {
		return err
	}
	if err := dur(&f.SoftDeleteDelay, p.SoftDeleteDelay, "softDeleteDelay"); err != nil {
		return err
	}
	set := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&f.ThrottleRate, p.ThrottleRate)
	set(&f.ErrorRate, p.ErrorRate)
	if p.ErrorStatus != nil {
		f.ErrorStatus = *p.ErrorStatus
	}
	if p.Forbidden != nil {
		f.Forbidden = *p.Forbidden
	}
	if p.ForbiddenCode != nil {
		f.ForbiddenCode = *p.ForbiddenCode
	}
	if p.Malformed != nil {
		f.Malformed = *p.Malformed
	}
	if p.EmptyPages != nil {
		f.EmptyPages = *p.EmptyPages
	}
	if p.EndlessPages != nil {
		f.EndlessPages = *p.EndlessPages
	}
	return nil
}

// faultState holds the current faults and the seeded generator that decides
// them, so a run with the same seed and the same request order fails the
// same requests.
type faultState struct {
	mu  sync.Mutex
	f   Faults
	rng *rand.Rand
}

func (fs *faultState) get() Faults {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f
}

func (fs *faultState) set(f Faults) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.f = f
}

// decision is what the fault injector does to one authenticated request.
type decision struct {
	throttle  bool
	errStatus int
}

func (fs *faultState) decide() (Faults, decision) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var d decision
	// Draw only for enabled faults, so turning one on does not shift the
	// sequence of the other.
	if fs.f.ThrottleRate > 0 && fs.rng.Float64() < fs.f.ThrottleRate {
		d.throttle = true
		return fs.f, d
	}
	if fs.f.ErrorRate > 0 && fs.rng.Float64() < fs.f.ErrorRate {
		d.errStatus = fs.f.ErrorStatus
		if d.errStatus == 0 {
			d.errStatus = http.StatusInternalServerError
			if fs.rng.IntN(2) == 1 {
				d.errStatus = http.StatusServiceUnavailable
			}
		}
	}
	return fs.f, d
}

func (f Faults) forbids(name string) bool {
	for _, n := range f.Forbidden {
		if n == "*" || (name != "" && strings.EqualFold(n, name)) {
			return true
		}
	}
	return false
}

func (f Faults) malformed(route string) bool {
	for _, r := range f.Malformed {
		if r == route {
			return true
		}
	}
	return false
}

func throttledError() *apiError {
	return &apiError{
		status:  http.StatusTooManyRequests,
		code:    "Throttled",
		message: "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
	}
}

func serverError(status int) *apiError {
	if status == http.StatusServiceUnavailable {
		return &apiError{status: status, code: "ServiceUnavailable", message: "The service is temporarily unavailable. Please retry the request."}
	}
	return &apiError{status: status, code: "InternalServerError", message: "An internal server error occurred. Please retry the request."}
}

// permission names what an access policy or role would have to grant for a
// route, so a 403 reads like the service's.
var permissions = map[string]struct{ policy, action string }{
	RouteSetSecret:      {"set", "Microsoft.KeyVault/vaults/secrets/setSecret/action"},
	RouteGetSecret:      {"get", "Microsoft.KeyVault/vaults/secrets/getSecret/action"},
	RouteUpdateSecret:   {"set", "Microsoft.KeyVault/vaults/secrets/write"},
	RouteListSecrets:    {"list", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"},
	RouteListVersions:   {"list", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"},
	RouteDeleteSecret:   {"delete", "Microsoft.KeyVault/vaults/secrets/delete"},
	RouteListDeleted:    {"list", "Microsoft.KeyVault/vaults/deletedSecrets/read"},
	RouteGetDeleted:     {"get", "Microsoft.KeyVault/vaults/deletedSecrets/read"},
	RoutePurgeDeleted:   {"purge", "Microsoft.KeyVault/vaults/deletedSecrets/delete"},
	RouteRecoverDeleted: {"recover", "Microsoft.KeyVault/vaults/deletedSecrets/recover/action"},
	RouteBackupSecret:   {"backup", "Microsoft.KeyVault/vaults/secrets/backup/action"},
	RouteRestoreSecret:  {"restore", "Microsoft.KeyVault/vaults/secrets/restore/action"},
	RouteUnknown:        {"get", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"},
}

func (s *Server) forbiddenError(code, route, name string) *apiError {
	p := permissions[route]
	caller := "appid=" + s.clientID + ";oid=" + s.objectID + ";iss=https://sts.windows.net/" + s.tenantID + "/"
	if code == "AccessDenied" {
		return &apiError{
			status: http.StatusForbidden,
			code:   "Forbidden",
			message: "The user, group or application '" + caller + "' does not have secrets " + p.policy +
				" permission on key vault '" + s.vaultName + ";location=emulator'. " +
				"For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
			inner: "AccessDenied",
		}
	}
	resource := "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/microsoft.keyvault/vaults/" + s.vaultName
	if name != "" {
		resource += "/secrets/" + name
	}
	return &apiError{
		status: http.StatusForbidden,
		code:   "Forbidden",
		message: "Caller is not authorized to perform action on resource.\r\n" +
			"If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n" +
			"Caller: " + caller + "\r\n" +
			"Action: '" + p.action + "'\r\n" +
			"Resource: '" + resource + "'\r\n" +
			"Assignment: (not found)\r\n" +
			"Vault: " + s.vaultName + ";location=emulator\r\n",
		inner: "ForbiddenByPolicy",
	}
}
