package yamledit

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RemoveEnv deletes a service's variable key: the whole entry, all the lines
// of a multi-line value, and its inline comment. Comment lines above or
// below it are kept: they may describe more than this one entry, and an
// orphaned comment is harmless where a lost one is not.
//
// When the environment becomes empty, the `environment:` key is removed too,
// with the lines between it and its entries, unless that would break the
// file: when the environment is anchored (others may alias it) it becomes
// `environment: &anchor {}` (or `[]`), and when it is the last key of its
// mapping it becomes `environment: {}`. An empty flow environment stays `{}`.
//
// As with ReplaceEnv, an entry in a shared anchored node is removed for every
// service sharing it, and repeating the call is a no-op.
func (d *Doc) RemoveEnv(service, key string) error {
	if d.batch != nil {
		return d.removeEnvBatched(service, key)
	}
	t, err := d.envTarget(service, key)
	if err != nil {
		return err
	}
	if len(t.matches) == 0 {
		switch done := d.done[doneKey(service, key)]; done {
		case "remove":
			return nil
		case "":
		default:
			return fmt.Errorf("%s: service %q: %w: environment variable %s was already edited otherwise (through an entry it shares)", d.filename, service, ErrConflict, key)
		}
		return fmt.Errorf("%s: service %q: %w: environment variable %s", d.filename, service, ErrNotFound, key)
	}
	splices, err := d.removeEntries(t)
	if err != nil {
		return fmt.Errorf("%s: service %q: environment variable %s: %w", d.filename, service, key, err)
	}
	err = d.apply(splices, func(v view) {
		for _, s := range t.affected {
			delete(v, envPath(s, key))
		}
	})
	if err != nil {
		return fmt.Errorf("service %q: environment variable %s: %w", service, key, err)
	}
	for _, s := range t.affected {
		d.done[doneKey(s, key)] = "remove"
	}
	return nil
}

// removeEnvBatched is RemoveEnv in a batch: the service's variables
// removed so far in the batch and key are removed by one edit, computed on
// the document as the batch found it, which replaces the earlier one. So
// whether the environment becomes empty is decided on all of them.
func (d *Doc) removeEnvBatched(service, key string) error {
	if d.done[doneKey(service, key)] == "remove" {
		return nil
	}
	keys := append(slices.Clone(d.batch.envRemovals[service]), key)
	all := &editTarget{}
	for _, k := range keys {
		t, err := d.envTarget(service, k)
		if err != nil {
			return err
		}
		if len(t.matches) == 0 {
			if d.done[doneKey(service, k)] != "" {
				return fmt.Errorf("%s: service %q: %w: environment variable %s was already edited otherwise (through an entry it shares)", d.filename, service, ErrConflict, k)
			}
			return fmt.Errorf("%s: service %q: %w: environment variable %s", d.filename, service, ErrNotFound, k)
		}
		all.se = t.se
		all.matches = append(all.matches, t.matches...)
		for _, s := range t.affected {
			if !slices.Contains(all.affected, s) {
				all.affected = append(all.affected, s)
			}
		}
	}
	splices, err := d.removeEntries(all)
	if err != nil {
		return fmt.Errorf("%s: service %q: environment variable %s: %w", d.filename, service, key, err)
	}
	expect := func(v view) {
		for _, s := range all.affected {
			for _, k := range keys {
				delete(v, envPath(s, k))
			}
		}
	}
	if err := d.batch.add(d.filename, "env\x00"+service, splices, expect); err != nil {
		return fmt.Errorf("service %q: environment variable %s: %w", service, key, err)
	}
	d.batch.envRemovals[service] = keys
	for _, s := range all.affected {
		d.done[doneKey(s, key)] = "remove"
	}
	return nil
}

func (d *Doc) removeEntries(t *editTarget) ([]splice, error) {
	// Group the entries by the node holding them: emptying a node is
	// handled as a whole.
	var holders []*yaml.Node
	byHolder := map[*yaml.Node][]occurrence{}
	for _, o := range t.matches {
		if _, ok := byHolder[o.holder]; !ok {
			holders = append(holders, o.holder)
		}
		byHolder[o.holder] = append(byHolder[o.holder], o)
	}
	var out []splice
	for _, h := range holders {
		os := byHolder[h]
		size := len(h.Content)
		if h.Kind == yaml.MappingNode {
			size /= 2
		}
		if h.Style&yaml.FlowStyle != 0 {
			for _, o := range os {
				s, err := d.removeFlowEntry(o)
				if err != nil {
					return nil, err
				}
				out = append(out, s)
			}
			continue
		}
		if len(os) == size {
			s, err := d.emptyBlock(t.se, h, os)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
			continue
		}
		for _, o := range os {
			s, err := d.entryLines(o)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// entryLines is the splice deleting a block entry's lines.
func (d *Doc) entryLines(o occurrence) (splice, error) {
	s := d.src
	var start, end int
	if o.form == MapForm {
		start, end = s.spans[o.keyNode].start, s.spans[o.slot].end
		if !s.onlySpaceBefore(start) {
			return splice{}, fmt.Errorf("%w: the entry shares its line", ErrUnsupported)
		}
	} else {
		start, end = s.spans[o.slot].start, s.spans[o.slot].end
		ls := s.starts[s.line(start)]
		if strings.Trim(string(s.b[ls:start]), " \t") != "-" {
			return splice{}, fmt.Errorf("%w: the list item shares its line", ErrUnsupported)
		}
	}
	if !s.restIsComment(end) {
		return splice{}, fmt.Errorf("%w: the entry shares its line", ErrUnsupported)
	}
	return s.deleteLines(start, end), nil
}

// removeFlowEntry deletes an entry of a flow collection with the comma
// that separates it from the next one (or the previous one, for the last).
func (d *Doc) removeFlowEntry(o occurrence) (splice, error) {
	s, h := d.src, o.holder
	first, last := o.slot, o.slot
	step := 1
	if o.form == MapForm {
		first, step = o.keyNode, 2
	}
	i := slices.Index(h.Content, first)
	if i < 0 {
		return splice{}, fmt.Errorf("%w: entry not found in its collection", ErrUnsupported)
	}
	start, end := s.spans[first].start, s.spans[last].end
	switch {
	case i+step < len(h.Content):
		return splice{start, s.spans[h.Content[i+step]].start, ""}, nil
	case i > 0:
		return splice{s.spans[h.Content[i-1]].end, end, ""}, nil
	}
	return splice{start, end, ""}, nil
}

// emptyBlock removes every entry of a block environment node h (the
// environment itself or a mapping merged into it).
func (d *Doc) emptyBlock(se *serviceEnv, h *yaml.Node, os []occurrence) ([]splice, error) {
	s := d.src
	empty := " {}"
	if h.Kind == yaml.SequenceNode {
		empty = " []"
	}
	var lines []splice
	for _, o := range os {
		l, err := d.entryLines(o)
		if err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	if h.Anchor != "" {
		props := s.skipProps(s.spans[h].start)
		return append(lines, splice{props, props, empty}), nil
	}
	// The key whose value h is: `environment:`, or `<<:` for a mapping
	// merged in without an anchor.
	parent, key := se.pair.holder, se.pair.key
	if h != se.env || se.pair.value != h {
		parent, key = nil, nil
		if via := os[0].via; len(via) == 1 && via[0] == h {
			parent = se.env
		}
		if parent != nil {
			for i := 0; i+1 < len(parent.Content); i += 2 {
				if parent.Content[i+1] == h {
					key = parent.Content[i]
				}
			}
		}
		if key == nil {
			return nil, fmt.Errorf("%w: cannot empty this environment", ErrUnsupported)
		}
	}
	keyStart := s.spans[key].start
	if h == se.env && len(parent.Content) > 2 && s.onlySpaceBefore(keyStart) && s.restIsComment(s.spans[h].end) {
		return []splice{s.deleteLines(keyStart, s.spans[h].end)}, nil
	}
	colon := s.skipBlank(s.spans[key].end)
	if colon >= len(s.b) || s.b[colon] != ':' {
		return nil, fmt.Errorf("%w: cannot empty this environment", ErrUnsupported)
	}
	return append(lines, splice{colon + 1, colon + 1, empty}), nil
}
