package yamledit

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
	"gotest.tools/v3/assert"
)

// FuzzEdit edits the first environment entry of any compose-like document:
// each edit either fails and leaves the bytes alone, or gives a document
// that parses and decodes (with plain yaml.v3, independently of this
// package's own check) to the input plus the edit and nothing else.
func FuzzEdit(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("f.yaml", data)
		if err != nil {
			return
		}
		service, ent, ok := firstEntry(d)
		if !ok {
			return
		}
		ops := []op{
			replaceOp(service, ent.Key, ent.Key+"_FILE", "/run/secrets/fuzz"),
			removeOp(service, ent.Key),
			secretOp(service, "fuzz"),
			topOp("fuzz", [2]string{"file", "./fuzz"}),
		}
		// Each edit alone, then all in a row on one document.
		for _, o := range ops {
			d, err := Parse("f.yaml", data)
			assert.NilError(t, err)
			fuzzApply(t, d, o)
		}
		for _, o := range append(ops[2:], ops[0], removeOp(service, ent.Key+"_FILE")) {
			fuzzApply(t, d, o)
		}
	})
}

func firstEntry(d *Doc) (string, EnvEntry, bool) {
	svcs := d.Node("services")
	if svcs == nil || svcs.Kind != yaml.MappingNode {
		return "", EnvEntry{}, false
	}
	for i := 0; i < len(svcs.Content); i += 2 {
		if es := d.EnvEntries(svcs.Content[i].Value); len(es) > 0 {
			return svcs.Content[i].Value, es[0], true
		}
	}
	return "", EnvEntry{}, false
}

func fuzzApply(t *testing.T, d *Doc, o op) {
	t.Helper()
	before, _ := d.Bytes()
	var sharers []string
	for _, e := range d.EnvEntries(o.service) {
		if e.Key == o.key {
			sharers = append(sharers, e.Services...)
		}
	}
	err := o.apply(d)
	after, _ := d.Bytes()
	if err != nil {
		assert.Assert(t, bytes.Equal(before, after), "a failed edit changed the document: %v", err)
		return
	}
	_, err = Parse("out.yaml", after)
	assert.NilError(t, err, "%+v\n%s", o, after)

	want, ok := decodeCompose(before)
	if !ok {
		return
	}
	got, ok := decodeCompose(after)
	assert.Assert(t, ok, "the output does not decode")
	switch o.kind {
	case "replace", "remove":
		for _, s := range sharers {
			svc := want.Services[s]
			delete(svc.Environment, o.key)
			if o.kind == "replace" {
				v := o.value
				svc.Environment[o.newKey] = &v
			}
		}
	case "secret":
		svc := want.Services[o.service]
		if !slices.ContainsFunc(svc.Secrets, func(x any) bool {
			m, isMap := x.(map[string]any)
			return x == o.key || isMap && m["source"] == o.key
		}) {
			svc.Secrets = append(svc.Secrets, o.key)
		}
		want.Services[o.service] = svc
	case "top":
		assert.Assert(t, got.Secrets[o.key] != nil)
		delete(got.Secrets, o.key)
		delete(want.Secrets, o.key)
	}
	for _, c := range []*composeDoc{want, got} {
		for name, s := range c.Services {
			if len(s.Environment) == 0 {
				s.Environment = nil
			}
			c.Services[name] = s
		}
		if len(c.Secrets) == 0 {
			c.Secrets = nil
		}
		for k := range c.Rest {
			if strings.HasPrefix(k, "x-") {
				delete(c.Rest, k)
			}
		}
	}
	assert.DeepEqual(t, want, got, cmpopts.EquateNaNs(), cmpopts.EquateEmpty())
}

// composeDoc is what the fuzz test compares, decoded by yaml.v3 alone.
type composeDoc struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]any            `yaml:"secrets"`
	Rest     map[string]any            `yaml:",inline"`
}

type composeService struct {
	Environment composeEnv     `yaml:"environment"`
	Secrets     []any          `yaml:"secrets"`
	Rest        map[string]any `yaml:",inline"`
}

// composeEnv reads both environment forms into one map, nil for a
// pass-through variable; in a list the last one wins.
type composeEnv map[string]*string

func (e *composeEnv) UnmarshalYAML(n *yaml.Node) error {
	*e = composeEnv{}
	if n.Kind == yaml.SequenceNode {
		var items []*string
		if err := n.Decode(&items); err != nil {
			return err
		}
		for _, it := range items {
			if it == nil {
				continue
			}
			k, v, ok := strings.Cut(*it, "=")
			if ok {
				(*e)[k] = &v
			} else {
				(*e)[k] = nil
			}
		}
		return nil
	}
	m := map[string]*string{}
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		(*e)[k] = v
	}
	return nil
}

func decodeCompose(b []byte) (*composeDoc, bool) {
	var c composeDoc
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, false
	}
	return &c, true
}

// FuzzEditEntry puts arbitrary text where an environment entry is written,
// in each form and context, so the edits meet every way YAML can write a
// scalar (quoting, escapes, folding, block scalars, anchors, tags,
// comments) far more often than byte mutations of whole files do.
// entryForms are ways to write an environment entry.
var entryForms = []string{
	`KEY: value`, `KEY: "a\"b\\"`, `KEY: 'it''s'`, "KEY: |\n        l1\n\n        l2\n", "KEY: >-\n        f1\n        f2",
	"KEY: |2\n         x\n        y", "KEY: |+\n        keep\n\n", "KEY: \"multi\n        line\"", "KEY: plain\n        continued",
	`KEY: &a v`, `KEY: !!str 12`, "KEY: # c\n        on-next-line", `"KEY": v # comment`, `KEY:`, `KEY: ~`,
	"? KEY\n      : v", `KEY: a:b`, `KEY: [a]`, `KEY: {a: b}`, "KEY: \"\\\n        x\"", `KEY: "\u2028"`, "KEY", "KEY: \"\" # c",
	"- KEY=value", "- 'KEY=v'", `- "KEY=\t"`, "- KEY", "- &i KEY=v", "-   KEY=v # c", "- KEY=a\n        b", "- KEY=",
}

// entryDoc puts an entry into a compose file, in one of five layouts.
func entryDoc(layout uint8, entry string) string {
	list := strings.HasPrefix(entry, "-")
	switch layout % 5 {
	case 0: // block, between other keys
		other := "OTHER: x"
		if list {
			other = "- OTHER=x"
		}
		return "services:\n  app:\n    image: app\n    environment:\n      " + entry + "\n      " + other + "\n    restart: always\n"
	case 1: // the last line, without a final newline
		return "services:\n  app:\n    image: app\n    environment:\n      " + entry
	case 2: // flow
		if list {
			return "services:\n  app: {image: app, environment: [" + strings.TrimPrefix(entry, "-") + ", OTHER=x]}\n"
		}
		return "services:\n  app: {image: app, environment: {" + entry + ", OTHER: x}}\n"
	case 3: // CRLF
		return strings.ReplaceAll("services:\n  app:\n    image: app\n    environment:\n      "+entry+"\n", "\n", "\r\n")
	default: // shared through an anchor
		return "services:\n  base:\n    image: base\n    environment: &env\n      " + entry + "\n  app:\n    image: app\n    environment: *env\n"
	}
}

// TestEntryForms checks that the edits work on every entry form, in every
// layout, so that FuzzEditEntry (where failing cleanly is fine) is not
// vacuous: only the combinations named here may fail.
func TestEntryForms(t *testing.T) {
	for _, entry := range entryForms {
		for layout := range uint8(5) {
			doc := entryDoc(layout, entry)
			// Block scalars and comments cannot be written in a flow
			// mapping, nor a key without a colon in a block one.
			invalid := layout == 2 || entry == "KEY"
			d, err := Parse("f.yaml", []byte(doc))
			if err != nil {
				assert.Assert(t, invalid, "%q: %v", doc, err)
				continue
			}
			service, ent, ok := firstEntry(d)
			if !ok {
				assert.Assert(t, invalid, "%q", doc)
				continue
			}
			scalar := !strings.HasPrefix(entry, "KEY: [") && !strings.HasPrefix(entry, "KEY: {")
			for _, o := range []op{
				replaceOp(service, ent.Key, ent.Key+"_FILE", "/run/secrets/x"),
				replaceOp(service, ent.Key, ent.Key, "new\nvalue 'with' \"quotes\" # and: more"),
				removeOp(service, ent.Key),
			} {
				d, err := Parse("f.yaml", []byte(doc))
				assert.NilError(t, err)
				err = o.apply(d)
				switch {
				case !scalar && o.kind == "replace":
					assert.ErrorIs(t, err, ErrUnsupported)
				case strings.HasPrefix(entry, "?") && o.kind == "remove" && layout != 2:
					assert.ErrorIs(t, err, ErrUnsupported)
				default:
					assert.NilError(t, err, "%+v on %q", o, doc)
				}
				fuzzApply(t, reparse(t, []byte(doc)), o)
			}
		}
	}
}

// FuzzEditEntry puts arbitrary text where an environment entry is written,
// in each layout, so the edits meet every way YAML can write a scalar
// (quoting, escapes, folding, block scalars, anchors, tags, comments) far
// more often than byte mutations of whole files do.
func FuzzEditEntry(f *testing.F) {
	for _, s := range entryForms {
		for layout := range uint8(5) {
			f.Add(layout, s)
		}
	}
	f.Fuzz(func(t *testing.T, layout uint8, entry string) {
		doc := entryDoc(layout, entry)
		d, err := Parse("f.yaml", []byte(doc))
		if err != nil {
			return
		}
		service, ent, ok := firstEntry(d)
		if !ok {
			return
		}
		for _, o := range []op{
			replaceOp(service, ent.Key, ent.Key+"_FILE", "/run/secrets/fuzz"),
			replaceOp(service, ent.Key, ent.Key, "new\nvalue 'with' \"quotes\" # and: more"),
			removeOp(service, ent.Key),
			secretOp(service, "fuzz"),
			topOp("fuzz", [2]string{"file", "./fuzz"}),
		} {
			d, err := Parse("f.yaml", []byte(doc))
			assert.NilError(t, err)
			fuzzApply(t, d, o)
		}
	})
}
