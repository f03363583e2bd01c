package yamledit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// view is what compose reads from a document, flattened to paths: every
// top-level key, every attribute of every service, every environment variable
// of every service (after anchors and merge keys), every top-level secret.
// Values are digests, except environment values, which are kept as they are
// so an edit can state the value it expects. Only paths appear in errors.
//
// Top-level x- keys are only checked for presence: they are where shared
// anchors usually live, and an edit to a shared entry changes them by design;
// its effect is checked where compose sees it, in the services.
type view map[string]string

const sep = "/"

func buildView(doc *yaml.Node) (view, error) {
	v := view{}
	dg := digester{memo: map[*yaml.Node]string{}, visiting: map[*yaml.Node]bool{}}
	root := doc.Content[0]
	top, err := pairs(root)
	if err != nil {
		return nil, err
	}
	for _, p := range top {
		name := keyName(p.key)
		val := deref(p.value)
		switch {
		case strings.HasPrefix(name, "x-"):
			v[name] = "present"
		case name == "services" && val != nil && val.Kind == yaml.MappingNode:
			svcs, err := pairs(val)
			if err != nil {
				return nil, err
			}
			for _, sp := range svcs {
				if err := v.addService(&dg, keyName(sp.key), deref(sp.value)); err != nil {
					return nil, err
				}
			}
		case name == "secrets" && val != nil && val.Kind == yaml.MappingNode:
			defs, err := pairs(val)
			if err != nil {
				return nil, err
			}
			for _, dp := range defs {
				if v["secrets"+sep+keyName(dp.key)], err = dg.digest(dp.value); err != nil {
					return nil, err
				}
			}
		case name == "secrets" && isNull(val):
		default:
			if v[name], err = dg.digest(p.value); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

func (v view) addService(dg *digester, name string, svc *yaml.Node) error {
	prefix := "services" + sep + name
	if svc == nil || svc.Kind != yaml.MappingNode {
		d, err := dg.digest(svc)
		v[prefix] = d
		return err
	}
	attrs, err := pairs(svc)
	if err != nil {
		return err
	}
	for _, a := range attrs {
		key := keyName(a.key)
		val := deref(a.value)
		switch {
		case key == "environment" && val != nil && (val.Kind == yaml.MappingNode || val.Kind == yaml.SequenceNode):
			occ, err := envOccurrences(val)
			if err != nil {
				return err
			}
			for _, o := range occ {
				v[prefix+sep+"environment"+sep+o.key] = o.viewValue()
			}
		case key == "environment" && isNull(val):
		case key == "secrets" && val != nil && val.Kind == yaml.SequenceNode:
			var items []string
			for _, it := range val.Content {
				d, err := dg.digest(it)
				if err != nil {
					return err
				}
				items = append(items, d)
			}
			if len(items) > 0 {
				v[prefix+sep+"secrets"] = strings.Join(items, ",")
			}
		case key == "secrets" && isNull(val):
		default:
			if v[prefix+sep+key], err = dg.digest(a.value); err != nil {
				return err
			}
		}
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// diff returns the paths whose values differ, sorted.
func (v view) diff(w view) []string {
	var out []string
	for k, a := range v {
		if b, ok := w[k]; !ok || a != b {
			out = append(out, k)
		}
	}
	for k := range w {
		if _, ok := v[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("and %d more", len(out)-5))
	}
	return out
}

// digester hashes nodes by content, not position, following aliases and
// merge keys. Memoised per node, so documents that expand exponentially
// through aliases (a "billion laughs") cost linear time.
type digester struct {
	memo     map[*yaml.Node]string
	visiting map[*yaml.Node]bool
}

func (dg *digester) digest(n *yaml.Node) (string, error) {
	if n == nil {
		return "none", nil
	}
	if d, ok := dg.memo[n]; ok {
		return d, nil
	}
	if dg.visiting[n] {
		return "", errRecursive
	}
	dg.visiting[n] = true
	defer delete(dg.visiting, n)
	var d string
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return "", errRecursive
		}
		var err error
		if d, err = dg.digest(n.Alias); err != nil {
			return "", err
		}
	case yaml.ScalarNode:
		d = scalarDigest(n)
	case yaml.SequenceNode:
		h := sha256.New()
		h.Write([]byte("seq"))
		for _, c := range n.Content {
			cd, err := dg.digest(c)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%d:%s", len(cd), cd)
		}
		d = hex.EncodeToString(h.Sum(nil))
	case yaml.MappingNode:
		ps, err := pairs(n)
		if err != nil {
			return "", err
		}
		entries := make([]string, 0, len(ps))
		for _, p := range ps {
			kd, err := dg.digest(p.key)
			if err != nil {
				return "", err
			}
			vd, err := dg.digest(p.value)
			if err != nil {
				return "", err
			}
			entries = append(entries, fmt.Sprintf("%d:%s%d:%s", len(kd), kd, len(vd), vd))
		}
		slices.Sort(entries)
		h := sha256.New()
		h.Write([]byte("map"))
		for _, e := range entries {
			h.Write([]byte(e))
		}
		d = hex.EncodeToString(h.Sum(nil))
	default:
		return "", fmt.Errorf("unexpected node kind %v", n.Kind)
	}
	dg.memo[n] = d
	return d, nil
}

// scalarDigest identifies a scalar by tag and value; how it is quoted does
// not matter, nor how a null is written.
func scalarDigest(n *yaml.Node) string {
	if n.ShortTag() == "!!null" {
		return "null"
	}
	h := sha256.Sum256([]byte(n.ShortTag() + "\x00" + n.Value))
	return hex.EncodeToString(h[:])
}
