package yamledit

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		is       error
	}{
		{in: "services:\n  a:\n    image: x\n   bad: y\n", want: "c.yaml:4:4: did not find expected key"},
		{in: "services:\n  a: [1, 2\n", want: "c.yaml:3:1: did not find expected ',' or ']'"},
		{in: "a: b\n\tc: d\n", want: "c.yaml:2:1: found a tab character that violates indentation"},
		{in: "a: *nope\n", want: "c.yaml:1:4: unknown anchor 'nope' referenced"},
		{in: "a: b\n  c: d\n", want: "c.yaml:2:4: mapping values are not allowed in this context"},
		{in: "a: \x01\n", want: "c.yaml:1:4: control characters are not allowed"},
		{in: "a: 1\n---\nb: 2\n", want: "c.yaml:2:1: unsupported: more than one YAML document", is: ErrUnsupported},
		{in: "# only a comment\n", want: "c.yaml: unsupported: empty document", is: ErrUnsupported},
		{in: "- a\n", want: "c.yaml: unsupported: the top level is not a mapping", is: ErrUnsupported},
		{in: "\xff\xfea\x00:\x00", want: "c.yaml: unsupported: only UTF-8 files can be edited", is: ErrUnsupported},
		{in: "a: &a [*a]\n", want: "c.yaml: unsupported: anchor 'a' value contains itself", is: ErrUnsupported},
		{in: "a: &a {<<: *a}\n", want: "c.yaml: unsupported: anchor 'a' value contains itself", is: ErrUnsupported},
		{in: "a: 1\nb:\n  c: x\n  c: SENTINEL\n", want: `c.yaml:4: unsupported: mapping key "c" already defined at line 3`, is: ErrUnsupported},
		{in: "a: !!int SENTINEL\n", want: "c.yaml: unsupported: a value does not match its tag", is: ErrUnsupported},
		{in: "a: {b: 1}\nc: {<<: [1]}\n", want: "c.yaml: unsupported: map merge requires map or sequence of maps as the value", is: ErrUnsupported},
	} {
		_, err := Parse("c.yaml", []byte(tc.in))
		assert.Error(t, err, tc.want, "%q", tc.in)
		assert.Assert(t, !strings.Contains(err.Error(), "SENTINEL"))
		if tc.is != nil {
			assert.Assert(t, errors.Is(err, tc.is))
		}
	}
	_, err := Parse("c.yaml", []byte("a: [\n"))
	var se *SyntaxError
	assert.Assert(t, errors.As(err, &se))
	assert.Equal(t, se.Line, 2)
}

const nodeDoc = `x-base: &base
  image: base
  environment: &env
    A: a
x-more: &more
  image: more
  restart: always
services:
  one:
    <<: [*base, *more]
    command: run
  two: &two
    <<: *base
    image: own
  three: *two
`

func TestNode(t *testing.T) {
	d, err := Parse("c.yaml", []byte(nodeDoc))
	assert.NilError(t, err)
	// Written keys win over merged ones; earlier merged mappings over later.
	assert.Equal(t, d.Node("services", "one", "image").Value, "base")
	assert.Equal(t, d.Node("services", "one", "restart").Value, "always")
	assert.Equal(t, d.Node("services", "one", "command").Value, "run")
	assert.Equal(t, d.Node("services", "two", "image").Value, "own")
	assert.Equal(t, d.Node("services", "three", "image").Value, "own")
	// An aliased value resolves to the anchored node that defines it.
	env := d.Node("services", "one", "environment")
	assert.Equal(t, env.Anchor, "env")
	assert.Equal(t, env, d.Node("x-base", "environment"))
	assert.Equal(t, d.Node("services", "three"), d.Node("services", "two"))
	assert.Assert(t, d.Node("services", "four") == nil)
	assert.Assert(t, d.Node("services", "one", "image", "deeper") == nil)
	assert.Equal(t, d.Node().Kind, yaml.MappingNode)
}

func TestEnvEntries(t *testing.T) {
	in := `x-common: &common
  environment: &env
    SHARED: "s"
    PASS:
services:
  a:
    <<: *common
  b:
    <<: *common
  c:
    environment:
      - LIST=v=w # comment
      - BARE
      - &item ITEM=i
      - 'EMPTY='
  d:
    environment:
      - *item
      - OWN=o
  e:
    environment:
      <<: *env
      Y: &pw y
      X: *pw
`
	d, err := Parse("c.yaml", []byte(in))
	assert.NilError(t, err)

	a := d.EnvEntries("a")
	assert.Equal(t, len(a), 2)
	assert.DeepEqual(t, a[0], EnvEntry{
		Key: "SHARED", Value: "s", HasValue: true, Raw: `"s"`, Form: MapForm, Style: yaml.DoubleQuotedStyle,
		Line: 3, Column: 5, Anchor: "env", Services: []string{"a", "b", "e"},
	})
	assert.Assert(t, a[0].Shared())
	assert.Equal(t, a[1].Key, "PASS")
	assert.Assert(t, !a[1].HasValue)

	c := d.EnvEntries("c")
	assert.DeepEqual(t, c, []EnvEntry{
		{Key: "LIST", Value: "v=w", HasValue: true, Raw: "LIST=v=w", Form: ListForm, Line: 12, Column: 9, Services: []string{"c"}},
		{Key: "BARE", Raw: "BARE", Form: ListForm, Line: 13, Column: 9, Services: []string{"c"}},
		{Key: "ITEM", Value: "i", HasValue: true, Raw: "&item ITEM=i", Form: ListForm, Line: 14, Column: 9, Anchor: "item", Services: []string{"c", "d"}},
		{Key: "EMPTY", HasValue: true, Raw: "'EMPTY='", Form: ListForm, Style: yaml.SingleQuotedStyle, Line: 15, Column: 9, Services: []string{"c"}},
	})
	assert.Assert(t, !c[0].Shared())

	dd := d.EnvEntries("d")
	assert.Equal(t, dd[0].Key, "ITEM")
	assert.Equal(t, dd[0].Anchor, "item")

	e := d.EnvEntries("e")
	var keys []string
	for _, ent := range e {
		keys = append(keys, ent.Key)
	}
	assert.DeepEqual(t, keys, []string{"Y", "X", "SHARED", "PASS"})
	assert.Equal(t, e[1].ValueAlias, "pw")
	assert.Equal(t, e[1].Value, "y")
	assert.Equal(t, e[1].Anchor, "")

	assert.Assert(t, is.Len(d.EnvEntries("nope"), 0))
}

func TestEditErrors(t *testing.T) {
	in := `services:
  a:
    image: a
    environment:
      PW: SENTINEL-VALUE-1
      PW_FILE: /run/secrets/pw
      ALIASED: &v SENTINEL-VALUE-2
      BIN: !!binary U0VOVElORUw=
      ON_LINE: {K: SENTINEL-VALUE-3}
  c: &c
    image: c
    secrets: &s [x]
  b:
    image: b
    environment:
      OTHER: *v
    secrets: *s
  d: *c
secrets:
  pw:
    file: ./SENTINEL-VALUE-4
`
	d, err := Parse("c.yaml", []byte(in))
	assert.NilError(t, err)
	for _, tc := range []struct {
		err  error
		is   error
		want string
	}{
		{d.ReplaceEnv("a", "MISSING", "MISSING_FILE", "x"), ErrNotFound, "c.yaml: service \"a\": not found: environment variable MISSING"},
		{d.ReplaceEnv("zz", "PW", "PW_FILE", "x"), ErrNotFound, "c.yaml: not found: no service \"zz\""},
		{d.ReplaceEnv("a", "PW", "PW_FILE", "x"), ErrConflict, "c.yaml: service \"a\": conflict: environment variable PW_FILE is already set"},
		{d.ReplaceEnv("a", "ALIASED", "ALIASED_FILE", "x"), ErrUnsupported, "c.yaml:7:16: service \"a\": environment variable ALIASED: unsupported: the value is anchored (&v) and used elsewhere through an alias"},
		{d.ReplaceEnv("a", "BIN", "BIN_FILE", "x"), ErrUnsupported, "c.yaml:8:12: service \"a\": environment variable BIN: unsupported: the value has the tag !!binary"},
		{d.ReplaceEnv("a", "PW", "BAD=NAME", "x"), ErrUnsupported, "c.yaml: service \"a\": unsupported: invalid variable name \"BAD=NAME\""},
		{d.ReplaceEnv("a", "PW", "PW2", "\xff"), ErrUnsupported, "c.yaml:5:11: service \"a\": environment variable PW: unsupported: a value that is not valid UTF-8 cannot be written in YAML"},
		{d.RemoveEnv("a", "MISSING"), ErrNotFound, "c.yaml: service \"a\": not found: environment variable MISSING"},
		{d.AddServiceSecret("b", "x"), ErrUnsupported, "c.yaml:14:5: service \"b\": unsupported: secrets: comes through an alias or merge key"},
		{d.AddServiceSecret("d", "y"), ErrUnsupported, "c.yaml: service \"d\": unsupported: the service is defined through an alias or merge key"},
		{d.AddServiceSecret("zz", "y"), ErrNotFound, "c.yaml: not found: no service \"zz\""},
		{d.AddTopLevelSecret("pw", [][2]string{{"file", "./other"}}), ErrConflict, "c.yaml: top-level secret pw: conflict: already defined with other content"},
		{d.AddTopLevelSecret("new", [][2]string{{"file", "[unclosed"}}), ErrUnsupported, "c.yaml: top-level secret new: unsupported: the fields are not valid YAML"},
		{d.AddTopLevelSecret("new", [][2]string{{"file", "x\nother: y"}}), ErrUnsupported, "c.yaml: top-level secret new: unsupported: the fields are not valid YAML"},
	} {
		assert.Assert(t, errors.Is(tc.err, tc.is), "%v", tc.err)
		assert.Error(t, tc.err, tc.want)
		assert.Assert(t, !strings.Contains(tc.err.Error(), "SENTINEL"), tc.err)
	}
	// The edit that would change service b through the shared anchored
	// service c is refused by the check after the edit.
	err = d.AddServiceSecret("c", "z")
	assert.Assert(t, errors.Is(err, ErrUnsupported), "%v", err)
	assert.ErrorContains(t, err, "secrets: is anchored (&s) and shared through an alias")
	assert.Assert(t, !d.Changed())
}

// An edit whose effect reaches further than asked is refused and leaves the
// document as it was.
func TestEditRefusedWhenItWouldChangeMore(t *testing.T) {
	in := `x-base: &base
  PW: SENTINEL-BASE
services:
  a:
    image: a
    environment:
      <<: *base
      PW: SENTINEL-OWN
`
	d, err := Parse("c.yaml", []byte(in))
	assert.NilError(t, err)
	// Renaming a's own PW would let the merged one through.
	err = d.ReplaceEnv("a", "PW", "PW_FILE", "/run/secrets/pw")
	assert.Assert(t, errors.Is(err, ErrUnsupported), "%v", err)
	assert.Error(t, err, `service "a": environment variable PW: c.yaml: unsupported: the edit would also change services/a/environment/PW`)
	assert.Assert(t, !d.Changed())
	out, _ := d.Bytes()
	assert.Equal(t, string(out), in)
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"./secrets/db_password": "./secrets/db_password",
		"db-password":           "db-password",
		"true":                  `"true"`,
		"007":                   `"007"`,
		"1e3":                   `"1e3"`,
		"null":                  `"null"`,
		"":                      `""`,
		"a b":                   `"a b"`,
		"it's":                  `"it's"`,
		"-x":                    `"-x"`,
		"a: b":                  `"a: b"`,
		"café":                  "café",
		"tab\there\n\"\\":       `"tab\there\n\"\\"`,
		"\u2028\x7f\ufeff":      `"\u2028\x7F\uFEFF"`,
	} {
		assert.Equal(t, Quote(in), want)
		var got string
		assert.NilError(t, yaml.Unmarshal([]byte("v: "+Quote(in)), &struct{ V *string }{&got}))
		assert.Equal(t, got, in)
	}
}

func TestSharedEditOnce(t *testing.T) {
	in := `x-env: &env
  PW: SENTINEL
services:
  a:
    image: a
    environment: *env
  b:
    image: b
    environment: *env
`
	d, err := Parse("c.yaml", []byte(in))
	assert.NilError(t, err)
	assert.NilError(t, d.ReplaceEnv("a", "PW", "PW_FILE", "/run/secrets/pw"))
	out, _ := d.Bytes()
	assert.NilError(t, d.ReplaceEnv("b", "PW", "PW_FILE", "/run/secrets/pw"))
	again, _ := d.Bytes()
	assert.Equal(t, string(again), string(out))
	assert.Equal(t, string(out), strings.Replace(in, "PW: SENTINEL", "PW_FILE: /run/secrets/pw", 1))

	err = d.ReplaceEnv("b", "PW", "PW_FILE", "/run/secrets/other")
	assert.Assert(t, errors.Is(err, ErrConflict), "%v", err)
	err = d.RemoveEnv("b", "PW")
	assert.Assert(t, errors.Is(err, ErrConflict), "%v", err)

	assert.NilError(t, d.RemoveEnv("b", "PW_FILE"))
	assert.NilError(t, d.RemoveEnv("a", "PW_FILE"))
	out, _ = d.Bytes()
	assert.Equal(t, string(out), strings.Replace(in, "x-env: &env\n  PW: SENTINEL\n", "x-env: &env {}\n", 1))
}
