package yamledit

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const envSample = `# database
export DB_PASSWORD=hunter2 # inline comment
DB_USER = app
QUOTED='single # not a comment'
DOUBLE="multi
line \"value\""
YAML_STYLE: value
INHERITED
  INDENTED=1
A="x" B=y
EMPTY=
DB_PASSWORD=again
LAST=end`

func TestEnvFileKeys(t *testing.T) {
	e, err := ParseEnvFile(".env", []byte(envSample))
	assert.NilError(t, err)
	assert.DeepEqual(t, e.Keys(), []string{"DB_PASSWORD", "DB_USER", "QUOTED", "DOUBLE", "YAML_STYLE", "INHERITED", "INDENTED", "A", "B", "EMPTY", "LAST"})
}

func TestEnvFileRemove(t *testing.T) {
	for _, tc := range []struct {
		key, want string
	}{
		{"DB_PASSWORD", `# database
DB_USER = app
QUOTED='single # not a comment'
DOUBLE="multi
line \"value\""
YAML_STYLE: value
INHERITED
  INDENTED=1
A="x" B=y
EMPTY=
LAST=end`},
		{"DOUBLE", `# database
export DB_PASSWORD=hunter2 # inline comment
DB_USER = app
QUOTED='single # not a comment'
YAML_STYLE: value
INHERITED
  INDENTED=1
A="x" B=y
EMPTY=
DB_PASSWORD=again
LAST=end`},
		{"B", `# database
export DB_PASSWORD=hunter2 # inline comment
DB_USER = app
QUOTED='single # not a comment'
DOUBLE="multi
line \"value\""
YAML_STYLE: value
INHERITED
  INDENTED=1
A="x" 
EMPTY=
DB_PASSWORD=again
LAST=end`},
		{"A", `# database
export DB_PASSWORD=hunter2 # inline comment
DB_USER = app
QUOTED='single # not a comment'
DOUBLE="multi
line \"value\""
YAML_STYLE: value
INHERITED
  INDENTED=1
B=y
EMPTY=
DB_PASSWORD=again
LAST=end`},
		// The last line goes with the break before it: still no final
		// newline.
		{"LAST", `# database
export DB_PASSWORD=hunter2 # inline comment
DB_USER = app
QUOTED='single # not a comment'
DOUBLE="multi
line \"value\""
YAML_STYLE: value
INHERITED
  INDENTED=1
A="x" B=y
EMPTY=
DB_PASSWORD=again`},
	} {
		e, err := ParseEnvFile(".env", []byte(envSample))
		assert.NilError(t, err)
		assert.Assert(t, e.Remove(tc.key))
		assert.Equal(t, string(e.Bytes()), tc.want)
		checkEnvRemoval(t, []byte(envSample), e.Bytes(), tc.key)
	}
	e, err := ParseEnvFile(".env", []byte(envSample))
	assert.NilError(t, err)
	assert.Assert(t, !e.Remove("NOPE"))
	assert.Equal(t, string(e.Bytes()), envSample)
}

func TestEnvFileCRLFAndBOM(t *testing.T) {
	in := "\uFEFFFIRST=1\r\n# c\r\nSECRET=\"a\r\nb\"\r\nLAST=2\r\n"
	e, err := ParseEnvFile(".env", []byte(in))
	assert.NilError(t, err)
	assert.DeepEqual(t, e.Keys(), []string{"FIRST", "SECRET", "LAST"})
	assert.Assert(t, e.Remove("SECRET"))
	assert.Equal(t, string(e.Bytes()), "\uFEFFFIRST=1\r\n# c\r\nLAST=2\r\n")
	assert.Assert(t, e.Remove("FIRST"))
	assert.Equal(t, string(e.Bytes()), "\uFEFF# c\r\nLAST=2\r\n")
	assert.Assert(t, e.Remove("LAST"))
	assert.Equal(t, string(e.Bytes()), "\uFEFF# c\r\n")
}

func TestEnvFileErrors(t *testing.T) {
	for in, want := range map[string]string{
		"A=1\nB=\"SENTINEL-unterminated\n": ".env:2: unsupported: unterminated quoted value",
		"A=1\nSENT INEL\n":                 ".env:2: variable name cannot contain a space",
		"A=1\nSENTINEL$=x\n":               ".env:2: invalid character in variable name",
		"A=1\nB=${SENTINEL\n":              ".env:2: unsupported: compose cannot read this env file (check quoting and ${...} syntax)",
	} {
		_, err := ParseEnvFile(".env", []byte(in))
		assert.Error(t, err, want)
		assert.Assert(t, !strings.Contains(err.Error(), "SENTINEL"))
	}
	_, err := ParseEnvFile(".env", []byte("A=\"x"))
	assert.Assert(t, errors.Is(err, ErrUnsupported))
}

// LocateEnvError names the line and key compose's parser fails on, and
// nothing of what is written there.
func TestLocateEnvError(t *testing.T) {
	parse := func(b []byte) error {
		_, err := dotenv.ParseWithLookup(bytes.NewReader(b), func(string) (string, bool) { return "", false })
		return err
	}
	for _, tc := range []struct {
		in     string
		line   int
		key    string
		reason string
	}{
		{"A=1\nB=2\nPW=\"SENTINEL\n", 3, "PW", "unterminated quoted value"},
		// A closed multi-line value before the unclosed one.
		{"A=\"x\ny\"\nPW='SENTINEL\nmore\n", 3, "PW", "unterminated quoted value"},
		{"A=1\nSENTINEL!x\n", 2, "", "invalid character in variable name"},
		{"A=1\n\nPW=SENTINEL${x\nB=2\n", 3, "PW", ""},
		{"A=\"multi\nline\"\nB\nPW=\"SENTINEL\n${\"\n", 4, "PW", ""},
		{"export A=1\nPW: ${UNSET:?SENTINEL}\n", 2, "PW", ""},
	} {
		line, key, err, ok := LocateEnvError([]byte(tc.in), parse)
		assert.Assert(t, ok, tc.in)
		assert.Check(t, is.Equal(line, tc.line), tc.in)
		assert.Check(t, is.Equal(key, tc.key), tc.in)
		if tc.reason == "" {
			assert.Check(t, err == nil, tc.in)
		} else {
			var se *EnvSyntaxError
			assert.Assert(t, errors.As(err, &se), tc.in)
			assert.Check(t, is.Equal(se.Reason, tc.reason))
			assert.Check(t, !strings.Contains(err.Error(), "SENTINEL"))
		}
	}
	_, _, _, ok := LocateEnvError([]byte("A=1\nB=2\n"), parse)
	assert.Check(t, !ok, "a file that parses has no error to locate")
}

// checkEnvRemoval checks, with compose's parser, that after is before
// without key, and that every other line is kept byte for byte.
func checkEnvRemoval(t *testing.T, before, after []byte, key string) {
	t.Helper()
	want := composeEnvMap(t, before)
	delete(want, key)
	assert.DeepEqual(t, composeEnvMap(t, after), want)
	_, err := ParseEnvFile("after", after)
	assert.NilError(t, err)
	// Only removals: after is before with some bytes cut out.
	rest := before
	for _, c := range after {
		i := bytes.IndexByte(rest, c)
		assert.Assert(t, i >= 0, "%q is not %q with bytes removed", after, before)
		rest = rest[i+1:]
	}
}

func composeEnvMap(t *testing.T, b []byte) map[string]string {
	t.Helper()
	m, err := dotenv.ParseWithLookup(bytes.NewReader(b), func(string) (string, bool) { return "x", true })
	assert.NilError(t, err)
	return maps.Clone(m)
}

// FuzzEnvFile removes each key of any env file compose can read: the
// result reads as the input without that key.
func FuzzEnvFile(f *testing.F) {
	f.Add([]byte(envSample))
	f.Add([]byte("\uFEFFA=1\r\nB='x\r\ny'\r\n"))
	f.Add([]byte("export A B=1\nC: 'a\\'b' D=\"\\\"\" # c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvFile(".env", data)
		if err != nil {
			return
		}
		for _, k := range e.Keys() {
			e, err := ParseEnvFile(".env", data)
			assert.NilError(t, err)
			assert.Assert(t, e.Remove(k))
			checkEnvRemoval(t, data, e.Bytes(), k)
		}
	})
}
