package compose

import (
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	yaml "go.yaml.in/yaml/v3"
)

// Where an error of compose-go belongs: the key path it names, looked up
// in the files' YAML, or, for a message that names no key, the place the
// value it quotes is written.

// failsInterpolation: n is a string compose-go cannot interpolate with f's
// environment.
func (x *explainer) failsInterpolation(f *File, n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode || !strings.Contains(n.Value, "$") {
		return false
	}
	_, err := template.Substitute(n.Value, f.env.Resolve)
	return err != nil
}

// at returns a LoadError placed where key (a compose-go key path:
// services.web.environment.PW, ports.[], ports.0) is written: in file when
// it is not "", else in the first file that has it, preferring a value
// match accepts. The place is the value when it is a scalar (where an
// interpolation or a conversion failed), else its key.
func (x *explainer) at(key, file string, match func(*File, *yaml.Node) bool) *LoadError {
	f, h := x.find(key, file, match)
	if f == nil {
		return &LoadError{}
	}
	n := h.key
	if h.value != nil && h.value.Kind == yaml.ScalarNode {
		n = h.value
	}
	return &LoadError{File: f.Path, Line: n.Line, Column: n.Column}
}

// atKey is at, placed on the key: for a key that is not allowed, or whose
// value has the wrong shape.
func (x *explainer) atKey(key, file string) *LoadError {
	f, h := x.find(key, file, nil)
	if f == nil {
		return &LoadError{}
	}
	return &LoadError{File: f.Path, Line: h.key.Line, Column: h.key.Column}
}

func (x *explainer) node(key string, match func(*File, *yaml.Node) bool) *yaml.Node {
	_, h := x.find(key, "", match)
	return h.value
}

func (x *explainer) find(key, file string, match func(*File, *yaml.Node) bool) (*File, hit) {
	if key == "" {
		return nil, hit{}
	}
	segs := strings.Split(key, ".")
	var firstF *File
	var first hit
	for _, f := range x.files {
		if file != "" && f.Path != file {
			continue
		}
		for _, d := range f.Docs {
			if d == nil || len(d.Content) == 0 {
				continue
			}
			var hits []hit
			walkKey(d.Content[0], segs, &hits)
			for _, h := range hits {
				if match == nil || (h.value != nil && match(f, h.value)) {
					return f, h
				}
				if firstF == nil {
					firstF, first = f, h
				}
			}
		}
	}
	if firstF == nil && file != "" {
		return x.find(key, "", match)
	}
	return firstF, first
}

// hit is a node found at a key path: the key (or list item) and its value.
type hit struct{ key, value *yaml.Node }

// walkKey collects the nodes at segs below n. Mapping keys may hold dots,
// so the longest key that matches is tried first; "[]" is any list item,
// "N" or "[N]" the Nth.
func walkKey(n *yaml.Node, segs []string, hits *[]hit) {
	n, _ = deref(n)
	if n == nil || len(segs) == 0 {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		pairs := mapPairs(n, false)
		for j := len(segs); j >= 1; j-- {
			k := strings.Join(segs[:j], ".")
			for _, p := range pairs {
				if p.key.Value != k {
					continue
				}
				if j == len(segs) {
					v, _ := deref(p.value)
					*hits = append(*hits, hit{key: p.key, value: v})
					continue
				}
				walkKey(p.value, segs[j:], hits)
			}
		}
	case yaml.SequenceNode:
		s := segs[0]
		for i, item := range n.Content {
			if s != "[]" && s != strconv.Itoa(i) && s != "["+strconv.Itoa(i)+"]" {
				continue
			}
			if len(segs) == 1 {
				v, _ := deref(item)
				*hits = append(*hits, hit{key: item, value: v})
				continue
			}
			walkKey(item, segs[1:], hits)
		}
	}
}

// tainted returns what the project's files hold as values (4 bytes or
// more), which a message of compose-go not known here must not contain.
func (x *explainer) tainted() []string {
	x.readValues()
	return x.taint
}

// readValues gathers the values of the compose files (scalars that are
// not keys) and of the env files, and where each compose value is written.
func (x *explainer) readValues() {
	if x.taint != nil {
		return
	}
	x.taint = []string{}
	x.written = map[string]Position{}
	var walk func(f *File, n *yaml.Node)
	walk = func(f *File, n *yaml.Node) {
		switch n.Kind {
		case yaml.ScalarNode:
			if len(n.Value) >= 4 {
				x.taint = append(x.taint, n.Value)
				if _, ok := x.written[n.Value]; !ok {
					x.written[n.Value] = nodePos(f, n)
				}
			}
		case yaml.MappingNode:
			for i := 1; i < len(n.Content); i += 2 {
				walk(f, n.Content[i])
			}
		default:
			for _, c := range n.Content {
				walk(f, c)
			}
		}
	}
	for _, f := range x.files {
		for _, d := range f.Docs {
			if d != nil {
				walk(f, d)
			}
		}
	}
	for _, ef := range x.envFiles {
		for _, v := range ef.values {
			if len(v) >= 4 {
				x.taint = append(x.taint, v)
			}
		}
	}
}

// placeByValue places e where the value msg quotes is written, for a
// message of compose-go that names no key ("invalid containerPort: X"):
// the longest value of the compose files msg holds whole. The message
// itself is never kept.
func (x *explainer) placeByValue(e *LoadError, msg string) {
	x.readValues()
	best := ""
	for v := range x.written {
		if len(v) > len(best) && strings.Contains(msg, v) {
			best = v
		}
	}
	if best != "" {
		pos := x.written[best]
		e.File, e.Line, e.Column = pos.File, pos.Line, pos.Column
	}
}
