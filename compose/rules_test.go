package compose

import (
	"fmt"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// show renders unexported test values for comparison.
func show[T any](l []T) []string {
	var out []string
	for _, v := range l {
		out = append(out, fmt.Sprintf("%+v", v))
	}
	return out
}

func TestClassify(t *testing.T) {
	type want struct {
		verdict  Verdict
		embedded bool
		weak     bool
	}
	secret := want{verdict: VerdictSecret}
	no := want{verdict: VerdictNotSecret}
	fileRef := want{verdict: VerdictFileRef}
	embedded := want{verdict: VerdictSecret, embedded: true}
	weak := want{verdict: VerdictSecret, weak: true}

	for _, tc := range []struct {
		name, value string
		want        want
	}{
		// Passwords under their many names.
		{"POSTGRES_PASSWORD", "example", secret},
		{"DB_PASSWD", "gitea", secret},
		{"DB_PASS", "bpm", secret},
		{"YOURLS_PASS", "x", secret},
		{"MYSQL_PWD", "x", secret},
		{"WEBPASSWORD", "changeit", secret},             // glued word
		{"database__connection__password", "x", secret}, // ghost nested config
		{"dbPassword", "x", secret},                     // camelCase
		{"REDMINE_SECRET_KEY_BASE", "x", secret},
		{"AWS_SECRET_ACCESS_KEY", "x", secret},
		{"GITHUB_TOKEN", "x", secret},
		{"NPM_AUTH_TOKEN", "x", secret},
		{"API_KEY", "x", secret},
		{"STRIPE_APIKEY", "x", secret},
		{"WORDPRESS_AUTH_KEY", "x", secret},
		{"WORDPRESS_NONCE_SALT", "x", secret},
		{"REDIS_AUTH", "x", secret},
		{"GOOGLE_CREDENTIALS", "x", secret},
		{"CLIENTSECRET", "x", secret},
		{"MARIADB_ROOT_PASSWORD_HASH", "*ABC", secret}, // a hash still unlocks offline attacks
		{"POSTGRES_PASSWORD", "", secret},              // empty slot counts
		// Switches whose name says password.
		{"MYSQL_RANDOM_ROOT_PASSWORD", "1", no},
		{"MYSQL_RANDOM_ROOT_PASSWORD", "yes", no},
		{"MYSQL_ALLOW_EMPTY_PASSWORD", "yes", no},
		{"MYSQL_ONETIME_PASSWORD", "true", no},
		{"ME_CONFIG_BASICAUTH", "true", no},
		{"ME_CONFIG_BASICAUTH_ENABLED", "true", no},
		// Names about a secret that do not hold one.
		{"POSTGRES_USER", "postgres", no},
		{"ME_CONFIG_BASICAUTH_USERNAME", "u", no},
		{"PASSWORD_MIN_LENGTH", "12", no},
		{"TOKEN_TTL", "3600", no},
		{"AUTH_TOKEN_EXPIRES_IN", "3600", no},
		{"TOKEN_ISSUER_URL", "https://login.example.com", no},
		{"SKIP_PASSWORD_CHECK", "true", no},
		{"JWT_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----", no},
		{"AWS_ACCESS_KEY_ID_NAME", "x", no},
		{"GPG_KEY_ID", "ABCDEF", no},
		{"KEY_VAULT_URL", "https://v.vault.azure.net", no},
		{"POSTGRES_HOST_AUTH_METHOD", "trust", no},
		{"GF_AUTH_ANONYMOUS_ENABLED", "true", no},
		{"SECRETS_DIR", "/run/secrets", no},
		{"PWD", "/home/me", no}, // the shell's working directory
		// Already file references.
		{"POSTGRES_PASSWORD_FILE", "/run/secrets/db-password", fileRef},
		{"GF_SECURITY_ADMIN_PASSWORD__FILE", "/run/secrets/x", fileRef},
		{"WEBPASSWORD_FILE", "pihole_pw", fileRef}, // a secret name
		{"DATABASE_PASSWORD", "/run/secrets/db-password", fileRef},
		{"CONFIG_FILE", "/etc/app.conf", no},
		// Ordinary values.
		{"PORT", "8000", no},
		{"TZ", "Etc/UTC", no},
		{"ServerIP", "192.168.178.1", no},
		{"PIHOLE_DNS_", "172.20.0.2#5054;1.1.1.1", no},
		{"ZOO_SERVERS", "server.1=zoo1:2888:3888;2181 server.2=zoo2:2888:3888;2181", no},
		{"JAVA_OPTS", "-Djava.security.egd=file:/dev/./urandom -Xms512M", no},
		{"KAFKA_URL", "kafka://redpanda:9092/order", no},
		{"ZMQ_DSN", "tcp://*:7777", no},
		{"IMAGE_DIGEST", "sha256:0cfeab0f748b9a743dc3da582046357c6ef497631c1a016d28d2bf9b4f899f7b", no},
		{"RUN_ID", "123e4567-e89b-12d3-a456-426614174000", no},
		// Credentials inside larger values.
		{"DATABASE_URL", "mysql://root:whalehello@db:3306/mysql", embedded},
		{"ME_CONFIG_MONGODB_URL", "mongodb://root:example@mongo:27017/", embedded},
		{"DATABASE_URL", "postgres://user@db/app", no},
		{"DATABASE_URL", "postgres://user:${DB_PW}@db/app", no}, // left uninterpolated
		{"CONNECTION_STRING", "Server=db;User Id=sa;Password=S3cret!;", embedded},
		{"JAVA_OPTS", "-Xmx1G -Ddb.password=hunter2", embedded},
		{"GN_CONFIG_PROPERTIES", "-Des.username= -Des.password=", no}, // empty: nothing to leak yet
		// Known token shapes, whatever the name.
		{"SOME_VALUE", "ghp_" + strings.Repeat("a1B2", 9), secret},
		{"SETTING", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", secret},
		{"CERT", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", secret},
		{"AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", secret},
		{"SLACK_HOOK", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", embedded},
		{"DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/123456789012345678/" + strings.Repeat("aB3_", 17), embedded},
		{"TEAMS_WEBHOOK", "https://contoso.webhook.office.com/webhookb2/1a2b-3c@4d5e/IncomingWebhook/" + strings.Repeat("a1", 16) + "/5f6a", embedded},
		{"DISCORD_INVITE_URL", "https://discord.com/invite/abc", no},
		{"STORAGE", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=" + strings.Repeat("Ab1+", 22) + ";", embedded},
		// Rails/Devise key bases derive every other key of the app.
		{"SECRET_KEY_BASE", "x", secret},
		{"DEVISE_SECRET_KEY_BASE", "x", secret},
		{"OTP_KEY_BASE", "x", secret},
		{"GITLAB_SECRETS_DB_KEY_BASE", "x", secret},
		{"KEY_BASE_PATH", "/etc/k", no},
		{"DATABASE", "x", no},
		// SECRETS_* namespaces.
		{"SECRETS_DB_KEY", "x", secret},
		{"APP_SECRETS_ENCRYPTION", "x", secret},
		{"SECRETS_PATH", "/run/secrets", no},
		{"SECRETS_MANAGER", "aws", no},
		{"USE_SECRETS_MANAGER", "true", no},
		{"DOCKER_SECRETS", "true", no},
		{"VAULT_SECRETS_ENGINE", "kv", no},
		{"SECRETS_SOURCE", "vault", no},
		{"FERNET_ENABLED", "true", no},
		{"SECRETS_KMS_KEY_ARN", "arn:aws:kms:eu-west-1:1:key/x", no},
		{"SECRETS_BUCKET", "my-bucket", no},
		{"PUB_SUB_TOKEN", "x", secret},
		// Fernet and encryption keys.
		{"FERNET_KEY", "x", secret},
		{"AIRFLOW__CORE__FERNET_KEY", "x", secret},
		{"SUPERSET_FERNET_KEYS", "a,b", secret},
		{"N8N_ENCRYPTION_KEY", "x", secret},
		{"ENCRYPTION_KEY", "x", secret},
		{"DATA_ENCRYPTION_KEYS", "k1,k2", secret},
		{"ENCRYPTION_KEY_ID", "alias/x", no},
		{"SSH_AUTHORIZED_KEYS", "ssh-ed25519 AAAA", no},
		// Connections holding credentials: URLs, scheme-less DSNs, JSON.
		{"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://airflow:airflow@postgres/airflow", embedded},
		{"MYSQL_DSN", "app:s3cret@tcp(db:3306)/app?parseTime=true", embedded},
		{"PG_CONN", "admin:s3cret@db:5432/app", embedded},
		{"ORACLE_URL", "jdbc:oracle:thin:scott/tiger@db:1521/XE", embedded},
		{"PG_CONN", "password=s3cret", embedded},
		{"AIRFLOW_CONN_WAREHOUSE", `{"conn_type": "postgres", "login": "u", "password": "p4ss", "host": "db"}`, embedded},
		{"MYSQL_DSN", "app@tcp(db:3306)/app", no},
		{"IMAGE_URI", "registry.example.com/team/app@sha256:0cfeab0f748b9a743dc3da582046357c6ef497631c1a016d28d2bf9b4f899f7b", no},
		{"REPO_URL", "git@github.com:org/repo.git", no},
		{"PG_CONN", "host=db port=5432", no},
		{"SETTINGS", `{"log_level": "debug", "user": "x"}`, no},
		{"NOTE", "admin:s3cret@db", no}, // not a connection by name: too common a shape
		{"CONTACT_URL", "mailto:security@example.com", no},
		// "Public" tokens that are still credentials...
		{"POSTHOG_PUBLIC_INGEST_TOKEN", "phx_1", secret},
		{"PUBLIC_ACCESS_TOKEN", "x", secret},
		{"TELEMETRY_PUBLIC_INGESTION_KEY", "x", secret},
		{"PUBLIC_UPLOAD_TOKEN", "x", secret},
		// ...and keys that are public by design.
		{"SENTRY_PUBLIC_KEY", "abc", no},
		{"SUPABASE_ANON_KEY", "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", no},
		{"ANON_KEY", "x", no},
		{"STRIPE_PUBLISHABLE_KEY", "pk_live_abc", no},
		{"NEXT_PUBLIC_SUPABASE_ANON_KEY", "x", no},
		{"NEXT_PUBLIC_MAPBOX_ACCESS_TOKEN", "pk.x", no},
		{"VITE_FIREBASE_API_KEY", "AIzaSy", no},
		{"REACT_APP_API_KEY", "x", no},
		{"PUBLIC_SITE_KEY", "x", no},
		{"SERVICE_ROLE_KEY", "x", secret},
		// A client-side prefix does not excuse a password or a real secret
		// value, and a public name does not make a private key public.
		{"NEXT_PUBLIC_DB_PASSWORD", "x", secret},
		{"VITE_CLIENT_SECRET", "x", secret},
		{"JWT_PUBLIC_KEY", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", secret},
		{"STRIPE_PUBLISHABLE_KEY", "sk_live_" + strings.Repeat("a1", 12), secret},
		// Random-looking values are reported on a guess, not migrated.
		{"APP_SEED", "q8Zr2LmX9vT4bN7kP1sW6yH3cJ0fD5gA", weak},
		{"APP_SEED", "hello-world-this-is-a-long-plain-value", no},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			got := classify(tc.name, tc.value)
			assert.Check(t, is.Equal(got.verdict, tc.want.verdict), got.reason)
			assert.Check(t, is.Equal(got.embedded, tc.want.embedded), got.reason)
			assert.Check(t, is.Equal(got.weak, tc.want.weak), got.reason)
			if got.verdict != VerdictNotSecret || got.reason != "" {
				assert.Check(t, got.reason != "")
			}
			if tc.value != "" {
				assert.Check(t, !strings.Contains(got.reason, tc.value), "reason quotes the value")
			}
		})
	}
}

func TestNameWords(t *testing.T) {
	for in, want := range map[string][]string{
		"MYSQL_ROOT_PASSWORD":            {"mysql", "root", "password"},
		"database__connection__password": {"database", "connection", "password"},
		"dbPassword":                     {"db", "password"},
		"ServerIPv6":                     {"server", "ipv6"},
		"discovery.seed_hosts":           {"discovery", "seed", "hosts"},
		"TS3SERVER_DB_USER":              {"ts3server", "db", "user"},
		"":                               nil,
	} {
		assert.Check(t, is.DeepEqual(nameWords(in), want), in)
	}
}

func TestBuildkitSecretName(t *testing.T) {
	// The cases of BuildKit's own lint tests (SecretsUsedInArgOrEnv).
	for key, want := range map[string]bool{
		"AWS_SECRET_ACCESS_KEY": true, "SECRET_PASSPHRASE": true, "SUPER_Secret": true,
		"password": true, "github_token": true, "auth": true, "API_KEY": true,
		"MY_PUBLIC_KEY": false, "MY_FILE_TOKEN": false, "PASSWORD_VERSION": false,
		"NODE_ENV": false, "SECRETARY": false, "KEYCLOAK_URL": false,
	} {
		assert.Check(t, is.Equal(buildkitSecretName(key), want), key)
	}
}

func TestURLPassword(t *testing.T) {
	pw, ok := urlPassword("mongodb://root:example@mongo:27017/")
	assert.Check(t, ok)
	assert.Check(t, is.Equal(pw, "example"))
	pw, ok = urlPassword("see http://a/b then redis://:s3cret@cache:6379/0")
	assert.Check(t, ok)
	assert.Check(t, is.Equal(pw, "s3cret"))
	for _, v := range []string{"http://elasticsearch:9200/", "postgres://user@db/x", "user:pass@host", "ws://*:@h", "amqp://u:*@h"} {
		_, ok := urlPassword(v)
		assert.Check(t, !ok, v)
	}
}

func TestNormalizeImage(t *testing.T) {
	for in, want := range map[string]string{
		"postgres":                               "postgres",
		"postgres:16-alpine":                     "postgres",
		"docker.io/library/postgres:16":          "postgres",
		"library/mariadb":                        "mariadb",
		"mcr.microsoft.com/azure-sql-edge:1.0.4": "azure-sql-edge",
		"localhost:5000/team/app:dev":            "team/app",
		"grafana/grafana@sha256:abcdef":          "grafana/grafana",
		"lscr.io/linuxserver/wireguard:latest":   "linuxserver/wireguard",
		"Dpage/PGAdmin4":                         "dpage/pgadmin4",
	} {
		assert.Check(t, is.Equal(NormalizeImage(in), want), in)
	}
}

func TestBuiltinFileSupport(t *testing.T) {
	for _, tc := range []struct {
		image, variable string
		want            FileSupport
		ok              bool
	}{
		{"postgres:16", "POSTGRES_PASSWORD", FileSupport{Variable: "POSTGRES_PASSWORD_FILE", Kind: FileVarPath}, true},
		{"mariadb:10.6", "MYSQL_ROOT_PASSWORD", FileSupport{Variable: "MYSQL_ROOT_PASSWORD_FILE", Kind: FileVarPath}, true},
		{"mariadb", "MARIADB_PASSWORD", FileSupport{Variable: "MARIADB_PASSWORD_FILE", Kind: FileVarPath}, true},
		{"mysql", "MARIADB_PASSWORD", FileSupport{}, false},
		{"wordpress", "WORDPRESS_LOGGED_IN_SALT", FileSupport{Variable: "WORDPRESS_LOGGED_IN_SALT_FILE", Kind: FileVarPath}, true},
		{"grafana/grafana-oss", "GF_SECURITY_ADMIN_PASSWORD", FileSupport{Variable: "GF_SECURITY_ADMIN_PASSWORD__FILE", Kind: FileVarPath}, true},
		{"pihole/pihole:latest", "WEBPASSWORD", FileSupport{Variable: "WEBPASSWORD_FILE", Kind: FileVarName}, true},
		{"gitea/gitea", "GITEA__database__PASSWD", FileSupport{Variable: "GITEA__database__PASSWD__FILE", Kind: FileVarPath}, true},
		{"gitea/gitea", "DB_PASSWD", FileSupport{}, false},
		{"lscr.io/linuxserver/mariadb", "MYSQL_ROOT_PASSWORD", FileSupport{Variable: "FILE__MYSQL_ROOT_PASSWORD", Kind: FileVarPath}, true},
		{"ghost:6-alpine", "database__connection__password", FileSupport{}, false},
		{"mongo-express", "ME_CONFIG_MONGODB_URL", FileSupport{}, false},
		{"bonitasoft/bonita-postgres", "POSTGRES_PASSWORD", FileSupport{}, false},
	} {
		got, ok := BuiltinFileSupport(tc.image, tc.variable)
		assert.Check(t, is.Equal(ok, tc.ok), "%s %s", tc.image, tc.variable)
		if ok {
			tc.want.Source = "built-in"
		}
		assert.Check(t, is.DeepEqual(got, tc.want), "%s %s", tc.image, tc.variable)
	}
}

func TestSecretName(t *testing.T) {
	for in, want := range map[string]string{
		"MYSQL_ROOT_PASSWORD":            "mysql_root_password",
		"database__connection__password": "database_connection_password",
		"ENV.WITH.DOT":                   "env_with_dot",
		"__":                             "secret",
	} {
		assert.Check(t, is.Equal(secretName(in), want), in)
	}
}

func TestTemplateRefs(t *testing.T) {
	for in, want := range map[string][]tmplRef{
		"${POSTGRES_PW}":          {{name: "POSTGRES_PW"}},
		"$PW":                     {{name: "PW"}},
		"pa$$word":                nil,
		"${A:-${B}}":              {{name: "A", op: ":-"}, {name: "B"}},
		"${A?need A}x${B-dflt}":   {{name: "A", op: "?"}, {name: "B", op: "-"}},
		"mysql://u:${PW}@db/${D}": {{name: "PW"}, {name: "D"}},
	} {
		assert.Check(t, is.DeepEqual(show(templateRefs(in)), show(want)), in)
	}
	assert.Check(t, singleRef("${PW}"))
	assert.Check(t, singleRef("${PW:-x}"))
	assert.Check(t, !singleRef("u:${PW}"))
	assert.Check(t, !singleRef("${A}${B}"))
}

func TestScanEnvKeys(t *testing.T) {
	content := "# comment\nexport A=1\n  B = two\nC=\"multi\nline=no\"\nD: yaml-ish\n\nE='x' # c"
	got := scanEnvKeys([]byte(content))
	assert.Check(t, is.DeepEqual(got, map[string]envKey{
		"A": {Line: 2, Column: 10},
		"B": {Line: 3, Column: 7},
		"C": {Line: 4, Column: 3},
		"D": {Line: 6, Column: 4},
		"E": {Line: 8, Column: 3},
	}))
}

func TestScanWords(t *testing.T) {
	known := map[string]bool{"example_123": true, "geonetwork": true, "s3cretpw": true}
	plain := map[string]bool{"geonetwork": true}
	for _, tc := range []struct {
		cmd  string
		want []commandHit
	}{
		{"/opt/mssql-tools/bin/sqlcmd -S localhost -U sa -P example_123 -Q 'SELECT 1'", []commandHit{{value: "example_123", why: "passes a password with -P"}}},
		{"mysqladmin ping -ps3cretpw", []commandHit{{value: "s3cretpw", why: "passes a password with -p"}}},
		{"redis-server --requirepass hunter22", []commandHit{{value: "hunter22", why: "passes a password with --requirepass"}}},
		{"PGPASSWORD=hunter22 psql -h db", []commandHit{{value: "hunter22", why: "sets PGPASSWORD"}}},
		{"mysqladmin ping -p$MYSQL_ROOT_PASSWORD", []commandHit{{ref: "MYSQL_ROOT_PASSWORD", why: "expands $MYSQL_ROOT_PASSWORD in the container"}}},
		{"curl http://admin:hunter22@localhost/health", []commandHit{{value: "hunter22", why: "has a URL with a password"}}},
		{"echo s3cretpw", []commandHit{{value: "s3cretpw", why: "repeats a secret value"}}},
		// A user or database name that equals a weak password is not a copy.
		{"psql -U geonetwork -d geonetwork -c 'select 1'", nil},
		{"--default-authentication-plugin=mysql_native_password", nil},
		{"redis-server -p 6379", nil},
		{"s3cretpw -c config_file=/etc/x.conf", nil}, // the program, not a copy
	} {
		got := scanWords(shellWords(tc.cmd), known, plain)
		assert.Check(t, is.DeepEqual(show(got), show(tc.want)), tc.cmd)
	}
}
