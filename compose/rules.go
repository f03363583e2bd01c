package compose

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// The rules below decide whether one variable holds a secret from its name
// and its value. They are pure functions of (name, value) so they can be
// tested as a table; the project context (images, x-vault, shared values)
// is applied in detect.go.
//
// Reasons never quote the value: they name the rule that fired.

// nameClass is what a variable's name says about its value.
type nameClass int

const (
	nameNeutral nameClass = iota
	// nameSecret: the name says the value is a secret (DB_PASSWORD, API_TOKEN).
	nameSecret
	// nameFileRef: X_FILE or X__FILE with a secret-looking X: the value
	// points at a secret (a path, or for pihole a secret name), it is not one.
	nameFileRef
	// nameFlag: the name is about a secret but holds a switch
	// (MYSQL_RANDOM_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD).
	nameFlag
	// nameDescriptor: the name is about a secret but its value describes it
	// (PASSWORD_MIN_LENGTH, TOKEN_TTL, AUTH_METHOD, BASICAUTH_USERNAME).
	nameDescriptor
	// namePublic: a key or token that is public by design (JWT_PUBLIC_KEY,
	// SUPABASE_ANON_KEY, STRIPE_PUBLISHABLE_KEY, NEXT_PUBLIC_*): handed to
	// browsers and clients, so moving it protects nothing.
	namePublic
)

type nameRule struct {
	class nameClass
	// token is the word of the name that decided, for the reason text.
	token string
}

// strongTokens make a name secret wherever they appear, as long as the last
// word does not turn it into a descriptor (PASSWORD_FILE, TOKEN_TTL).
var strongTokens = map[string]bool{
	"password": true, "passwd": true, "pword": true, "passphrase": true, "pwd": true,
	"secret": true, "token": true, "apikey": true, "credential": true, "credentials": true,
	"creds": true, "privatekey": true, "salt": true, "psk": true, "accesskey": true,
	"secretkey": true, "masterkey": true, "passkey": true, "pat": true,
	// Fernet keys (Airflow, Superset, cryptography.fernet) encrypt stored
	// credentials: FERNET_KEY, FERNET_KEYS, AIRFLOW__CORE__FERNET_KEY.
	"fernet": true,
}

// keyRingWords before a last word "keys" make it a set of secret keys
// (ENCRYPTION_KEYS, SIGNING_KEYS); other KEYS (SSH_AUTHORIZED_KEYS) are
// usually public keys.
var keyRingWords = map[string]bool{
	"encryption": true, "encrypt": true, "crypt": true, "crypto": true, "fernet": true,
	"signing": true, "master": true, "secret": true, "secrets": true, "aes": true, "hmac": true,
}

// weakTokens only count as the last word: AUTH_METHOD and GF_AUTH_* are
// namespaces, REDIS_AUTH is a password; KEY_VAULT_URL is not a key but
// WORDPRESS_AUTH_KEY is.
var weakTokens = map[string]bool{
	"key": true, "auth": true, "pass": true, "pw": true, "basicauth": true,
	"sig": true, "signature": true, "cookie": true,
}

// compoundSuffixes catch words that glue a secret word to another one, as
// pihole's WEBPASSWORD or CLIENTSECRET do. "pass" is not one of them:
// "bypass" and "compass" are not secrets.
var compoundSuffixes = []string{"password", "passwd", "secret", "token", "apikey", "passphrase"}

// descriptorTokens, as the last word, say the value is about a secret and
// is not the secret itself.
var descriptorTokens = map[string]bool{
	"path": true, "dir": true, "directory": true, "folder": true,
	"user": true, "username": true, "usr": true, "login": true, "name": true, "id": true,
	"uid": true, "gid": true, "email": true, "mail": true, "owner": true, "account": true,
	"host": true, "hostname": true, "server": true, "port": true, "url": true, "uri": true,
	"link": true, "endpoint": true, "addr": true, "address": true, "dsn": true, "domain": true,
	"length": true, "len": true, "min": true, "max": true, "size": true, "minlength": true,
	"maxlength": true, "policy": true, "expiry": true, "expires": true, "expire": true,
	"expiration": true, "ttl": true, "timeout": true, "lifetime": true, "age": true,
	"type": true, "method": true, "methods": true, "mode": true, "algorithm": true, "algo": true,
	"alg": true, "provider": true, "plugin": true, "header": true, "prefix": true, "suffix": true,
	"format": true, "version": true, "enabled": true, "enable": true, "disabled": true,
	"disable": true, "required": true, "require": true, "validation": true, "validate": true,
	"regex": true, "pattern": true, "complexity": true, "strength": true, "hint": true,
	"command": true, "cmd": true, "location": true, "realm": true, "scope": true, "scopes": true,
	"issuer": true, "audience": true, "backend": true, "store": true, "rounds": true,
	"count": true, "cost": true, "iterations": true, "rotation": true, "interval": true,
	"bits": true, "encoding": true, "charset": true, "public": true, "level": true,
	"env": true, "var": true, "variable": true, "mount": true, "volume": true,
	"table": true, "column": true, "field": true, "param": true, "parameter": true,
	"label": true, "description": true, "desc": true, "help": true, "reset": true,
	"days": true, "hours": true, "seconds": true, "check": true, "manager": true,
	"engine": true, "source": true, "namespace": true, "region": true, "role": true,
	"arn": true, "alias": true, "bucket": true, "ref": true,
}

// flagTokens anywhere in a secret-looking name make it a switch when the
// value is a boolean: MYSQL_RANDOM_ROOT_PASSWORD: '1' asks the image to
// generate a password, it is not one.
var flagTokens = map[string]bool{
	"random": true, "allow": true, "empty": true, "skip": true, "generate": true,
	"generated": true, "onetime": true, "use": true, "force": true, "no": true,
	"ignore": true, "change": true, "expired": true, "enabled": true, "enable": true,
	"disabled": true, "disable": true, "require": true, "required": true,
}

// nameWords splits a variable name into lower-case words: on anything that
// is not a letter or digit (FOO_BAR, discovery.type, database__password) and
// on lower-to-upper case changes (dbPassword, ServerIP).
func nameWords(name string) []string {
	var words []string
	var cur []rune
	var prev rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for _, r := range name {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
		prev = r
	}
	flush()
	return words
}

// secretWord reports whether word i of words makes a name secret, and
// which secret word it is.
func secretWord(words []string, i int) (string, bool) {
	w, n := words[i], len(words)
	if strongTokens[w] {
		// PWD alone is the shell's working directory.
		if w == "pwd" && n == 1 {
			return "", false
		}
		return w, true
	}
	last := i == n-1
	if weakTokens[w] && last {
		return w, true
	}
	switch {
	case w == "secrets" && !last:
		// A namespace of secrets (GITLAB_SECRETS_DB_KEY_BASE, SECRETS_DB_KEY,
		// APP_SECRETS_ENCRYPTION); SECRETS_DIR and SECRETS_PATH are stopped
		// by their descriptor, and a last SECRETS names a place or a switch.
		return w, true
	case w == "base" && last && i > 0 && words[i-1] == "key":
		// Rails and Devise: SECRET_KEY_BASE, OTP_KEY_BASE, DB_KEY_BASE derive
		// every other key of the app.
		return "key_base", true
	case w == "keys" && last && i > 0 && keyRingWords[words[i-1]]:
		return w, true
	}
	for _, s := range compoundSuffixes {
		if len(w) > len(s) && strings.HasSuffix(w, s) {
			return s, true
		}
	}
	if last && len(w) > 4 && strings.HasSuffix(w, "auth") && w != "oauth" {
		return "auth", true // BASICAUTH, HTTPAUTH
	}
	return "", false
}

// classifyName applies the name rules.
func classifyName(name string) nameRule {
	words := nameWords(name)
	n := len(words)
	if n == 0 {
		return nameRule{}
	}
	// X_FILE / X__FILE: the image reads X from the file (or secret) named by
	// the value. It is a file reference when X looks secret.
	if last := words[n-1]; last == "file" && n > 1 {
		if r := classifyName(strings.Join(words[:n-1], "_")); r.class == nameSecret || r.class == nameFileRef {
			return nameRule{class: nameFileRef, token: r.token}
		}
		return nameRule{class: nameDescriptor, token: "file"}
	}
	secret, at := "", -1
	for i := range words {
		if t, ok := secretWord(words, i); ok {
			secret, at = t, i
		}
	}
	if secret == "" {
		return nameRule{}
	}
	// A descriptor after the secret word says what about the secret the
	// value is: PASSWORD_MIN_LENGTH, AUTH_TOKEN_EXPIRES_IN, TOKEN_ISSUER_URL.
	for _, w := range words[at+1:] {
		if descriptorTokens[w] {
			return nameRule{class: nameDescriptor, token: w}
		}
	}
	if t, ok := publicName(words, secret); ok {
		return nameRule{class: namePublic, token: t}
	}
	for _, w := range words[:at] {
		if flagTokens[w] {
			return nameRule{class: nameFlag, token: w}
		}
	}
	return nameRule{class: nameSecret, token: secret}
}

// clientPrefixes are the frameworks' markers for variables bundled into
// the code sent to browsers (Next.js, Nuxt, Expo, Vite, Create React App,
// Gatsby): whatever such a variable holds, every visitor of the site can
// read it, so it is public by design. A password or secret put there is
// still reported: it is a leak the user must hear about. SvelteKit's bare
// PUBLIC_ is not one of them: PUBLIC_ACCESS_TOKEN reads as an access
// token, and the "public" rule below judges it.
var clientPrefixes = [][]string{
	{"next", "public"}, {"nuxt", "public"}, {"expo", "public"},
	{"vite"}, {"react", "app"}, {"gatsby"},
}

// credentialWords make a "public" token a credential all the same: an
// ingestion or access token (POSTHOG_PUBLIC_INGEST_TOKEN,
// PUBLIC_ACCESS_TOKEN) lets its holder write to, or read from, the
// service; "public" only says who the project meant to hand it to.
var credentialWords = map[string]bool{
	"ingest": true, "ingestion": true, "access": true, "write": true, "upload": true,
	"push": true, "private": true, "secret": true, "password": true, "passwd": true,
	"passphrase": true, "admin": true,
}

// publicName reports whether a name whose secret word is secret names a
// key that is public by design, and the word that says so:
//   - "public" (JWT_PUBLIC_KEY, SENTRY_PUBLIC_KEY, *_PUBKEY), unless a
//     credential word makes it an ingestion or access token;
//   - "anon" (SUPABASE_ANON_KEY: a JWT every browser holds, whose power is
//     bounded by row-level security; the service-role key is the secret);
//   - "publishable" (STRIPE_PUBLISHABLE_KEY, pk_live_...: Stripe's
//     client-side key);
//   - a client-side prefix (NEXT_PUBLIC_, VITE_, ...), unless the secret
//     word is a password or a secret.
func publicName(words []string, secret string) (string, bool) {
	for _, p := range clientPrefixes {
		if len(words) > len(p) && slices.Equal(words[:len(p)], p) {
			switch secret {
			case "password", "passwd", "pword", "passphrase", "pwd", "secret", "secretkey", "privatekey", "pass", "pw":
				return "", false
			}
			return strings.Join(p, "_") + "_", true
		}
	}
	credential := false
	for _, w := range words {
		if credentialWords[w] {
			credential = true
		}
	}
	if credential {
		return "", false
	}
	for _, w := range words {
		switch w {
		case "anon", "anonymous", "publishable", "public", "pubkey", "publickey":
			return w, true
		}
	}
	return "", false
}

// buildkitSecretName is BuildKit's SecretsUsedInArgOrEnv rule, copied from
// frontend/dockerfile/dockerfile2llb/validations.go (getSecretsRegex), so a
// Dockerfile is judged exactly as `docker build` warns about it.
var (
	buildkitDeny  = regexp.MustCompile(`(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)`)
	buildkitAllow = regexp.MustCompile(`(?i)(?:_|^)(?:public|file|version)(?:_|$)`)
)

func buildkitSecretName(key string) bool {
	return buildkitDeny.MatchString(key) && !buildkitAllow.MatchString(key)
}

// Value shapes of well-known credentials. Anchored patterns match a value
// that is the token; the others find a token inside a larger value. need
// holds strings one of which every match contains (lower case for a
// case-insensitive pattern): a value without any is not run through the
// pattern, which keeps detection fast on projects of thousands of values.
var tokenShapes = []struct {
	what string
	need []string
	fold bool
	re   *regexp.Regexp
}{
	{"a PEM private key", []string{"-----BEGIN "}, false, regexp.MustCompile(`-----BEGIN ((RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----`)},
	{"a JSON Web Token", []string{"eyJ"}, false, regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)},
	{"an AWS access key id", []string{"AKIA", "ASIA"}, false, regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"a GitHub token", []string{"gh", "github_pat_"}, false, regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b`)},
	{"a GitLab token", []string{"glpat-"}, false, regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20,}`)},
	{"a Slack token", []string{"xox"}, false, regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}`)},
	{"a Slack webhook URL", []string{"hooks.slack.com/services/"}, false, regexp.MustCompile(`hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+`)},
	// A webhook URL carries its token in the path: whoever has it can post.
	{"a Discord webhook URL", []string{"/api/webhooks/"}, false, regexp.MustCompile(`\bdiscord(app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_-]{30,}`)},
	{"a Microsoft Teams webhook URL", []string{".webhook.office.com/"}, false, regexp.MustCompile(`\.webhook\.office\.com/webhookb2/[A-Za-z0-9@-]+/IncomingWebhook/[A-Za-z0-9]{20,}/`)},
	{"an Azure storage account key", []string{"accountkey="}, true, regexp.MustCompile(`(?i)AccountKey=[A-Za-z0-9+/]{40,}={0,2}`)},
	{"an Azure SAS signature", []string{"sig="}, false, regexp.MustCompile(`[?&]sig=[A-Za-z0-9%+/]{20,}`)},
	{"an Azure AD client secret", []string{"Q~"}, false, regexp.MustCompile(`\b[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}\b`)},
	{"a Google API key", []string{"AIza"}, false, regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}\b`)},
	{"a Stripe secret key", []string{"k_live_"}, false, regexp.MustCompile(`\b[rs]k_live_[0-9A-Za-z]{16,}\b`)},
	{"an npm token", []string{"npm_"}, false, regexp.MustCompile(`\bnpm_[A-Za-z0-9]{36}\b`)},
}

// tokenShape returns what kind of credential v holds, and whether v is that
// credential and nothing else.
func tokenShape(v string) (what string, whole bool, ok bool) {
	if len(v) < 15 {
		return "", false, false // shorter than the shortest shape
	}
	lower := ""
	for _, s := range tokenShapes {
		in := v
		if s.fold {
			if lower == "" {
				lower = strings.ToLower(v)
			}
			in = lower
		}
		if !slices.ContainsFunc(s.need, func(n string) bool { return strings.Contains(in, n) }) {
			continue
		}
		loc := s.re.FindStringIndex(v)
		if loc == nil {
			continue
		}
		whole = strings.TrimSpace(v[:loc[0]]) == "" && strings.TrimSpace(v[loc[1]:]) == ""
		if s.what == "a PEM private key" {
			whole = strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN")
		}
		return s.what, whole, true
	}
	return "", false, false
}

// urlPassword finds "scheme://user:password@" in v and returns the password
// with its offsets. A password that is itself a ${VAR} reference left after
// interpolation, or a single '*' mask, does not count.
func urlPassword(v string) (pw string, ok bool) {
	for rest := v; ; {
		i := strings.Index(rest, "://")
		if i < 0 {
			return "", false
		}
		rest = rest[i+3:]
		end := strings.IndexAny(rest, "/?# \t\n")
		auth := rest
		if end >= 0 {
			auth = rest[:end]
		}
		at := strings.LastIndexByte(auth, '@')
		if at < 0 {
			continue
		}
		userinfo := auth[:at]
		c := strings.IndexByte(userinfo, ':')
		if c < 0 {
			continue
		}
		pw = userinfo[c+1:]
		if pw == "" || pw == "*" || strings.HasPrefix(pw, "${") {
			continue
		}
		return pw, true
	}
}

// embeddedAssignment finds key=value pairs inside a larger value (a
// connection string "Server=db;Password=x", JVM flags "-Ddb.password=x",
// command flags "--password=x", query strings) whose key is secret-named
// and whose value is not empty. It returns the key that matched.
func embeddedAssignment(v string) (key string, val string, ok bool) {
	return assignmentIn(v, 2)
}

// assignmentIn is embeddedAssignment for values of at least minFields
// fields: a value that is one "password=x" is only a connection string
// when its variable's name says so.
func assignmentIn(v string, minFields int) (key string, val string, ok bool) {
	fields := strings.FieldsFunc(v, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == ';' || r == '&' || r == '?' || r == ','
	})
	if len(fields) < minFields {
		return "", "", false
	}
	for _, f := range fields {
		eq := strings.IndexByte(f, '=')
		if eq <= 0 {
			continue
		}
		k := f[:eq]
		if strings.HasPrefix(k, "-D") {
			k = k[2:] // JVM system property: -Ddb.password=
		}
		k = strings.TrimLeft(k, "-")
		if k == "" {
			continue
		}
		val := strings.Trim(f[eq+1:], `"'`)
		if val == "" {
			continue
		}
		if r := classifyName(k); r.class == nameSecret {
			return k, val, true
		}
	}
	return "", "", false
}

// connectionWords name a variable that holds a connection: *_CONN,
// *_URL, *_URI, *_DSN, AIRFLOW_CONN_*, *_CONNECTION_STRING.
var connectionWords = map[string]bool{
	"conn": true, "connection": true, "connstr": true, "connectionstring": true,
	"url": true, "uri": true, "dsn": true, "datasource": true,
}

func connectionName(name string) bool {
	return slices.ContainsFunc(nameWords(name), func(w string) bool { return connectionWords[w] })
}

// dsnPassword finds a password in a connection string without a scheme,
// which urlPassword does not read: Go's MySQL DSN
// "user:password@tcp(db:3306)/app", "user:password@db:5432/app", Oracle's
// "user/password@db:1521/XE". Only a value of a connection-named variable
// is read this way: "a:b@c" alone is too common a shape.
func dsnPassword(v string) bool {
	if strings.ContainsAny(v, " \t\n") || strings.Contains(v, "://") {
		return false
	}
	// "/" separates the password only in Oracle's form: elsewhere
	// "repo/image@sha256:..." is an image reference.
	seps := ":"
	if i := strings.Index(v, ":thin:"); strings.HasPrefix(v, "jdbc:oracle:") && i >= 0 {
		v, seps = v[i+len(":thin:"):], "/"
	}
	at := strings.LastIndexByte(v, '@')
	if at <= 0 || at == len(v)-1 {
		return false
	}
	userinfo := v[:at]
	sep := strings.IndexAny(userinfo, seps)
	if sep <= 0 {
		return false
	}
	user, pw := userinfo[:sep], userinfo[sep+1:]
	if pw == "" || pw == "*" || strings.HasPrefix(pw, "${") || uriSchemes[strings.ToLower(user)] {
		return false
	}
	for _, c := range user {
		if !(c == '_' || c == '-' || c == '.' || unicode.IsLetter(c) || unicode.IsDigit(c)) {
			return false
		}
	}
	host := v[at+1:]
	return unicode.IsLetter(rune(host[0])) || unicode.IsDigit(rune(host[0])) || host[0] == '['
}

// uriSchemes write "scheme:user@host" without "//": mailto:me@example.com
// is an address, not a user "mailto" with a password.
var uriSchemes = map[string]bool{"mailto": true, "sip": true, "sips": true, "xmpp": true, "tel": true, "acct": true, "im": true, "news": true}

// jsonFieldRE is one "key": "string" member of a JSON object.
var jsonFieldRE = regexp.MustCompile(`"([A-Za-z0-9_.-]+)"\s*:\s*"([^"\\]|\\.)+"`)

// jsonSecretField finds a secret-named member with a value in a JSON
// object, as Airflow's AIRFLOW_CONN_* in JSON form holds
// {"conn_type": "postgres", "login": "u", "password": "p"}.
func jsonSecretField(v string) (string, bool) {
	t := strings.TrimSpace(v)
	if !strings.HasPrefix(t, "{") || !strings.Contains(t, `"`) {
		return "", false
	}
	for _, m := range jsonFieldRE.FindAllStringSubmatch(t, -1) {
		if classifyName(m[1]).class == nameSecret {
			return m[1], true
		}
	}
	return "", false
}

// booleanish reports whether v is what a flag holds.
func booleanish(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "1", "true", "false", "yes", "no", "y", "n", "on", "off":
		return true
	}
	return false
}

// secretFilePath reports whether v is the path of a mounted secret.
func secretFilePath(v string) bool {
	return strings.HasPrefix(v, "/run/secrets/") || strings.HasPrefix(v, "/var/run/secrets/")
}

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// randomLooking reports whether v looks like generated key material: long,
// one word, no path or URL, and close to random. UUIDs are identifiers.
func randomLooking(v string) bool {
	if len(v) < 32 || len(v) > 4096 || uuidRE.MatchString(v) {
		return false
	}
	hex := true
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		case c >= 'g' && c <= 'z', c >= 'G' && c <= 'Z', c == '+', c == '/', c == '=', c == '_', c == '-':
			hex = false
		default:
			return false
		}
	}
	if strings.HasPrefix(v, "/") || strings.Contains(v, "//") {
		return false
	}
	if hex {
		// A hex digest of 40+ digits: keys, but also commit ids and image
		// digests; only a near-uniform distribution counts.
		return len(v) >= 40 && entropy(v) >= 3.5
	}
	return entropy(v) >= 4.2
}

// valueRule is the outcome of the rules for one variable.
type valueRule struct {
	verdict  Verdict
	reason   string
	embedded bool
	// weak: only the shape of the value says secret (high entropy); the tool
	// reports it and lets x-vault include it rather than rewriting on a guess.
	weak bool
}

// classify applies the name and value rules to one variable.
func classify(name, value string) valueRule {
	nr := classifyName(name)
	if nr.class == nameFileRef {
		return valueRule{verdict: VerdictFileRef, reason: "names the file the image reads the " + nr.token + " from"}
	}
	if secretFilePath(value) {
		return valueRule{verdict: VerdictFileRef, reason: "value is the path of a mounted secret file"}
	}
	if what, whole, ok := tokenShape(value); ok && (nr.class != namePublic || what != "a JSON Web Token") {
		// A public name does not make a private key or a cloud key public;
		// an anon key is a JWT by design.
		return valueRule{verdict: VerdictSecret, reason: "value holds " + what, embedded: !whole}
	}
	if _, ok := urlPassword(value); ok {
		return valueRule{verdict: VerdictSecret, reason: "URL holds a password (user:password@)", embedded: true}
	}
	if k, ok := jsonSecretField(value); ok {
		return valueRule{verdict: VerdictSecret, reason: "JSON value sets " + k, embedded: true}
	}
	if connectionName(name) {
		if dsnPassword(value) {
			return valueRule{verdict: VerdictSecret, reason: "connection string holds a password (user:password@)", embedded: true}
		}
		if k, _, ok := assignmentIn(value, 1); ok {
			return valueRule{verdict: VerdictSecret, reason: "connection string sets " + k, embedded: true}
		}
	}
	switch nr.class {
	case nameSecret:
		if (nr.token == "auth" || nr.token == "basicauth") && booleanish(value) && value != "" {
			// ME_CONFIG_BASICAUTH: true switches basic auth on.
			return valueRule{verdict: VerdictNotSecret, reason: "switch (\"" + nr.token + "\") holding a boolean, not a credential"}
		}
		if value == "" {
			return valueRule{verdict: VerdictSecret, reason: "name contains \"" + nr.token + "\" (empty password slot)"}
		}
		return valueRule{verdict: VerdictSecret, reason: "name contains \"" + nr.token + "\""}
	case nameFlag:
		if booleanish(value) {
			return valueRule{verdict: VerdictNotSecret, reason: "switch (\"" + nr.token + "\") holding a boolean, not a password"}
		}
		return valueRule{verdict: VerdictSecret, reason: "name is about a password and the value is not a boolean"}
	case nameDescriptor:
		return valueRule{verdict: VerdictNotSecret, reason: "describes a secret (\"" + nr.token + "\"), does not hold one"}
	case namePublic:
		if strings.HasSuffix(nr.token, "_") {
			return valueRule{verdict: VerdictNotSecret, reason: "client-side variable (" + strings.ToUpper(nr.token) + "): bundled into the code browsers load, public by design"}
		}
		return valueRule{verdict: VerdictNotSecret, reason: "public key by name (\"" + nr.token + "\"): meant to be handed to clients, not a secret"}
	}
	if k, _, ok := embeddedAssignment(value); ok {
		return valueRule{verdict: VerdictSecret, reason: "value sets " + k + " inside a larger value", embedded: true}
	}
	if randomLooking(value) {
		return valueRule{verdict: VerdictSecret, reason: "value looks like generated key material (high entropy)", weak: true}
	}
	return valueRule{verdict: VerdictNotSecret}
}

// Judgment is what the rules say of one name and value, for callers that
// judge a variable outside a compose project (scan: image Env, labels and
// the ARG values in an image's history). It is classify, exported: the
// one copy of the rules.
type Judgment struct {
	Verdict Verdict
	// Reason names the rule that decided; it never holds the value.
	Reason string
	// Embedded: the credential is part of a larger value.
	Embedded bool
	// Weak: only the value's shape (high entropy) says secret.
	Weak bool
}

// Judge applies the name and value rules to one variable.
func Judge(name, value string) Judgment {
	r := classify(name, value)
	return Judgment{Verdict: r.verdict, Reason: r.reason, Embedded: r.embedded, Weak: r.weak}
}
