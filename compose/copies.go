package compose

import (
	"maps"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// A secret's value is often repeated where its name does not say so:
// OTHER_THING: <the password>, PGPASS_COPY: ${DB_PASSWORD}, a label. Left
// in place, the copy keeps the value in the compose file and in docker
// inspect after the original moved. A copy in an environment variable is
// a secret like any other (moved the same way, under the same secret's
// name); a copy in a label is reported where it is written.

// minCopy is the shortest value whose repeat counts as a copy: shorter
// values (and plain words, see copyable) repeat by chance.
const minCopy = 8

// identifierWords, as the last word of a name, say the value names
// something (a user, a database, a host): a weak password equal to it
// (MYSQL_USER: wordpress, MYSQL_DATABASE: wordpress) is not a copy, it
// is the same word chosen twice.
var identifierWords = map[string]bool{
	"database": true, "db": true, "dbname": true, "schema": true, "tenant": true,
	"org": true, "organization": true, "bucket": true, "project": true, "site": true,
	"sitename": true, "title": true, "app": true, "service": true, "cluster": true,
	"namespace": true, "queue": true, "topic": true, "index": true, "instance": true,
}

// identifierName reports whether a variable's name says its value is an
// identifier or describes something (PGUSER is not split into words, so
// a glued user/host/name suffix counts too).
func identifierName(name string) bool {
	words := nameWords(name)
	if len(words) == 0 {
		return false
	}
	last := words[len(words)-1]
	if identifierWords[last] || descriptorTokens[last] {
		return true
	}
	for _, s := range []string{"user", "name", "host", "db", "database"} {
		if len(last) > len(s) && strings.HasSuffix(last, s) {
			return true
		}
	}
	return false
}

// copyable reports whether a secret's value is distinctive enough that
// another variable holding it is a copy: at least minCopy bytes, not a
// number or a switch, and not one plain lower-case word (a project or
// image name a weak password was set to).
func copyable(v string) bool {
	if len(v) < minCopy || booleanish(v) {
		return false
	}
	digits, lower := true, true
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			digits = false
		}
		if c < 'a' || c > 'z' {
			lower = false
		}
	}
	return !digits && !(lower && len(v) < 16)
}

func copyKey(f *Finding) string {
	return f.Service + "\x00" + string(f.Source.Kind) + "\x00" + f.Variable
}

// secretValues are the values copies are made of, with the finding each
// first appears in.
type secretValues struct {
	at map[string]int
	// plain are values an identifier holds too (a user name chosen as
	// password): equal to them is no copy.
	plain  map[string]bool
	sorted []string
}

// original returns the finding whose value v copies.
func (v *secretValues) original(value string) (int, bool) {
	at, ok := v.at[value]
	return at, ok && !v.plain[value]
}

// longestFirst are the values, longest first, so that a label holding two
// secrets names the longer one. Sorted once, when a label needs them.
func (v *secretValues) longestFirst() []string {
	if v.sorted == nil {
		v.sorted = make([]string, 0, len(v.at))
		for s := range v.at {
			if !v.plain[s] {
				v.sorted = append(v.sorted, s)
			}
		}
		slices.SortFunc(v.sorted, func(a, b string) int {
			if len(a) != len(b) {
				return len(b) - len(a)
			}
			return strings.Compare(a, b)
		})
	}
	return v.sorted
}

// copies turns environment variables that are not secret by name but hold
// a secret's value into secret findings, and returns the secret values
// with the finding each first appears in (for labels). It runs on the
// judged, not yet decided, environment findings.
func (d *detector) copies() *secretValues {
	origins := map[string]int{}
	plain := map[string]bool{}
	for _, p := range d.pending {
		f := &d.r.Findings[p.at]
		v := string(f.Value)
		switch {
		case f.Verdict == VerdictSecret && !p.rule.weak && !f.Embedded && !f.Unset && copyable(v):
			// The first in report order, so which variable a copy names
			// as its original does not depend on map order.
			if o, ok := origins[v]; !ok || d.less(*f, d.r.Findings[o]) {
				origins[v] = p.at
			}
		case f.Verdict == VerdictNotSecret && identifierName(f.Variable):
			plain[v] = true
		}
	}
	byRef := map[string]int{}
	for i := range d.pending {
		p := &d.pending[i]
		f := &d.r.Findings[p.at]
		if f.Verdict != VerdictNotSecret || len(f.Value) == 0 {
			continue
		}
		v := string(f.Value)
		o, isCopy := origins[v]
		isCopy = isCopy && !plain[v]
		ref, byName := "", false
		if !isCopy {
			ref, byName = secretRef(f.Source)
		}
		// The name checks last: most variables hold no secret's value.
		if (!isCopy && !byName) || classifyName(f.Variable).class != nameNeutral ||
			identifierName(f.Variable) || d.excluded(f.Service, f.Variable) {
			continue
		}
		reason := "value is ${" + ref + "}, a secret by its name"
		if isCopy {
			of := &d.r.Findings[o]
			reason = "copy of the value of " + of.Service + "." + of.Variable
			d.copyOf[copyKey(f)] = groupKey(of)
		} else if copyable(v) {
			// Its copies elsewhere (labels) are copies of a secret too.
			if b, ok := byRef[v]; !ok || d.less(*f, d.r.Findings[b]) {
				byRef[v] = p.at
			}
		}
		f.Verdict, f.Reason = VerdictSecret, reason
		p.rule = valueRule{verdict: VerdictSecret, reason: reason}
	}
	for v, at := range byRef {
		if _, ok := origins[v]; !ok {
			origins[v] = at
		}
	}
	return &secretValues{at: origins, plain: plain}
}

// secretRef returns the variable a value is exactly interpolated from,
// when that variable's name says it holds a secret: X: ${DB_PASSWORD}.
func secretRef(s Source) (string, bool) {
	if s.Kind != SourceInterpolated || !s.SingleRef || len(s.Refs) != 1 {
		return "", false
	}
	name := s.Refs[0].Name
	return name, classifyName(name).class == nameSecret
}

// labels reports the copies of secret values in a service's labels and
// deploy labels: migrate does not rewrite labels, and docker inspect (or
// docker service inspect) shows them to anyone who can reach the engine.
func (d *detector) labels(name string, svc types.ServiceConfig, layers []layer, origins *secretValues) {
	if len(origins.at) == 0 {
		return
	}
	check := func(field, shows string, path []string, labels types.Labels) {
		for _, key := range slices.Sorted(maps.Keys(labels)) {
			v := labels[key]
			secret, whole := v, true
			at, ok := origins.original(v)
			if !ok {
				if len(v) < minCopy {
					continue
				}
				values := origins.longestFirst()
				i := slices.IndexFunc(values, func(s string) bool { return strings.Contains(v, s) })
				if i < 0 {
					continue
				}
				secret, whole, at = values[i], false, origins.at[values[i]]
			}
			of := &d.r.Findings[at]
			f := Finding{
				Service:  name,
				Variable: field + "." + key,
				Image:    svc.Image,
				Source:   Source{Kind: SourceLabel, Field: field, Position: keyedPosition(layers, path, key)},
				Value:    []byte(secret),
				Verdict:  VerdictSecret,
				Action:   ActionReport,
				Embedded: !whole,
			}
			what := "holds"
			if !whole {
				what = "contains"
			}
			f.Reason = "label " + key + " " + what + " a copy of the value of " + of.Service + "." + of.Variable + ": " + shows + " shows labels, and migrate does not rewrite them; take the value out of the label"
			if by := d.excludedBy(name, f.Variable); by != "" {
				f.Verdict, f.Action, f.Reason = VerdictNotSecret, ActionSkip, "excluded by "+by
			}
			d.r.Findings = append(d.r.Findings, f)
		}
	}
	check("labels", "docker inspect", []string{"labels"}, svc.Labels)
	if svc.Deploy != nil {
		check("deploy.labels", "docker service inspect", []string{"deploy", "labels"}, svc.Deploy.Labels)
	}
}

// keyedPosition finds where key is set in a map or list attribute (labels,
// build args) of a service: in the highest-precedence layer that sets it.
func keyedPosition(layers []layer, path []string, key string) Position {
	for i := len(layers) - 1; i >= 0; i-- {
		file, node, _ := lastField(layers[i:i+1], path...)
		if file == nil {
			continue
		}
		if pos, ok := keyedEntry(file, node, key); ok {
			return pos
		}
	}
	return Position{}
}
