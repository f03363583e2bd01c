package yamledit

import (
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestSetServiceKey(t *testing.T) {
	wrapper := Seq([]string{"/bin/sh", "-c", "V=$$(cat \"/run/secrets/x\"); exec \"$$@\"\\", "sh"}, true)
	cases := []struct {
		name, in, want string
		key            string
		value          *yaml.Node
		err            error
	}{
		{
			name: "added last, block",
			in:   "services:\n  app:\n    image: a # c\n    environment:\n      A: b\n",
			want: "services:\n  app:\n    image: a # c\n    environment:\n      A: b\n    entrypoint: [\"/bin/sh\", \"-c\", \"V=$$(cat \\\"/run/secrets/x\\\"); exec \\\"$$@\\\"\\\\\", \"sh\"]\n",
			key:  "entrypoint", value: wrapper,
		},
		{
			name: "replaced, block list",
			in:   "services:\n  app:\n    entrypoint:\n      - /e.sh\n      - --x\n    image: a\n",
			want: "services:\n  app:\n    entrypoint: [\"a\", \"b c\"]\n    image: a\n",
			key:  "entrypoint", value: Seq([]string{"a", "b c"}, true),
		},
		{
			name: "replaced, shell form string, CRLF",
			in:   "services:\r\n  app:\r\n    command: run --now # keep\r\n    image: a\r\n",
			want: "services:\r\n  app:\r\n    command: [\"run\"] # keep\r\n    image: a\r\n",
			key:  "command", value: Seq([]string{"run"}, true),
		},
		{
			name: "flow service",
			in:   "services:\n  app: {image: a}\n",
			want: "services:\n  app: {image: a, x-vault: {wrapper: {image: \"sha256:1\", variables: {A: a_secret}}}}\n",
			key:  "x-vault", value: Map("wrapper", Map("image", Str("sha256:1", true), "variables", Map("A", "a_secret"))),
		},
		{
			name: "merged key overridden by an own one",
			in:   "x-c: &c\n  command: [x]\nservices:\n  app:\n    <<: *c\n    image: a\n",
			want: "x-c: &c\n  command: [x]\nservices:\n  app:\n    <<: *c\n    image: a\n    command: [\"y\"]\n",
			key:  "command", value: Seq([]string{"y"}, true),
		},
		{
			name: "removed",
			in:   "services:\n  app:\n    command: [\"y\"] # c\n    image: a\n",
			want: "services:\n  app:\n    image: a\n",
			key:  "command",
		},
		{
			name: "removing an absent key",
			in:   "services:\n  app:\n    image: a\n",
			want: "services:\n  app:\n    image: a\n",
			key:  "command",
		},
		{
			name: "anchored value",
			in:   "services:\n  app:\n    command: &c [x]\n  b:\n    command: *c\n",
			key:  "command", value: Seq([]string{"y"}, true), err: ErrUnsupported,
		},
		{
			name: "aliased service",
			in:   "services:\n  app: &a\n    image: a\n  b: *a\n",
			key:  "command", value: Seq([]string{"y"}, true), err: ErrUnsupported,
		},
		{
			name: "no such service",
			in:   "services:\n  app:\n    image: a\n",
			key:  "command", value: Seq([]string{"y"}, true), err: ErrNotFound,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse("compose.yaml", []byte(tc.in))
			assert.NilError(t, err)
			svc := "app"
			if tc.name == "no such service" {
				svc = "nope"
			}
			err = d.SetServiceKey(svc, tc.key, tc.value)
			if tc.err != nil {
				assert.Check(t, errors.Is(err, tc.err), "%v", err)
				b, _ := d.Bytes()
				assert.Check(t, is.Equal(string(b), tc.in))
				return
			}
			assert.NilError(t, err)
			b, _ := d.Bytes()
			assert.Check(t, is.Equal(string(b), tc.want))
			if tc.value != nil {
				// What a parser reads back is the value given.
				var doc struct {
					Services map[string]map[string]any
				}
				assert.NilError(t, yaml.Unmarshal(b, &doc))
				var want any
				assert.NilError(t, tc.value.Decode(&want))
				assert.Check(t, is.DeepEqual(doc.Services["app"][tc.key], want))
			}
		})
	}
}

// TestSetServiceKeyInBatch: in a batch the last value set wins, written
// once.
func TestSetServiceKeyInBatch(t *testing.T) {
	d, err := Parse("compose.yaml", []byte("services:\n  app:\n    image: a\n"))
	assert.NilError(t, err)
	err = d.Batch(func() error {
		if err := d.SetServiceKey("app", "command", Seq([]string{"x"}, true)); err != nil {
			return err
		}
		return d.SetServiceKey("app", "command", Seq([]string{"y"}, true))
	})
	assert.NilError(t, err)
	b, _ := d.Bytes()
	assert.Check(t, is.Equal(string(b), "services:\n  app:\n    image: a\n    command: [\"y\"]\n"))
}
