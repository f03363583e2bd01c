// Package yamledit edits compose files and env files in place.
//
// `docker vault migrate` moves secrets out of `environment:` into compose
// `secrets:`. Users' files must survive that: comments, key order, quoting,
// indentation, anchors, aliases and merge keys, flow or block style, CRLF line
// endings, a missing final newline, a byte order mark. Re-serialising a parsed
// document loses all of that, so this package never does: it parses with
// yaml.v3 to find nodes, maps their positions to byte offsets in the original
// file and splices new bytes in, the way docker/compose's
// pkg/compose/transform/replace.go does. Only lines that must change change.
//
// Every edit is applied at once and checked before it is kept: the result is
// parsed again, and what compose reads from it (every service attribute,
// every environment variable, every top-level key) is compared with what it
// read before plus the intended change. An edit that would change anything
// else, or produce a file that does not parse, fails with ErrUnsupported and
// leaves the document as it was. So a later edit sees the earlier ones, and a
// document is never half edited.
//
// Errors name files, lines, columns and keys, never a value.
package yamledit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/docker-vault/docker-vault/internal/composeyaml"
	"go.yaml.in/yaml/v3"
	yamlv4 "go.yaml.in/yaml/v4"
)

var (
	// ErrNotFound is returned when a service, an environment variable or a
	// node an edit needs does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when an edit would contradict what the file
	// already holds, e.g. a top-level secret of that name with other content.
	ErrConflict = errors.New("conflict")
	// ErrUnsupported is returned when a file is written in a way this package
	// cannot edit without changing more than asked (or at all): the file must
	// be edited by hand.
	ErrUnsupported = errors.New("unsupported")
)

// SyntaxError is a YAML syntax error, formatted "file:line:column: message":
// the YAML layer's one type, which compose's loader returns too.
type SyntaxError = composeyaml.SyntaxError

// Doc is one compose file being edited. Edits are applied to its bytes as
// they are made; Bytes returns the current result.
type Doc struct {
	filename string
	orig     []byte
	src      *source
	root     *yaml.Node // the document node of src
	eol      string
	layout   layout
	// v4 is whether compose's own YAML parser (yaml v4) accepted the input:
	// if it did, every result must be accepted too.
	v4 bool
	// done remembers, per service and key, the edits already made, so that
	// repeating one (for each service sharing an anchor) is a no-op.
	done map[string]string
	// batch collects the edits of a Batch; nil outside one.
	batch *batch
	// sharersMemo is sharers() for the tree sharersOf: computing it walks
	// every service, so it is kept until an edit replaces the tree.
	sharersOf   *yaml.Node
	sharersMemo map[*yaml.Node][]string
	// svcIndexOf/svcIndex index the services: mapping of the tree
	// svcIndexOf by name: a file of thousands of services is otherwise
	// scanned once per edit.
	svcIndexOf *yaml.Node
	svcIndex   map[string]*composeyaml.Pair
	// view is the view of root, which the next edit starts from.
	view view
}

// Parse parses a compose file. It accepts one YAML document whose root is a
// mapping, in UTF-8.
func Parse(filename string, data []byte) (*Doc, error) {
	return ParseWith(filename, data, ParseOptions{})
}

// ParseOptions tune ParseWith for a caller that has done part of its work.
type ParseOptions struct {
	// Node is data already decoded by yaml.v3: its document node, which
	// the Doc reads and never changes. Nil means Parse decodes data.
	Node *yaml.Node
	// NoV4Check drops the check that compose's own parser (yaml v4)
	// accepts every edited result, for a caller that loads the result with
	// compose-go before using it. Every other check stays.
	NoV4Check bool
}

// ParseWith is Parse with options.
func ParseWith(filename string, data []byte, o ParseOptions) (*Doc, error) {
	if bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE}) {
		return nil, fmt.Errorf("%s: %w: only UTF-8 files can be edited", filename, ErrUnsupported)
	}
	root := o.Node
	if root == nil {
		var err error
		if root, err = parseYAML(filename, data); err != nil {
			return nil, err
		}
	} else if root.Kind != yaml.DocumentNode {
		return nil, fmt.Errorf("%s: %w: not a document node", filename, ErrUnsupported)
	}
	d := &Doc{
		filename: filename,
		orig:     bytes.Clone(data),
		eol:      detectEOL(data),
		done:     map[string]string{},
	}
	if err := d.load(data, root, nil); err != nil {
		return nil, err
	}
	if !o.NoV4Check {
		var n yamlv4.Node
		d.v4 = yamlv4.Load(data, &n) == nil
	}
	d.layout = detectLayout(d.src, d.root)
	return d, nil
}

// load installs data as the current state of the document; v is its view,
// built here when nil.
func (d *Doc) load(data []byte, root *yaml.Node, v view) error {
	if len(root.Content) == 0 {
		return fmt.Errorf("%s: %w: empty document", d.filename, ErrUnsupported)
	}
	if root.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("%s: %w: the top level is not a mapping", d.filename, ErrUnsupported)
	}
	src := newSource(data)
	if err := src.locate(root); err != nil {
		return fmt.Errorf("%s: %w: %w", d.filename, ErrUnsupported, err)
	}
	if v == nil {
		var err error
		if v, err = buildView(root); err != nil {
			return fmt.Errorf("%s: %w", d.filename, err)
		}
	}
	d.src, d.root, d.view = src, root, v
	return nil
}

// parseYAML parses exactly one document.
func parseYAML(filename string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w: empty document", filename, ErrUnsupported)
		}
		return nil, syntaxError(filename, data, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(filename, data, err)
		}
		return nil, fmt.Errorf("%s:%d:%d: %w: more than one YAML document", filename, next.Line, next.Column, ErrUnsupported)
	}
	// What parses may still not decode: a key written twice, a merge key
	// on something other than mappings, aliases expanding out of bounds.
	// Compose cannot read such a file either.
	var v any
	if err := doc.Decode(&v); err != nil {
		return nil, decodeError(filename, err)
	}
	return &doc, nil
}

var (
	decodeLineRe = regexp.MustCompile(`^line (\d+): ([^\n]*)`)
	// Decode errors that cannot hold a value; others ("cannot decode !!str
	// `...` as a !!int") quote one and are replaced by a generic message.
	safeDecodeRe = regexp.MustCompile(`^(mapping key "[^"\n]*" already defined at line \d+|map merge requires .*|anchor '[^'\n]*' value contains itself|document contains excessive aliasing)$`)
)

func decodeError(filename string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	where := filename
	if m := decodeLineRe.FindStringSubmatch(msg); m != nil {
		where, msg = filename+":"+m[1], m[2]
	}
	if !safeDecodeRe.MatchString(msg) {
		msg = "a value does not match its tag"
	}
	return fmt.Errorf("%s: %w: %s", where, ErrUnsupported, msg)
}

// syntaxError is composeyaml.Locate's error, placed at the byte offset
// yaml v4 gives for an encoding error when no parser named a line.
func syntaxError(filename string, data []byte, err error) error {
	e, f := composeyaml.Locate(filename, data, err)
	if e.Line == 0 && f.Offset >= 0 && f.Offset <= len(data) {
		s := newSource(data)
		l := s.line(f.Offset)
		e.Line, e.Column = l+1, utf8.RuneCount(data[s.starts[l]:max(f.Offset, s.starts[l])])+1
	}
	return e
}

func detectEOL(b []byte) string {
	for i := range b {
		switch b[i] {
		case '\n':
			return "\n"
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				return "\r\n"
			}
			return "\r"
		}
	}
	return "\n"
}

// Bytes returns the document with every edit made so far. It always parses:
// each edit was checked when it was made.
func (d *Doc) Bytes() ([]byte, error) {
	return bytes.Clone(d.src.b), nil
}

// Changed reports whether the edits changed any byte.
func (d *Doc) Changed() bool {
	return !bytes.Equal(d.src.b, d.orig)
}

// Node returns the node that defines the value at a path of mapping keys from
// the document root, e.g. ("services", "db", "environment"). Aliases are
// followed to their anchored node and merge keys (`<<: *x`, `<<: [*a, *b]`)
// are applied the way compose's YAML parser applies them: a key written in
// the mapping wins over merged ones, and earlier merged mappings win over
// later ones. It returns nil when the path does not exist.
func (d *Doc) Node(path ...string) *yaml.Node {
	n := d.root.Content[0]
	for i, key := range path {
		n = deref(n)
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var p *pair
		var err error
		if i == 1 && path[0] == "services" {
			p, err = d.service(n, key) // through the index of services
		} else {
			p, err = lookup(n, key)
		}
		if err != nil || p == nil {
			return nil
		}
		n = p.value
	}
	return deref(n)
}

// splice replaces b[start:end] with text.
type splice struct {
	start, end int
	text       string
}

// apply makes the splices, then checks that the result parses and that what
// compose reads from it is the view before the edit changed by expect.
func (d *Doc) apply(splices []splice, expect func(view)) error {
	if len(splices) == 0 {
		return nil
	}
	if d.batch != nil {
		return d.batch.add(d.filename, "", splices, expect)
	}
	sortSplices(splices)
	var out bytes.Buffer
	prev := 0
	for _, s := range splices {
		if s.start < prev || s.end < s.start {
			return fmt.Errorf("%s: %w: overlapping edits", d.filename, ErrUnsupported)
		}
		out.Write(d.src.b[prev:s.start])
		out.WriteString(s.text)
		prev = s.end
	}
	out.Write(d.src.b[prev:])
	data := out.Bytes()

	before := maps.Clone(d.view)
	expect(before)
	root, err := parseYAML(d.filename, data)
	if err != nil {
		return fmt.Errorf("%s: %w: the edited file would not parse: %w", d.filename, ErrUnsupported, err)
	}
	if d.v4 {
		var n yamlv4.Node
		if err := yamlv4.Load(data, &n); err != nil {
			return fmt.Errorf("%s: %w: compose could not parse the edited file", d.filename, ErrUnsupported)
		}
	}
	after, err := buildView(root)
	if err != nil {
		return fmt.Errorf("%s: %w: the edited file: %w", d.filename, ErrUnsupported, err)
	}
	if diff := before.diff(after); len(diff) > 0 {
		return fmt.Errorf("%s: %w: the edit would also change %s", d.filename, ErrUnsupported, strings.Join(diff, ", "))
	}
	next := &Doc{filename: d.filename}
	if err := next.load(data, root, after); err != nil {
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	d.src, d.root, d.view = next.src, next.root, next.view
	return nil
}

func sortSplices(s []splice) {
	// Insertion sort keeps inserts at the same offset in the order they were
	// made, which is the order their text must appear in.
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].start < s[j-1].start; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// The merge-key walker is composeyaml's, shared with compose's read side;
// these adapters keep this package's short names.

func deref(n *yaml.Node) *yaml.Node { return composeyaml.Deref(n) }

func isMergeKey(n *yaml.Node) bool { return composeyaml.IsMergeKey(n) }

func keyName(k *yaml.Node) string { return composeyaml.KeyName(k) }

var errRecursive = composeyaml.ErrRecursive

// pair is one effective key of a mapping once merge keys are applied.
type pair struct {
	key, value *yaml.Node // value as written: maybe an alias
	holder     *yaml.Node // the mapping that holds the pair: m or a merged one
	// via is the chain of mappings merged in to reach holder, outermost
	// first; empty when holder is the mapping itself.
	via []*yaml.Node
}

func toPair(p composeyaml.Pair) pair {
	return pair{key: p.Key, value: p.Value, holder: p.Holder, via: p.Via}
}

// pairs returns m's effective pairs: its own, then those merged in, each key
// once, with the precedence compose's parser (yaml v4) gives them.
func pairs(m *yaml.Node) ([]pair, error) {
	ps, err := composeyaml.Pairs(m)
	if err != nil {
		return nil, err
	}
	out := make([]pair, len(ps))
	for i, p := range ps {
		out[i] = toPair(p)
	}
	return out, nil
}

// lookup returns the effective pair for key in m, nil if absent.
func lookup(m *yaml.Node, key string) (*pair, error) {
	p, err := composeyaml.Lookup(m, key)
	if err != nil || p == nil {
		return nil, err
	}
	out := toPair(*p)
	return &out, nil
}
