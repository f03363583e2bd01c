package compose

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// loadErrorCases are projects that fail to load with V, standing for a
// secret value, where compose-go, its dotenv parser or a conversion quote
// the input; want is the error, with $D for the project folder. Each was a
// message that printed V before the loader's errors went through explain.
var loadErrorCases = []struct {
	name  string
	files map[string]string
	want  string
}{
	{"env unterminated quote", map[string]string{".env": "A=1\nB=2\nPW=\"V\n"},
		`$D/.env:3: unterminated quote in the value of PW`},
	{"env unterminated after a multi-line value", map[string]string{".env": "A=\"x\ny\"\nPW='V\n"},
		`$D/.env:3: unterminated quote in the value of PW`},
	{"env bad variable name", map[string]string{".env": "A=1\nV!x\n"},
		`$D/.env:2: invalid character in a variable name`},
	{"env invalid template", map[string]string{".env": "A=1\n\nPW=V${x\n"},
		`$D/.env:3: invalid interpolation format in the value of PW: "${" must be followed by a variable name and "}" (write "$$" for a literal "$")`},
	{"env required variable", map[string]string{".env": "A=1\nPW=V${x:?set x first}\n"},
		`$D/.env:2: required variable x is missing a value (in the value of PW): set x first`},
	{"env required variable, message interpolated", map[string]string{".env": "A=V\nPW=${x:?${A}}\n"},
		`$D/.env:2: required variable x is missing a value (in the value of PW)`},
	{"env_file invalid template", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    env_file: [x.env]\n", "x.env": "PW=V${x\n"},
		`$D/x.env:1: invalid interpolation format in the value of PW: "${" must be followed by a variable name and "}" (write "$$" for a literal "$")`},
	{"interpolation", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    environment:\n      PW: \"V${def\"\n"},
		`$D/compose.yaml:5:11: invalid interpolation format for services.web.environment.PW: "${" must be followed by a variable name and "}" (write "$$" for a literal "$")`},
	{"interpolation in a list, twice", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    environment:\n      - A=1\n      - PW=V${def\n      - B=V${\n"},
		`$D/compose.yaml:6:9: invalid interpolation format for services.web.environment.[]: "${" must be followed by a variable name and "}" (write "$$" for a literal "$") (and 1 more)`},
	{"interpolation cast", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    privileged: \"V${X:-}\"\n"},
		`$D/compose.yaml:4:17: services.web.privileged is not a valid boolean`},
	{"number", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    cpus: V\n"},
		`$D/compose.yaml:4:11: services.web.cpus is not a valid number`},
	{"duration", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    healthcheck:\n      interval: V\n"},
		`$D/compose.yaml:5:17: services.web.healthcheck.interval is not a valid duration`},
	{"size", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    mem_limit: V\n"},
		`$D/compose.yaml:4:16: services.web.mem_limit is not a valid number`},
	{"port", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    ports: [\"V\"]\n"},
		`$D/compose.yaml:4:13: invalid containerPort`},
	{"extra host", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    extra_hosts: [\"V\"]\n"},
		`$D/compose.yaml:4:5: services.web.extra_hosts invalid additional host, missing IP`},
	{"device", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    devices: [\"V:a:b:c\"]\n"},
		`$D/compose.yaml:4:15: confusing device mapping, please use long syntax`},
	{"schema pattern", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    pull_policy: V\n"},
		`$D/compose.yaml:4:5: services.web.pull_policy does not match the pattern '^(always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+)$'`},
	{"include not a list", map[string]string{"compose.yaml": "include: V\n"},
		`$D/compose.yaml:1:10: include must be a list`},
	{"duplicate key", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    environment:\n      PW: V\n      PW: V\n"},
		`$D/compose.yaml:6: mapping key defined twice (first at line 5)`},
	{"YAML", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    environment:\n      PW: \"V\n"},
		`$D/compose.yaml:6:1: found unexpected end of stream (while scanning a quoted scalar that starts at line 5, column 11)`},
	{"YAML flow sequence", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    environment:\n      PW: [V\n"},
		`$D/compose.yaml:6:1: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 5, column 11)`},
	{"unquoted alias", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    environment:\n      PW: *V\n"},
		`$D/compose.yaml:5:11: unknown anchor referenced (quote a value that starts with "*")`},
	{"include env file", map[string]string{"compose.yaml": "include:\n  - path: inc.yaml\n    env_file: inc.env\nservices:\n  web:\n    image: busybox\n", "inc.yaml": "services:\n  x:\n    image: busybox\n", "inc.env": "A=1\nPW=\"V\n"},
		`$D/inc.env:2: unterminated quote in the value of PW`},
	{"include YAML", map[string]string{"compose.yaml": "include:\n  - inc.yaml\nservices:\n  web:\n    image: busybox\n", "inc.yaml": "services:\n  x:\n    image: busybox\n    environment:\n      PW: \"V\n"},
		`$D/inc.yaml:6:1: found unexpected end of stream (while scanning a quoted scalar that starts at line 5, column 11)`},
	{"include interpolation", map[string]string{"compose.yaml": "include:\n  - inc.yaml\nservices:\n  web:\n    image: busybox\n", "inc.yaml": "services:\n  x:\n    image: busybox\n    environment:\n      PW: \"V${\"\n"},
		`$D/inc.yaml:5:11: invalid interpolation format for services.x.environment.PW: "${" must be followed by a variable name and "}" (write "$$" for a literal "$")`},
	{"extends interpolation", map[string]string{"compose.yaml": "services:\n  web:\n    extends: {file: base.yaml, service: b}\n", "base.yaml": "services:\n  b:\n    image: busybox\n    environment:\n      PW: \"V${\"\n"},
		`$D/base.yaml:5:11: invalid interpolation format for services.b.environment.PW: "${" must be followed by a variable name and "}" (write "$$" for a literal "$")`},
	{"remote include", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    environment:\n      PW: V\ninclude:\n  - https://user:tok@example.com/x/compose.yaml\n"},
		`$D/compose.yaml:7:5: remote include https://example.com/… is not supported: docker vault reads local files only (download the file and include the copy)`},
	// compose-go's words, where they name only keys and services.
	{"service reference", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    environment:\n      PW: V\n    secrets: [missing]\n"},
		`failed to load compose project: service "web" refers to undefined secret missing: invalid compose project`},
	{"schema type", map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    environment: {PW: [V]}\n"},
		`$D/compose.yaml:4:19: services.web.environment.PW must be a boolean, null, number or string`},
}

func writeFiles(t *testing.T, files map[string]string, value string) string {
	t.Helper()
	dir := t.TempDir()
	if _, ok := files["compose.yaml"]; !ok {
		files["compose.yaml"] = "services:\n  web:\n    image: busybox\n"
	}
	for name, content := range files {
		assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(strings.ReplaceAll(content, "V", value)), 0o600))
	}
	return dir
}

func TestLoadErrorsNameThePlaceNotTheValue(t *testing.T) {
	const value = "S3cret-Val"
	for _, tc := range loadErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files, value)
			_, err := Load(context.Background(), LoadOptions{WorkingDir: dir, Environ: []string{}})
			assert.Assert(t, err != nil)
			assert.Check(t, is.Equal(err.Error(), strings.ReplaceAll(tc.want, "$D", dir)))
			assert.Check(t, !strings.Contains(err.Error(), "S3cret"), "the error quotes the value")
		})
	}
}

// The same projects with values of every shape: no error holds one, nor a
// line of one.
func TestLoadErrorsHoldNoValue(t *testing.T) {
	values := []string{
		`p@ss<&>"'$\w0rd`,
		"Zx9!Qq\tTab",
		"ünïcødé-Päss-🔑",
		"line-one-AAAA\nline-two-BBBB",
		`back\slash-and-'quote-CCCC`,
		"*star-first-DDDD",
		"dollar-$$-{brace}-EEEE",
	}
	for _, v := range values {
		for _, tc := range loadErrorCases {
			files := map[string]string{}
			for k, c := range tc.files {
				files[k] = c
			}
			dir := writeFiles(t, files, v)
			_, err := Load(context.Background(), LoadOptions{WorkingDir: dir, Environ: []string{}})
			if err == nil {
				continue
			}
			for _, part := range append([]string{v}, strings.Split(v, "\n")...) {
				assert.Check(t, !strings.Contains(err.Error(), part), "%s with %q: %v", tc.name, v, err)
			}
		}
	}
}

func TestLoadErrorKeepsTheCondition(t *testing.T) {
	dir := writeFiles(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: busybox\n    secrets: [missing]\n"}, "")
	_, err := Load(context.Background(), LoadOptions{WorkingDir: dir, Environ: []string{}})
	var le *LoadError
	assert.Assert(t, errors.As(err, &le), "%T", err)
	assert.Check(t, errors.Is(err, errdefs.ErrInvalid))
}

// Check, the proof a rewrite still loads, explains its errors the same way.
func TestCheckErrorHoldsNoValue(t *testing.T) {
	dir := writeFiles(t, map[string]string{".env": "PW=ok\n"}, "")
	p, err := Load(context.Background(), LoadOptions{WorkingDir: dir, Environ: []string{}})
	assert.NilError(t, err)
	const value = "S3cret-Val"
	err = Check(context.Background(), p, map[string][]byte{
		filepath.Join(dir, "compose.yaml"): []byte("services:\n  web:\n    image: busybox\n    environment:\n      PW: \"" + value + "${\"\n"),
	})
	assert.Check(t, is.Error(err, dir+`/compose.yaml:5:11: invalid interpolation format for services.web.environment.PW: "${" must be followed by a variable name and "}" (write "$$" for a literal "$")`))
	err = Check(context.Background(), p, map[string][]byte{filepath.Join(dir, ".env"): []byte("PW=\"" + value + "\n")})
	assert.Check(t, is.Error(err, dir+`/.env:1: unterminated quote in the value of PW`))

	// An included file is proven on its own.
	dir = writeFiles(t, map[string]string{
		"compose.yaml": "include: [inc.yaml]\nservices:\n  web:\n    image: busybox\n",
		"inc.yaml":     "services:\n  x:\n    image: busybox\n",
	}, "")
	p, err = Load(context.Background(), LoadOptions{WorkingDir: dir, Environ: []string{}})
	assert.NilError(t, err)
	inc := filepath.Join(dir, "inc.yaml")
	err = Check(context.Background(), p, map[string][]byte{inc: []byte("services:\n  x:\n    image: busybox\n    cpus: " + value + "\n")})
	assert.Check(t, is.Error(err, inc+" no longer loads: "+inc+`:4:11: services.x.cpus is not a valid number`))
}

func TestSafeReason(t *testing.T) {
	for in, want := range map[string]string{
		"invalid containerPort: S3cret":                                         "invalid containerPort",
		"bad host name 'S3cret'":                                                "bad host name",
		"expected volume, got S3cret":                                           "expected volume",
		"invalid value S3cret, expected key=value":                              "invalid value",
		"unsupported expose value S3cret":                                       "unsupported expose value",
		`invalid ssh key "S3cret"`:                                              "invalid ssh key",
		"S3cret is what it is":                                                  "is not valid",
		"strconv.ParseInt: parsing \"S3\": invalid syntax":                      "is not a valid number",
		"expected type 'int', got unconvertible type 'string', value: 'S3cret'": "must be a int, not a string",
		"unexpected type int":                                                   "unexpected type int",
	} {
		assert.Check(t, is.Equal(safeReason(in, []string{"S3cret is what"}), want), in)
	}
}

// A file that cannot be read is named once, not again by the
// *fs.PathError under it.
func TestReadErrorNamesTheFileOnce(t *testing.T) {
	dir := writeFiles(t, map[string]string{}, "")
	assert.NilError(t, os.Mkdir(filepath.Join(dir, "prod.env"), 0o700))
	_, err := Load(context.Background(), LoadOptions{WorkingDir: dir, EnvFiles: []string{"prod.env"}, Environ: []string{}})
	assert.Check(t, is.Error(err, "failed to read env file "+filepath.Join(dir, "prod.env")+": is a directory"))
}
