package compose

import (
	"fmt"
	"strings"
)

// secretName turns a variable name into a compose secret name:
// MYSQL_ROOT_PASSWORD -> mysql_root_password.
func secretName(variable string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(variable) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			under = false
			continue
		}
		if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	s := b.String()
	// A synced swarm secret is named <name>_<8 hex>, at most 64 characters.
	if len(s) > maxSecretName {
		s = s[:maxSecretName]
	}
	s = strings.TrimRight(s, "_")
	if s == "" {
		return "secret"
	}
	return s
}

const maxSecretName = 64 - len("_01234567")

// name gives every secret value one compose secret name, shared by all the
// variables that hold it, and tells each finding who else holds it.
func (d *detector) name() {
	order := d.groupFindings()
	taken := map[string]bool{}
	for name := range d.m.Secrets {
		taken[name] = true
	}
	for _, g := range order {
		g.name = d.pickName(g.members, g.firstSvc, taken)
		taken[g.name] = true
	}
	// The group of each value, to link embedded credentials and command
	// copies to it; a value-keyed group wins over a reference-keyed one.
	byValue := map[string]*secretGroup{}
	for _, g := range order {
		f := d.r.Findings[g.members[0]]
		if v := string(f.Value); v != "" {
			if prev := byValue[v]; prev == nil || (strings.HasPrefix(g.key, "v\x00") && !strings.HasPrefix(prev.key, "v\x00")) {
				byValue[v] = g
			}
		}
	}
	for _, g := range order {
		d.declareSecret(g, byValue)
	}
	d.linkCopies(byValue)
}

// secretGroup is the findings that share one secret (see groupKey).
type secretGroup struct {
	key      string
	members  []int
	name     string
	migrate  bool
	firstSvc string
}

// groupFindings groups the secret findings (copies in commands aside) by
// groupKey, in the order of their first member.
func (d *detector) groupFindings() []*secretGroup {
	groups := map[string]*secretGroup{}
	var order []*secretGroup
	for i := range d.r.Findings {
		f := &d.r.Findings[i]
		if f.Verdict != VerdictSecret || copyKind(f.Source.Kind) {
			continue
		}
		key := groupKey(f)
		if k, ok := d.copyOf[copyKey(f)]; ok {
			key = k
		}
		g := groups[key]
		if g == nil {
			g = &secretGroup{key: key, firstSvc: f.Service}
			groups[key] = g
			order = append(order, g)
		}
		g.members = append(g.members, i)
		if f.Action == ActionMigrate {
			g.migrate = true
		}
	}
	return order
}

// declareSecret names a group's members after it, tells each who else
// holds the value (and whose value an embedded password is), and adds the
// group to the report's secrets.
func (d *detector) declareSecret(g *secretGroup, byValue map[string]*secretGroup) {
	users := make([]string, 0, len(g.members))
	for _, i := range g.members {
		f := &d.r.Findings[i]
		f.SecretName = g.name
		users = append(users, f.Service+"."+f.Variable)
	}
	for _, i := range g.members {
		f := &d.r.Findings[i]
		if others := without(users, f.Service+"."+f.Variable); len(others) > 0 {
			f.Reason += "; same value as " + list(others)
		}
		if pw, ok := urlPassword(string(f.Value)); ok && f.Embedded {
			if pg := byValue[pw]; pg != nil && pg != g {
				f.Reason += "; the password inside is the value of secret " + pg.name
			}
		}
	}
	d.r.Secrets = append(d.r.Secrets, Secret{Name: g.name, Value: d.r.Findings[g.members[0]].Value, Users: users, Migrate: g.migrate})
}

// copyKind: findings of this kind are copies of a secret the project
// holds elsewhere, reported where they are; they join no group.
func copyKind(k SourceKind) bool {
	return k == SourceHealthcheck || k == SourceCommand || k == SourceLabel
}

// linkCopies points copies in commands and labels at the secret they copy.
func (d *detector) linkCopies(byValue map[string]*secretGroup) {
	for i := range d.r.Findings {
		f := &d.r.Findings[i]
		if !copyKind(f.Source.Kind) {
			continue
		}
		if g := byValue[string(f.Value)]; len(f.Value) > 0 && g != nil {
			f.SecretName = g.name
			f.Reason += "; copy of secret " + g.name
			for k := range d.r.Secrets {
				if d.r.Secrets[k].Name == g.name {
					d.r.Secrets[k].Users = append(d.r.Secrets[k].Users, f.Service+"."+f.Variable)
				}
			}
		}
	}
}

// groupKey decides which findings share a secret. Equal values do: a
// password copied into two services is one secret. A value interpolated
// from one .env, --env-file or shell variable (or passed through) is keyed
// by that variable instead: two .env entries that happen to be equal
// (POSTGRES_PW=changeit, PGADMIN_PW=changeit) are two secrets the author
// declared separately. Empty and unset values are separate slots.
func groupKey(f *Finding) string {
	if len(f.Value) == 0 {
		return "s\x00" + f.Service + "\x00" + string(f.Source.Kind) + "\x00" + f.Variable
	}
	src := f.Source
	if len(src.Refs) == 1 && (src.Kind == SourcePassThrough || (src.Kind == SourceInterpolated && src.SingleRef)) {
		switch src.Refs[0].Origin {
		case OriginDotEnv, OriginEnvFile, OriginShell, OriginInclude:
			return "r\x00" + src.Refs[0].Name
		}
	}
	return "v\x00" + string(f.Value)
}

// pickName chooses the name of a group: the most common variable name
// among its members, then the shortest, then the first alphabetically;
// prefixed with the service, then numbered, when already taken.
func (d *detector) pickName(members []int, service string, taken map[string]bool) string {
	count := map[string]int{}
	for _, i := range members {
		// A copy takes the name of the secret it copies: it has no vote.
		if f := &d.r.Findings[i]; d.copyOf[copyKey(f)] == "" {
			count[secretName(f.Variable)]++
		}
	}
	if len(count) == 0 {
		for _, i := range members {
			count[secretName(d.r.Findings[i].Variable)]++
		}
	}
	best := ""
	for n, c := range count {
		switch {
		case best == "",
			c > count[best],
			c == count[best] && len(n) < len(best),
			c == count[best] && len(n) == len(best) && n < best:
			best = n
		}
	}
	if !taken[best] {
		return best
	}
	if n := secretName(service) + "_" + best; !taken[n] {
		return n
	}
	for i := 2; ; i++ {
		if n := fmt.Sprintf("%s_%d", best, i); !taken[n] {
			return n
		}
	}
}

func without(l []string, s string) []string {
	var out []string
	for _, e := range l {
		if e != s {
			out = append(out, e)
		}
	}
	return out
}

// list shortens a list of users for a reason.
func list(l []string) string {
	if len(l) > 3 {
		return strings.Join(l[:3], ", ") + fmt.Sprintf(" and %d more", len(l)-3)
	}
	return strings.Join(l, ", ")
}
