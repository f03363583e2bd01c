package yamledit

import (
	"errors"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestConvertFileSecret(t *testing.T) {
	for _, tc := range []struct {
		name, kv, in, want string
	}{
		{
			name: "db_password", kv: "db-password",
			in: `services:
  db:
    image: postgres
    secrets: [db_password]
secrets:
  # the database password
  db_password:
    file: ./secrets/db_password   # written by migrate
    labels:
      team: core
  tls:
    file: ./tls.pem
`,
			want: `services:
  db:
    image: postgres
    secrets: [db_password]
secrets:
  # the database password
  db_password:
    external: true   # written by migrate
    x-vault: {name: db-password}
    labels:
      team: core
  tls:
    file: ./tls.pem
`,
		},
		{
			name: "api", kv: "123",
			in:   "secrets:\r\n    api: {file: ./api.txt, name: api_v1}\r\n",
			want: "secrets:\r\n    api: {external: true, x-vault: {name: \"123\"}, name: api_v1}\r\n",
		},
		{
			// An x-vault of its own maps it already: only file: changes.
			name: "smtp", kv: "ignored",
			in:   "secrets:\n  smtp:\n    x-vault: prod-smtp\n    file: secrets/smtp",
			want: "secrets:\n  smtp:\n    x-vault: prod-smtp\n    external: true",
		},
		{
			// x-vault: true maps it to the derived name already.
			name: "on", kv: "on",
			in:   "secrets:\r\n  on:\r\n    file: ./on\r\n    x-vault: true\r\n",
			want: "secrets:\r\n  on:\r\n    external: true\r\n    x-vault: true\r\n",
		},
		{
			name: "crlf", kv: "crlf",
			in:   "secrets:\r\n  crlf:\r\n    file: ./c\r\n    name: c\r\n",
			want: "secrets:\r\n  crlf:\r\n    external: true\r\n    x-vault: {name: crlf}\r\n    name: c\r\n",
		},
		{
			name: "last", kv: "last",
			in:   "secrets:\n  last:\n      file: ./l",
			want: "secrets:\n  last:\n      external: true\n      x-vault: {name: last}",
		},
		{
			name: "multi", kv: "multi",
			in:   "secrets:\n  multi: {\n    \"file\": './m',\n    name: m\n  }\n",
			want: "secrets:\n  multi: {\n    external: true, x-vault: {name: multi},\n    name: m\n  }\n",
		},
		{
			name: "cert", kv: "cert",
			in:   "secrets:\n\tcert:\n\t\tfile: \"./c.pem\"\n",
			want: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse("compose.yaml", []byte(tc.in))
			if tc.want == "" {
				// Tabs do not indent YAML: the file does not parse.
				assert.Check(t, err != nil)
				return
			}
			assert.NilError(t, err)
			assert.NilError(t, d.ConvertFileSecret(tc.name, tc.kv))
			got, _ := d.Bytes()
			assert.Check(t, is.Equal(string(got), tc.want))
			// Converting again is a conflict, not a second edit.
			assert.Check(t, errors.Is(d.ConvertFileSecret(tc.name, tc.kv), ErrConflict))
		})
	}
}

func TestConvertFileSecretRefuses(t *testing.T) {
	for _, tc := range []struct {
		doc, name string
		want      error
	}{
		{"services: {}\n", "x", ErrNotFound},
		{"secrets:\n  y:\n    file: ./y\n", "x", ErrNotFound},
		{"secrets:\n  x:\n    external: true\n", "x", ErrConflict},
		{"secrets:\n  x:\n    file: ./x\n    x-vault: false\n", "x", ErrConflict},
		{"secrets:\n  x:\n    environment: X\n", "x", ErrConflict},
		// Shared definitions stay as they are: editing one edits the others.
		{"x-s: &s\n  file: ./x\nsecrets:\n  x: *s\n  y: *s\n", "x", ErrUnsupported},
		{"x-s: &s\n  file: ./x\nsecrets:\n  x:\n    <<: *s\n", "x", ErrUnsupported},
		{"secrets:\n  x: &d\n    file: ./x\n  y: *d\n", "x", ErrUnsupported},
		// The path is anchored and used elsewhere: removing it would break the alias.
		{"secrets:\n  x:\n    file: &p ./x\n  y:\n    file: *p\n", "x", ErrUnsupported},
		{"secrets:\n  x:\n    file: >-\n      ./x\n", "x", ErrUnsupported},
	} {
		d, err := Parse("compose.yaml", []byte(tc.doc))
		assert.NilError(t, err)
		err = d.ConvertFileSecret(tc.name, "kv")
		assert.Check(t, errors.Is(err, tc.want), "%q: %v", tc.doc, err)
		got, _ := d.Bytes()
		assert.Check(t, is.Equal(string(got), tc.doc))
	}
}

func TestConvertFileSecretToEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name, variable, kv, in, want string
	}{
		{
			// The derived Key Vault name is the right one: no x-vault.
			name: "db_password", variable: "DB_PASSWORD",
			in:   "secrets:\n  # the password\n  db_password:\n    file: ./secrets/db_password   # by migrate\n    labels: {team: core}\n",
			want: "secrets:\n  # the password\n  db_password:\n    environment: DB_PASSWORD   # by migrate\n    labels: {team: core}\n",
		},
		{
			name: "api", variable: "API", kv: "prod-api",
			in:   "secrets:\r\n  api: {file: ./api.txt, name: api_v1}\r\n",
			want: "secrets:\r\n  api: {environment: API, x-vault: {name: prod-api}, name: api_v1}\r\n",
		},
		{
			name: "smtp", variable: "SMTP", kv: "mail",
			in:   "secrets:\n  smtp:\n    file: secrets/smtp\n",
			want: "secrets:\n  smtp:\n    environment: SMTP\n    x-vault: {name: mail}\n",
		},
		{
			// Its own x-vault (with a pinned version) maps it already.
			name: "tls", variable: "TLS", kv: "ignored",
			in:   "secrets:\n  tls:\n    x-vault: {name: cert, version: abc}\n    file: ./tls.pem\n",
			want: "secrets:\n  tls:\n    x-vault: {name: cert, version: abc}\n    environment: TLS\n",
		},
		{
			// A variable YAML reads as a boolean is quoted.
			name: "on", variable: "TRUE",
			in:   "secrets:\n  on:\n    file: ./on\n",
			want: "secrets:\n  on:\n    environment: \"TRUE\"\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse("compose.yaml", []byte(tc.in))
			assert.NilError(t, err)
			assert.NilError(t, d.ConvertFileSecretToEnvironment(tc.name, tc.variable, tc.kv))
			got, _ := d.Bytes()
			assert.Check(t, is.Equal(string(got), tc.want))
			assert.Check(t, errors.Is(d.ConvertFileSecretToEnvironment(tc.name, tc.variable, tc.kv), ErrConflict))
			assert.Check(t, errors.Is(d.ConvertFileSecret(tc.name, "x"), ErrConflict))
		})
	}
}
