package yamledit

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
)

const runSecrets = "/run/secrets/"

// goldenCases edit testdata/NAME.in.yaml; the result is testdata/NAME.want.yaml
// (go test ./yamledit -update regenerates them: read the diff).
var goldenCases = []struct {
	name string
	ops  []op
}{
	{"comments", []op{
		replaceOp("db", "POSTGRES_PASSWORD", "POSTGRES_PASSWORD_FILE", runSecrets+"db_password"),
		secretOp("db", "db_password"),
		topOp("db_password", [2]string{"file", "./secrets/db_password"}),
	}},
	{"anchors", []op{
		// DB_PASSWORD lives in &common-env, shared by all four services:
		// edited once, the later calls are no-ops.
		replaceOp("api", "DB_PASSWORD", "DB_PASSWORD_FILE", runSecrets+"db_password"),
		replaceOp("worker", "DB_PASSWORD", "DB_PASSWORD_FILE", runSecrets+"db_password"),
		replaceOp("cron", "DB_PASSWORD", "DB_PASSWORD_FILE", runSecrets+"db_password"),
		replaceOp("admin", "DB_PASSWORD", "DB_PASSWORD_FILE", runSecrets+"db_password"),
		replaceOp("admin", "ADMIN_TOKEN", "ADMIN_TOKEN_FILE", runSecrets+"admin_token"),
		secretOp("api", "db_password"),
		secretOp("worker", "db_password"),
		secretOp("cron", "db_password"),
		secretOp("admin", "db_password"),
		secretOp("admin", "admin_token"),
		topOp("db_password", [2]string{"external", "true"}, [2]string{"x-vault", "name: db-password"}),
		topOp("admin_token", [2]string{"file", "./secrets/admin_token"}),
	}},
	{"list-env", []op{
		replaceOp("app", "PLAIN_PASSWORD", "PLAIN_PASSWORD_FILE", runSecrets+"plain"),
		replaceOp("app", "SINGLE_PASSWORD", "SINGLE_PASSWORD_FILE", runSecrets+"single"),
		replaceOp("app", "DOUBLE_PASSWORD", "DOUBLE_PASSWORD_FILE", runSecrets+"double"),
		removeOp("app", "PASS_THROUGH"),
		removeOp("app", "EMPTY"),
		removeOp("solo", "ONLY_SECRET"),
		removeOp("last", "LAST_SECRET"),
		secretOp("app", "plain"),
		secretOp("solo", "only_secret"),
		secretOp("last", "last_secret"),
		topOp("plain", [2]string{"file", "./secrets/plain"}),
		topOp("only_secret", [2]string{"file", "./secrets/only_secret"}),
		topOp("last_secret", [2]string{"file", "./secrets/last_secret"}),
	}},
	{"quoted", []op{
		replaceOp("app", "PLAIN", "PLAIN_FILE", runSecrets+"plain"),
		replaceOp("app", "SINGLE", "SINGLE_FILE", "it's quoted"),
		replaceOp("app", "DOUBLE", "DOUBLE_FILE", "tab\tand \"quote\""),
		replaceOp("app", "NUMBER", "NUMBER", "007"),
		replaceOp("app", "EMPTY", "EMPTY_FILE", runSecrets+"empty"),
		replaceOp("app", "NULL_VALUE", "NULL_VALUE_FILE", runSecrets+"null"),
		replaceOp("app", "LITERAL", "LITERAL_FILE", runSecrets+"literal"),
		replaceOp("app", "FOLDED", "FOLDED_FILE", runSecrets+"folded"),
		replaceOp("app", "MULTI", "MULTI_FILE", "two\nlines"),
		replaceOp("app", "USES_ALIAS", "USES_ALIAS_FILE", runSecrets+"alias"),
		replaceOp("app", "ALIASED", "ALIASED_FILE", runSecrets+"aliased"),
	}},
	{"crlf", []op{
		replaceOp("db", "MYSQL_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD_FILE", runSecrets+"mysql_root_password"),
		removeOp("db", "MYSQL_PASSWORD"),
		replaceOp("wp", "WORDPRESS_DB_PASSWORD", "WORDPRESS_DB_PASSWORD_FILE", runSecrets+"wp_password"),
		secretOp("db", "mysql_root_password"),
		secretOp("wp", "wp_password"),
		topOp("mysql_root_password", [2]string{"file", "./secrets/mysql_root_password"}),
		topOp("wp_password", [2]string{"file", "./secrets/wp_password"}),
	}},
	{"no-final-newline", []op{
		replaceOp("app", "API_KEY", "API_KEY_FILE", runSecrets+"api_key"),
		removeOp("app", "MODE"),
		secretOp("app", "api_key"),
		topOp("api_key", [2]string{"file", "./secrets/api_key"}),
	}},
	{"flow", []op{
		replaceOp("a", "A_PASSWORD", "A_PASSWORD_FILE", runSecrets+"a_password"),
		removeOp("a", "A_USER"),
		replaceOp("a", "A_TOKEN", "A_TOKEN_FILE", runSecrets+"a token"),
		secretOp("a", "a_password"),
		replaceOp("b", "B_PASSWORD", "B_PASSWORD_FILE", runSecrets+"b_password"),
		removeOp("b", "B_MODE"),
		secretOp("b", "b_password"),
		replaceOp("c", "C_PASSWORD", "C_PASSWORD_FILE", runSecrets+"c_password"),
		secretOp("c", "c_password"),
		topOp("a_password", [2]string{"file", "./secrets/a_password"}, [2]string{"x-vault", "name: a-password\nversion: v1"}),
		topOp("b_password", [2]string{"external", "true"}),
		topOp("c_password", [2]string{"file", Quote("./secrets/c password")}),
	}},
	{"indentless", []op{
		replaceOp("app", "APP_SECRET", "APP_SECRET_FILE", runSecrets+"app_secret"),
		secretOp("app", "app_secret"),
		topOp("app_secret", [2]string{"file", "./secrets/app_secret"}),
	}},
	{"indent4", []op{
		replaceOp("app", "APP_SECRET", "APP_SECRET_FILE", runSecrets+"app_secret"),
		secretOp("app", "app_secret"),
		topOp("app_secret", [2]string{"external", "true"}, [2]string{"x-vault", "name: app-secret\nversion: abc"}),
	}},
	{"existing-secrets", []op{
		replaceOp("app", "DB_PASSWORD", "DB_PASSWORD_FILE", runSecrets+"db_password"),
		secretOp("app", "db_password"),
		topOp("db_password", [2]string{"file", "./secrets/db_password"}), // already there: no-op
		replaceOp("app", "API_KEY", "API_KEY_FILE", runSecrets+"api_key"),
		secretOp("app", "api_key"),
		secretOp("app", "other_secret"), // listed: no-op
		secretOp("app", "old_secret"),   // listed in long syntax: no-op
		topOp("api_key", [2]string{"file", "./secrets/api_key"}),
	}},
	{"x-extensions", []op{
		replaceOp("app", "SECRET_KEY", "SECRET_KEY_FILE", runSecrets+"secret_key"),
		secretOp("app", "secret_key"),
		topOp("secret_key", [2]string{"external", "true"}, [2]string{"x-vault", "name: secret-key\nversion: \"0123\""}),
	}},
	{"document-start", []op{
		replaceOp("app", "TOKEN", "TOKEN_FILE", runSecrets+"token"),
		secretOp("app", "token"),
		topOp("token", [2]string{"file", "./secrets/token"}),
	}},
	{"bom", []op{
		replaceOp("app", "TOKEN", "TOKEN_FILE", runSecrets+"token"),
		replaceOp("app", "CAFÉ", "CAFÉ_FILE", runSecrets+"café"),
		secretOp("app", "token"),
		topOp("token", [2]string{"file", "./secrets/token"}),
	}},
	{"remove-all", []op{
		removeOp("keyed", "ONLY"),
		removeOp("anchored", "SHARED_SECRET"),
		removeOp("withmerge", "SHARED_SECRET"), // gone with the anchor: no-op
		removeOp("lonely", "LONE"),
		removeOp("withmerge", "OWN"),
	}},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			in := golden.Get(t, tc.name+".in.yaml")
			d, err := Parse(tc.name+".in.yaml", in)
			assert.NilError(t, err)
			e := run(t, d, tc.ops)
			out, err := d.Bytes()
			assert.NilError(t, err)
			assert.Assert(t, d.Changed())
			assertGolden(t, out, tc.name+".want.yaml")

			reparse(t, out)
			assert.Assert(t, checkCompose(t, t.TempDir(), "compose.yaml", in, out, e))
			checkLineEndings(t, in, out)

			// A second run of the same edits changes nothing.
			again, err := Parse("again.yaml", out)
			assert.NilError(t, err)
			for _, o := range tc.ops {
				if o.kind == "remove" {
					continue // the key is gone: ErrNotFound on a fresh Doc
				}
				if o.kind == "replace" {
					o.key = o.newKey
				}
				assert.NilError(t, o.apply(again), "%+v", o)
			}
			assert.Assert(t, !again.Changed())
		})
	}
}

// checkLineEndings checks that a CRLF file stays CRLF and that a file
// without a final newline still has none.
func checkLineEndings(t *testing.T, in, out []byte) {
	t.Helper()
	if strings.Contains(string(in), "\r\n") {
		assert.Equal(t, strings.Count(string(out), "\n"), strings.Count(string(out), "\r\n"), "LF without CR in a CRLF file")
	}
	assert.Equal(t, strings.HasSuffix(string(out), "\n"), strings.HasSuffix(string(in), "\n"), "final newline")
}
