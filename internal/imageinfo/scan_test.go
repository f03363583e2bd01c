package imageinfo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func readScript(t testing.TB, name string) Script {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "scripts", name))
	assert.NilError(t, err)
	return Script{Path: "/" + name, Text: string(b)}
}

func fileVars(names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m[n] = n + "_FILE"
	}
	return m
}

func TestScanOfficialImages(t *testing.T) {
	tests := []struct {
		script string
		vars   map[string]string
		rules  []Rule
	}{
		{
			script: "postgres-docker-entrypoint.sh",
			// Not XYZ_DB_PASSWORD (a comment) nor NOT_A_VARIABLE (a here-document).
			vars: fileVars("POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_INITDB_ARGS"),
		},
		{
			script: "mariadb-docker-entrypoint.sh",
			// _mariadb_file_env passes its $1 on to file_env.
			vars: fileVars("MYSQL_ROOT_HOST", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD",
				"MYSQL_ROOT_PASSWORD", "MARIADB_PASSWORD_HASH", "MARIADB_ROOT_PASSWORD_HASH"),
		},
		{
			script: "mongo-docker-entrypoint.sh",
			vars:   fileVars("MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"),
		},
		{
			script: "wordpress-old-docker-entrypoint.sh",
			// A for loop over an array, one entry of which is another array with a prefix.
			vars: fileVars("WORDPRESS_DB_HOST", "WORDPRESS_DB_USER", "WORDPRESS_DB_PASSWORD", "WORDPRESS_DB_NAME",
				"WORDPRESS_AUTH_KEY", "WORDPRESS_SECURE_AUTH_KEY", "WORDPRESS_LOGGED_IN_KEY", "WORDPRESS_NONCE_KEY",
				"WORDPRESS_TABLE_PREFIX"),
		},
		{
			script: "nextcloud-entrypoint.sh",
			vars: fileVars("REDIS_HOST_PASSWORD", "NEXTCLOUD_ADMIN_PASSWORD", "NEXTCLOUD_ADMIN_USER",
				"MYSQL_DATABASE", "MYSQL_PASSWORD", "MYSQL_USER", "POSTGRES_DB", "POSTGRES_PASSWORD", "POSTGRES_USER"),
		},
		{
			script: "wp-config-docker.php",
			vars: fileVars("WORDPRESS_DB_NAME", "WORDPRESS_DB_USER", "WORDPRESS_DB_PASSWORD", "WORDPRESS_DB_HOST",
				"WORDPRESS_AUTH_KEY", "WORDPRESS_NONCE_SALT", "WORDPRESS_TABLE_PREFIX"),
		},
		{
			// The current entrypoint reads nothing itself: it names the PHP file that does.
			script: "wordpress-docker-entrypoint.sh",
		},
		{
			script: "custom-env-secret.sh",
			// Another name, "${1}_FILE" through eval, calls after ; and &&, a for loop, and a direct read.
			vars: fileVars("API_TOKEN", "SMTP_PASS", "DEBUG_KEY", "DB_PASSWORD", "REDIS_PASSWORD", "SESSION_SECRET"),
		},
		{
			script: "grafana-run.sh",
			rules:  []Rule{{Prefix: "GF_", Suffix: "__FILE"}},
		},
		{
			script: "linuxserver-init-envfile-run",
			rules:  []Rule{{FilePrefix: "FILE__"}},
		},
		{
			script: "linuxserver-01-envfile",
			rules:  []Rule{{FilePrefix: "FILE__"}},
		},
		{
			script: "gitea-setup.sh",
			rules:  []Rule{{Prefix: "GITEA__", Suffix: "__FILE"}},
		},
		{
			script: "generic-env-loop.sh",
			rules:  []Rule{{Prefix: "APP_", Suffix: "_FILE"}},
		},
		{
			// Comments, a script's own *_FILE variables, a function that never
			// reads the file, loops that do not read or are excluded by grep -v,
			// names built at run time, here-documents and here-strings.
			script: "negatives.sh",
		},
	}
	for _, tc := range tests {
		t.Run(tc.script, func(t *testing.T) {
			s := readScript(t, tc.script)
			c := Scan(s)
			if len(tc.vars) == 0 {
				assert.Check(t, is.Len(c.Vars, 0), "%v", c.Vars)
			} else {
				assert.Check(t, is.DeepEqual(c.Vars, tc.vars))
			}
			assert.Check(t, is.DeepEqual(c.Rules, tc.rules))
			assert.Check(t, is.DeepEqual(c.Scripts, []string{s.Path}))
		})
	}
}

func TestScanFileVariable(t *testing.T) {
	c := Scan(readScript(t, "grafana-run.sh"), readScript(t, "postgres-docker-entrypoint.sh"), readScript(t, "linuxserver-init-envfile-run"))
	for variable, want := range map[string]string{
		"GF_SECURITY_ADMIN_PASSWORD": "GF_SECURITY_ADMIN_PASSWORD__FILE",
		"POSTGRES_PASSWORD":          "POSTGRES_PASSWORD_FILE",
		"OTHER":                      "FILE__OTHER",
	} {
		got, ok := c.FileVariable(variable)
		assert.Check(t, ok, variable)
		assert.Check(t, is.Equal(got, want))
	}
	c = Scan(readScript(t, "grafana-run.sh"))
	_, ok := c.FileVariable("POSTGRES_PASSWORD")
	assert.Check(t, !ok, "grafana's rule covers GF_* only")
}

// A function defined in one script (a library the entrypoint sources) and
// called from another is understood.
func TestScanAcrossScripts(t *testing.T) {
	lib := Script{Path: "/usr/local/lib/env.sh", Text: `
load_secret() {
	local name="${1}"
	local file_var="${name}_FILE"
	if [ -n "${!file_var:-}" ]; then
		printf -v "$name" '%s' "$(cat "${!file_var}")"
		export "$name"
	fi
}
`}
	main := Script{Path: "/entrypoint.sh", Text: `#!/bin/bash
. /usr/local/lib/env.sh
if [ "$1" = serve ]; then load_secret OIDC_CLIENT_SECRET; fi
exec "$@"
`}
	c := Scan(main, lib)
	assert.Check(t, is.DeepEqual(c.Vars, fileVars("OIDC_CLIENT_SECRET")))
	// Without the library, the call names nothing known.
	assert.Check(t, is.Len(Scan(main).Vars, 0))
}

func TestScanEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		text string
		vars map[string]string
	}{
		{
			name: "one-line function",
			text: "secret() { local v=\"$1\"; f=\"${v}_FILE\"; [ -n \"$(eval echo \\$$f)\" ] && export \"$v\"=\"$(cat \"$(eval echo \\$$f)\")\"; }\nsecret TOKEN\n",
			vars: fileVars("TOKEN"),
		},
		{
			name: "function keyword and a double-underscore suffix",
			text: "function from_file {\n  local var=$1\n  local f=\"${var}__FILE\"\n  [ -n \"${!f}\" ] && export \"$var\"=\"$(< \"${!f}\")\"\n}\nfrom_file 'APP_KEY'\n",
			vars: map[string]string{"APP_KEY": "APP_KEY__FILE"},
		},
		{
			name: "a name built at run time is not claimed",
			text: "file_env() {\n\tlocal var=\"$1\"\n\tlocal fileVar=\"${var}_FILE\"\n\tval=\"$(< \"${!fileVar}\")\"\n}\nfile_env \"MYSQL_${x}\"\nfile_env \"$(echo A)\"\nfor v in $(cat list); do file_env \"$v\"; done\n",
		},
		{
			name: "a call inside an unrelated loop is not claimed",
			text: "file_env() {\n\tlocal var=\"$1\"\n\tlocal fileVar=\"${var}_FILE\"\n\tval=\"$(< \"${!fileVar}\")\"\n}\nfor x in A B; do\n\tfile_env \"$y\"\ndone\n",
		},
		{
			name: "a loop spread over continued lines",
			text: "file_env() {\n\tlocal var=\"$1\"\n\tlocal fileVar=\"${var}_FILE\"\n\tval=\"$(< \"${!fileVar}\")\"\n}\nfor v in \\\n\tREDMINE_DB_PASSWORD \\\n\tREDMINE_SECRET_KEY_BASE \\\n; do\n\tfile_env \"$v\"\ndone\n",
			vars: fileVars("REDMINE_DB_PASSWORD", "REDMINE_SECRET_KEY_BASE"),
		},
		{
			name: "read from the file variable",
			text: "if [ -n \"${DB_PASS_FILE:-}\" ]; then\n  read -r DB_PASS < \"$DB_PASS_FILE\"\nfi\n",
			vars: fileVars("DB_PASS"),
		},
		{
			name: "a call after an ANSI-C string holding a quote, and after a multi-line awk program",
			text: "file_env() {\n\tlocal var=\"$1\"\n\tlocal fileVar=\"${var}_FILE\"\n\tval=\"$(< \"${!fileVar}\")\"\n}\nmsg=$'it\\'s'\nawk '\n/x/ { print \"a\" }\n' f\nfile_env 'AFTER'\n",
			vars: fileVars("AFTER"),
		},
		{
			name: "CRLF line endings",
			text: "file_env() {\r\n\tlocal var=\"$1\"\r\n\tlocal fileVar=\"${var}_FILE\"\r\n\tval=\"$(< \"${!fileVar}\")\"\r\n}\r\nfile_env 'X_PASSWORD'\r\n",
			vars: fileVars("X_PASSWORD"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Scan(Script{Path: "/e.sh", Text: tc.text})
			if len(tc.vars) == 0 {
				assert.Check(t, is.Len(c.Vars, 0), "%v", c.Vars)
			} else {
				assert.Check(t, is.DeepEqual(c.Vars, tc.vars))
			}
			assert.Check(t, is.Len(c.Rules, 0))
		})
	}
}

func TestReferences(t *testing.T) {
	text := `#!/bin/sh
set -e
. /lib/a.sh
source "/lib/b.sh"
/usr/local/bin/c.sh start
bash /opt/d.sh --flag
exec tini -- docker-entrypoint.sh "$@"
gosu app /usr/bin/e.sh
for f in /docker-entrypoint.d/*.sh; do . "$f"; done
sh -c '/not/this.sh'
echo /not/an/argument.sh > /dev/null
. "$HOME/.profile"
. /lib/a.sh
cat /proc/1/environ
`
	assert.Check(t, is.DeepEqual(References(text), []string{
		"/lib/a.sh", "/lib/b.sh", "/usr/local/bin/c.sh", "/opt/d.sh", "docker-entrypoint.sh", "/usr/bin/e.sh",
	}))
	assert.Check(t, is.DeepEqual(References(readScript(t, "wordpress-docker-entrypoint.sh").Text),
		[]string{"/usr/src/wordpress/wp-config-docker.php"}))
	assert.Check(t, is.DeepEqual(References(readScript(t, "generic-env-loop.sh").Text),
		[]string{"/usr/local/lib/app/helpers.sh", "/usr/local/bin/app"}))
}

func TestScanNoFalsePositives(t *testing.T) {
	for name, text := range map[string]string{
		"names read from a file, not the environment": `#!/bin/sh
for v in $(grep -oE '^[A-Z_]+_FILE' /app/defaults.env); do
	export "${v%_FILE}"="$(cat "$(eval echo \$$v)")"
done
`,
		"calls inside multi-line strings and ANSI-C quotes": `#!/bin/bash
file_env() {
	local var="$1"; local fileVar="${var}_FILE"
	export "$var"="$(< "${!fileVar}")"
}
msg=$'it\'s a "quote"'
awk '
file_env IN_AWK
/put your phrase/ { print }
' /etc/x.conf
echo "usage:
file_env IN_ECHO
"
`,
		"a python entrypoint": `#!/usr/bin/env python3
import os
def file_env(name):
    path = os.environ.get(name + "_FILE")
    return open(path).read() if path else os.environ.get(name)
for name in ["DB_PASSWORD"]:
    file_env(name)
`,
		"a file function called with a computed name": `#!/bin/bash
file_env() {
	local var="$1"; local fileVar="${var}_FILE"
	export "$var"="$(< "${!fileVar}")"
}
for db in mysql postgres; do
	file_env "${db^^}_PASSWORD"
done
name=SECRET
file_env $name
`,
		"a _FILE variable that only names a file to write": `#!/bin/sh
: "${PID_FILE:=/run/app.pid}"
echo $$ > "$PID_FILE"
LOG=$(cat "$LOG_FILE_PATH")
`,
		"env listed with arguments": `#!/bin/sh
for f in $(env -i HOME=/root sh -c 'echo A_FILE' | grep '_FILE$'); do
	echo "$f"
done
`,
	} {
		t.Run(name, func(t *testing.T) {
			c := Scan(Script{Path: "/e", Text: text})
			assert.Check(t, is.Len(c.Vars, 0), "%v", c.Vars)
			assert.Check(t, is.Len(c.Rules, 0), "%v", c.Rules)
		})
	}
}

func TestScanEnvLoopForms(t *testing.T) {
	for text, want := range map[string]Rule{
		// No prefix: every VAR_FILE.
		"for n in $(printenv | grep -oE '^[A-Z0-9_]+_FILE=' | sed 's/_FILE=$//'); do\n  export \"$n\"=\"$(cat \"$(printenv \"${n}_FILE\")\")\"\ndone\n": {Suffix: "_FILE"},
		// compgen, a double-underscore suffix and a prefix.
		// A sed filter with a group around the name.
		"for name in $(env | sed -n 's/^\\([A-Z][A-Z0-9_]*\\)__FILE=.*/\\1/p'); do\n  value=\"$(cat \"$(printenv \"${name}__FILE\")\")\"\n  export \"$name=$value\"\ndone\n": {Suffix: "__FILE"},
		"for name in $(env | sed -n \"s|^(APP_[A-Z_]*)_FILE=.*|\\1|p\"); do\n  export \"$name=$(cat \"$(printenv \"${name}_FILE\")\")\"\ndone\n":                             {Prefix: "APP_", Suffix: "_FILE"},
		"for v in $(compgen -A variable | grep '^MM_.*__FILE$'); do\n  eval \"${v%__FILE}=\\\"\\$(cat \\\"\\${$v}\\\")\\\"\"\ndone\n":                                        {Prefix: "MM_", Suffix: "__FILE"},
	} {
		c := Scan(Script{Path: "/e", Text: text})
		assert.Check(t, is.DeepEqual(c.Rules, []Rule{want}), text)
	}
}

// BenchmarkScanScaling measures that Scan is linear in its input: scripts
// of up to 1 MiB are read, and shapes that would be quadratic (a function
// never closed, loops never done, a quote never closed) must stay linear.
// It reports the time for 16x the input as a ratio (linear: about 16-40x,
// the regexp package switching to a slower matcher for long inputs;
// quadratic: 256x). A benchmark, not a test: time is never asserted.
func BenchmarkScanScaling(b *testing.B) {
	pg := readScript(b, "postgres-docker-entrypoint.sh").Text
	shapes := map[string]func(n int) string{
		"official script":   func(n int) string { return strings.Repeat(pg, n/len(pg)) },
		"unclosed function": func(n int) string { return "f() {\n" + strings.Repeat("echo a b c d e f g h i j k\n", n/28) },
		"loops never done":  func(n int) string { return strings.Repeat("for x in a b; do file_env \"$x\"\n", n/32) },
		"unclosed quote":    func(n int) string { return strings.Repeat("'\n", n/2) },
		"php": func(n int) string {
			return "<?php\n" + strings.Repeat("function f($e) { return file_get_contents(getenv($e . '_FILE')); }\nf('X');\n", n/80)
		},
	}
	for name, gen := range shapes {
		b.Run(name, func(b *testing.B) {
			small, large := gen(32<<10), gen(512<<10)
			var ds, dl time.Duration
			for b.Loop() {
				start := time.Now()
				Scan(Script{Path: "/s", Text: small})
				References(small)
				ds += time.Since(start)
				start = time.Now()
				Scan(Script{Path: "/s", Text: large})
				References(large)
				dl += time.Since(start)
			}
			b.ReportMetric(float64(dl)/float64(ds), "x-time-for-16x-input")
		})
	}
}
