package kvtest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// vaultResource is the audience of Key Vault data-plane tokens, and the
	// resource the challenge names.
	vaultResource = "https://vault.azure.net"
	// appServiceAPIVersion is the only version of the App Service managed
	// identity protocol azidentity (MSAL) speaks.
	appServiceAPIVersion = "2019-08-01"
	// tokenLifetime matches what managed identity endpoints hand out. MSAL
	// refreshes at half of it, so a test never sees a refresh.
	tokenLifetime = 24 * time.Hour
)

// signingKey signs every token any emulator in this process issues, and every
// emulator in this process accepts them. It has to be process-wide because
// MSAL caches managed-identity tokens in a package-level cache keyed by
// resource only: a second emulator started by the same test binary is handed
// the first one's token without a request to its token endpoint. A
// standalone emulator is its own process with its own key, so it accepts only
// the tokens it issued.
var signingKey = func() []byte {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("kvtest: failed to generate token signing key: " + err.Error())
	}
	return key
}()

type tokenClaims struct {
	Audience string `json:"aud"`
	Issuer   string `json:"iss"`
	IssuedAt int64  `json:"iat"`
	NotBef   int64  `json:"nbf"`
	Expires  int64  `json:"exp"`
	AppID    string `json:"appid"`
	ObjectID string `json:"oid"`
	TenantID string `json:"tid"`
	IDType   string `json:"idtyp"`
	// Nonce makes every token distinct, like real ones, so a test can tell a
	// re-issued token from a cached one.
	Nonce string `json:"uti"`
}

var errTokenInvalid = errors.New("invalid token")

// issueToken returns a JWT-shaped, HMAC-signed token. Clients treat access
// tokens as opaque; the shape only keeps log scrubbers and humans unsurprised.
func (s *Server) issueToken(resource string, now time.Time) (string, time.Time) {
	exp := now.Add(tokenLifetime).Truncate(time.Second)
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	claims := tokenClaims{
		Audience: resource,
		Issuer:   "https://sts.windows.net/" + s.tenantID + "/",
		IssuedAt: now.Unix(),
		NotBef:   now.Unix(),
		Expires:  exp.Unix(),
		AppID:    s.clientID,
		ObjectID: s.objectID,
		TenantID: s.tenantID,
		IDType:   "app",
		Nonce:    base64.RawURLEncoding.EncodeToString(nonce),
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	payload, _ := json.Marshal(claims)
	signed := header + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signed + "." + sign(signed), exp
}

func sign(s string) string {
	mac := hmac.New(sha256.New, signingKey)
	mac.Write([]byte(s))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// validateToken checks an Authorization header value. It answers only valid
// or not, with a reason for the 401 message that never echoes the token.
func validateToken(authorization string, now time.Time) (tokenClaims, string) {
	scheme, token, ok := strings.Cut(authorization, " ")
	if authorization == "" || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return tokenClaims{}, "AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token."
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || !hmac.Equal([]byte(sign(parts[0]+"."+parts[1])), []byte(parts[2])) {
		return tokenClaims{}, "AKV10032: Invalid issuer. The token was not issued by a trusted authority."
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return tokenClaims{}, "AKV10032: Invalid issuer. The token was not issued by a trusted authority."
	}
	var claims tokenClaims
	if err := json.Unmarshal(raw, &claims); err != nil {
		return tokenClaims{}, "AKV10032: Invalid issuer. The token was not issued by a trusted authority."
	}
	if strings.TrimSuffix(claims.Audience, "/") != vaultResource {
		return tokenClaims{}, "AKV10022: Invalid audience. Expected " + vaultResource + "."
	}
	if now.Unix() >= claims.Expires {
		return tokenClaims{}, "AKV10025: Token expired."
	}
	return claims, ""
}

// handleToken serves the App Service managed identity protocol
// (api-version 2019-08-01) the way azidentity's MSAL client calls it:
// GET IDENTITY_ENDPOINT?api-version=..&resource=.. with X-IDENTITY-HEADER.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.count(RouteToken)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	header := r.Header.Get("X-IDENTITY-HEADER")
	switch {
	case header == "":
		writeIdentityError(w, http.StatusBadRequest, "Required header X-IDENTITY-HEADER not found.")
		return
	case !hmac.Equal([]byte(header), []byte(s.identityHeader)):
		writeIdentityError(w, http.StatusUnauthorized, "The X-IDENTITY-HEADER value is not valid.")
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != appServiceAPIVersion {
		writeIdentityError(w, http.StatusBadRequest, "The api-version '"+v+"' is not supported; use "+appServiceAPIVersion+".")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		writeIdentityError(w, http.StatusBadRequest, "Required query parameter resource not found.")
		return
	}
	token, exp := s.issueToken(resource, time.Now())
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"access_token": token,
		// App Service reports expires_on as a string of Unix seconds.
		"expires_on": strconv.FormatInt(exp.Unix(), 10),
		"resource":   resource,
		"token_type": "Bearer",
		"client_id":  s.clientID,
	})
}

func writeIdentityError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"statusCode": status, "message": message})
}
