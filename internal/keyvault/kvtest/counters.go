package kvtest

import (
	"maps"
	"sync"
)

// Route keys of the request counters. Data-plane keys follow the SDK's
// operation templates, so a GET of the latest version ("/secrets/x/", which
// is what azsecrets sends for an empty version) and a GET of a given version
// both count as RouteGetSecret: every value read is in one counter.
//
// Data-plane routes count authenticated requests only, faulted ones included;
// a request without a valid token counts as RouteChallenge instead.
const (
	RouteSetSecret      = "PUT /secrets/{name}"
	RouteGetSecret      = "GET /secrets/{name}/{version}"
	RouteUpdateSecret   = "PATCH /secrets/{name}/{version}"
	RouteDeleteSecret   = "DELETE /secrets/{name}"
	RouteListSecrets    = "GET /secrets"
	RouteListVersions   = "GET /secrets/{name}/versions"
	RouteListDeleted    = "GET /deletedsecrets"
	RouteGetDeleted     = "GET /deletedsecrets/{name}"
	RoutePurgeDeleted   = "DELETE /deletedsecrets/{name}"
	RouteRecoverDeleted = "POST /deletedsecrets/{name}/recover"
	RouteBackupSecret   = "POST /secrets/{name}/backup"
	RouteRestoreSecret  = "POST /secrets/restore"
	// RouteUnknown counts authenticated requests to paths or methods the
	// service does not have.
	RouteUnknown = "unknown"

	// RouteChallenge counts data-plane requests answered 401 with the
	// challenge: missing, forged, expired or wrong-audience tokens.
	RouteChallenge = "challenge"
	// RouteToken counts requests to the managed identity endpoint. MSAL
	// caches tokens process-wide, so an in-process client may not ask.
	RouteToken = "token"
	// RouteConnect counts tunnels the proxy opened (one per connection).
	RouteConnect = "connect"
	// RouteProxyRefused counts proxy requests refused (403/502).
	RouteProxyRefused = "proxy refused"

	// Fault counters: how many answers each injected fault produced.
	RouteFaultThrottle  = "fault: throttle"
	RouteFaultError     = "fault: error"
	RouteFaultForbidden = "fault: forbidden"
	RouteFaultMalformed = "fault: malformed"
)

var knownRoutes = map[string]bool{
	RouteSetSecret: true, RouteGetSecret: true, RouteUpdateSecret: true, RouteDeleteSecret: true,
	RouteListSecrets: true, RouteListVersions: true, RouteListDeleted: true, RouteGetDeleted: true,
	RoutePurgeDeleted: true, RouteRecoverDeleted: true, RouteBackupSecret: true, RouteRestoreSecret: true,
	RouteUnknown: true, RouteChallenge: true, RouteToken: true, RouteConnect: true, RouteProxyRefused: true,
	RouteFaultThrottle: true, RouteFaultError: true, RouteFaultForbidden: true, RouteFaultMalformed: true,
}

func isDataRoute(route string) bool {
	_, ok := permissions[route]
	return ok && route != RouteUnknown
}

type counters struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counters) add(route string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[route]++
}

func (c *counters) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := maps.Clone(c.m)
	if out == nil {
		out = map[string]int{}
	}
	return out
}

func (c *counters) get(route string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[route]
}

func (c *counters) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}
