package yamledit

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// AddServiceSecret makes sure a service's `secrets:` lists secret. It
// appends `- secret` (short syntax) to a block list, with the list's own
// indentation, or `, secret` to a flow list; without a `secrets:` key it adds
// one as the service's last key, indented like the file's other lists. A
// secret already listed (short or long syntax) is not added again.
//
// It refuses (ErrUnsupported) when the list is not the service's own: a
// service written as an alias of another, or one that gets `secrets:`
// through a merge key, since adding there would change other services and
// adding a local list would hide the merged one.
func (d *Doc) AddServiceSecret(service, secret string) error {
	if secret == "" {
		return fmt.Errorf("%s: service %q: %w: empty secret name", d.filename, service, ErrUnsupported)
	}
	svc, err := d.ownService(service)
	if err != nil {
		return err
	}
	secrets := []string{secret}
	if d.batch != nil {
		// In a batch every secret of the service is added by one edit,
		// made against the document as the batch found it.
		secrets = append(slices.Clone(d.batch.svcSecrets[service]), secret)
	}
	splices, added, err := d.serviceSecretSplices(svc, secrets...)
	if err != nil {
		return fmt.Errorf("%s:%d:%d: service %q: %w", d.filename, svc.Line, svc.Column, service, err)
	}
	path := "services" + sep + service + sep + "secrets"
	expect := func(v view) {
		for _, a := range added {
			item := scalarDigest(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: a})
			if v[path] == "" {
				v[path] = item
			} else {
				v[path] += "," + item
			}
		}
	}
	if d.batch != nil {
		if err := d.batch.add(d.filename, "secrets\x00"+service, splices, expect); err != nil {
			return fmt.Errorf("service %q: secret %s: %w", service, secret, err)
		}
		d.batch.svcSecrets[service] = secrets
		return nil
	}
	if splices == nil {
		return nil
	}
	err = d.apply(splices, expect)
	if err != nil {
		return fmt.Errorf("service %q: secret %s: %w", service, secret, err)
	}
	return nil
}

// serviceSecretSplices returns the edit adding secrets to svc, and the
// ones it adds: nil when all are there already.
func (d *Doc) serviceSecretSplices(svc *yaml.Node, secrets ...string) ([]splice, []string, error) {
	s := d.src
	flow := svc.Style&yaml.FlowStyle != 0
	p, err := lookup(svc, "secrets")
	if err != nil {
		return nil, nil, err
	}
	var list *yaml.Node
	if p != nil {
		if p.holder != svc || p.value.Kind == yaml.AliasNode {
			return nil, nil, fmt.Errorf("%w: secrets: comes through an alias or merge key", ErrUnsupported)
		}
		list = p.value
		if !isNull(list) && list.Kind != yaml.SequenceNode {
			return nil, nil, fmt.Errorf("%w: secrets: is not a list", ErrUnsupported)
		}
	}
	var added, items []string
	for _, secret := range secrets {
		if slices.Contains(added, secret) || (list != nil && listsSecret(list, secret)) {
			continue
		}
		item, err := renderString(secret, styleAny, true)
		if err != nil {
			return nil, nil, err
		}
		added, items = append(added, secret), append(items, item)
	}
	if len(added) == 0 {
		return nil, nil, nil
	}
	blockItems := func(col, gap int) []string {
		out := make([]string, len(items))
		for i, it := range items {
			out[i] = pad(col) + "-" + pad(gap-1) + it
		}
		return out
	}
	if p == nil {
		if flow {
			return []splice{d.flowAppend(svc, "secrets: ["+strings.Join(items, ", ")+"]")}, added, nil
		}
		col := s.column(s.spans[svc.Content[0]].start)
		lines := append([]string{pad(col) + "secrets:"}, blockItems(col+d.layout.seqIndent, d.layout.seqGap)...)
		return []splice{d.linesAfter(s.spans[svc].end, lines...)}, added, nil
	}
	if isNull(list) {
		sp := s.spans[list]
		props := s.skipProps(sp.start)
		if sp.end > props {
			// `secrets: ~`: a flow list replaces the null in any context.
			return []splice{{s.skipSpace(props), sp.end, "[" + strings.Join(items, ", ") + "]"}}, added, nil
		}
		if flow {
			return []splice{{props, props, " [" + strings.Join(items, ", ") + "]"}}, added, nil
		}
		col := s.column(s.spans[p.key].start)
		return []splice{d.linesAfter(sp.end, blockItems(col+d.layout.seqIndent, d.layout.seqGap)...)}, added, nil
	}
	if list.Anchor != "" && d.aliased(list) {
		return nil, nil, fmt.Errorf("%w: secrets: is anchored (&%s) and shared through an alias", ErrUnsupported, list.Anchor)
	}
	if list.Style&yaml.FlowStyle != 0 {
		return []splice{d.flowAppend(list, strings.Join(items, ", "))}, added, nil
	}
	dash := s.skipSpace(s.skipProps(s.spans[list].start))
	first := s.spans[list.Content[0]].start
	gap := d.layout.seqGap
	if s.line(first) == s.line(dash) {
		gap = s.column(first) - s.column(dash)
	}
	return []splice{d.linesAfter(s.spans[list].end, blockItems(s.column(dash), gap)...)}, added, nil
}

// listsSecret reports whether a service's secrets: list names secret, in
// the short or the long syntax.
func listsSecret(list *yaml.Node, secret string) bool {
	for _, it := range list.Content {
		it = deref(it)
		if it == nil {
			continue
		}
		if it.Kind == yaml.ScalarNode && it.Value == secret {
			return true
		}
		if it.Kind == yaml.MappingNode {
			if src, err := lookup(it, "source"); err == nil && src != nil {
				if v := deref(src.value); v != nil && v.Kind == yaml.ScalarNode && v.Value == secret {
					return true
				}
			}
		}
	}
	return false
}

// flowAppend adds an entry at the end of a flow collection.
func (d *Doc) flowAppend(n *yaml.Node, entry string) splice {
	s := d.src
	if len(n.Content) == 0 {
		open := s.skipSpace(s.skipProps(s.spans[n].start)) + 1
		return splice{open, open, entry}
	}
	end := s.spans[n.Content[len(n.Content)-1]].end
	return splice{end, end, ", " + entry}
}

// ownService is a service's mapping when the service is written in the
// file itself: an edit of a service defined as an alias or through a merge
// key would change the services sharing it, so it is refused.
func (d *Doc) ownService(service string) (*yaml.Node, error) {
	svcs, err := d.services()
	if err != nil {
		return nil, err
	}
	sp, err := d.service(svcs, service)
	if err != nil {
		return nil, err
	}
	svc := sp.value
	if svc.Kind == yaml.AliasNode || sp.holder != svcs {
		return nil, fmt.Errorf("%s: service %q: %w: the service is defined through an alias or merge key", d.filename, service, ErrUnsupported)
	}
	if svc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: service %q: %w: the service is not a mapping", d.filename, service, ErrUnsupported)
	}
	return svc, nil
}

// linesAfter inserts lines after the line holding off. They are inserted
// at the start of the next line rather than before the line break: the same
// bytes, but an insertion that does not fall inside a batch's deletion of
// the line off is on (a service whose last key, its environment: block,
// goes in the same batch). On the last line they go before its break (or
// its end), so a file without a final newline stays so.
func (d *Doc) linesAfter(off int, lines ...string) splice {
	p := d.src.lineEnd(off)
	if next := d.src.nextLine(off); next > p && string(d.src.b[p:next]) == d.eol {
		return splice{next, next, strings.Join(lines, d.eol) + d.eol}
	}
	return splice{p, p, d.eol + strings.Join(lines, d.eol)}
}

func pad(n int) string { return strings.Repeat(" ", max(n, 0)) }
