package compose

import (
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	yaml "go.yaml.in/yaml/v3"
)

// x- blocks (top-level `x-foo:` and a service's `x-foo:` keys) are
// ignored by compose but committed with the compose file: a password kept
// there "for the anchors" is as public as one in environment:. Detect
// reports them when DetectOptions.Extensions is set (scan); migrate moves
// nothing out of them.

// extensionReason ends the reason of every x- block finding.
const extensionReason = "; x- blocks are committed with the compose file"

// extensions walks the x- blocks of every compose file read, in place
// (anchors where they are written, aliases not followed), and reports each
// secret with a value there that no other finding already points at: an
// anchor in an x- block merged into a service's environment is found in
// that environment, Shared.
func (d *detector) extensions() {
	seen := make(map[Position]bool, len(d.r.Findings))
	for _, f := range d.r.Findings {
		seen[f.Source.Position] = true
	}
	for _, file := range d.p.Files {
		for _, doc := range file.Docs {
			if doc == nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
				continue
			}
			root := doc.Content[0]
			for i := 0; i+1 < len(root.Content); i += 2 {
				if k := root.Content[i]; extensionKey(k) {
					d.walkExtension(file, "", k.Value, k, root.Content[i+1], false, seen)
				}
			}
		}
		for name, defs := range d.p.index(file) {
			if _, off := d.m.DisabledServices[name]; off {
				continue // not checked, as its environment is not (see the warning)
			}
			for _, def := range defs {
				n := def.node
				if n == nil || n.Kind != yaml.MappingNode {
					continue // an alias: its x- keys are walked where written
				}
				for i := 0; i+1 < len(n.Content); i += 2 {
					if k := n.Content[i]; extensionKey(k) {
						d.walkExtension(file, name, k.Value, k, n.Content[i+1], n.Anchor != "", seen)
					}
				}
			}
		}
	}
}

// extensionKey is an x- key other than x-vault (the tool's own settings).
func extensionKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && strings.HasPrefix(k.Value, "x-") && k.Value != "x-vault"
}

// walkExtension judges the values under n, the value of key in an x-
// block at path: map entries with a scalar value, and list items
// KEY=VALUE. A scalar x- block (x-token: ...) is judged by its own key.
func (d *detector) walkExtension(file *File, service, path string, key, n *yaml.Node, shared bool, seen map[Position]bool) {
	if n == nil {
		return
	}
	shared = shared || n.Anchor != ""
	switch n.Kind {
	case yaml.ScalarNode:
		if key != nil {
			d.extensionValue(file, service, path, key.Value, key, n, "map", shared, seen)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				continue // a merge key names an anchor, walked where written
			}
			if v.Kind == yaml.ScalarNode {
				d.extensionValue(file, service, path, k.Value, k, v, "map", shared, seen)
				continue
			}
			d.walkExtension(file, service, path+"."+k.Value, nil, v, shared, seen)
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				d.walkExtension(file, service, path, nil, item, shared, seen)
				continue
			}
			name, _, ok := strings.Cut(item.Value, "=")
			if ok && name != "" && !strings.ContainsAny(name, " \t") {
				d.extensionValue(file, service, path, name, nil, item, "list", shared || item.Anchor != "", seen)
			}
		}
	}
	// An alias (AliasNode) is written elsewhere: not walked here.
}

// extensionValue judges one name and value of an x- block, and reports
// it when it is a secret with a value.
func (d *detector) extensionValue(file *File, service, path, name string, key, n *yaml.Node, form string, shared bool, seen map[Position]bool) {
	pos := nodePos(file, n)
	if seen[pos] {
		return
	}
	seen[pos] = true
	raw := n.Value
	if form == "list" {
		_, raw, _ = strings.Cut(raw, "=")
	}
	if n.Tag == "!!null" {
		raw = ""
	}
	value, ok := writtenValue(raw)
	if !ok || value == "" {
		return
	}
	f := Finding{
		Service:  service,
		Variable: name,
		Source:   Source{Kind: SourceExtension, Position: pos, Form: form, Shared: shared || n.Anchor != "", Field: path},
		Value:    []byte(value),
	}
	if key != nil {
		f.Source.Key = nodePos(file, key)
	}
	d.judge(&f)
	switch {
	case f.Verdict == VerdictSecret:
		f.Action = ActionReport
		f.Reason += extensionReason
	case d.excluded(service, name) && classify(name, value).verdict == VerdictSecret:
		// Kept, skipped, so that a caller can say what silenced it.
		f.Action = ActionSkip
	default:
		return
	}
	d.r.Findings = append(d.r.Findings, f)
}

// writtenValue is what a value of a compose file holds by itself, as
// compose interpolates it with an environment that sets nothing but
// answers every name: ${VAR} is empty, $$ is $. false: compose would
// refuse the template.
func writtenValue(raw string) (string, bool) {
	if !strings.Contains(raw, "$") {
		return raw, true
	}
	v, err := template.Substitute(raw, func(string) (string, bool) { return unsetMark, true })
	if err != nil {
		return "", false
	}
	return strings.ReplaceAll(v, unsetMark, ""), true
}
