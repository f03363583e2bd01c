package compose

import (
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Passwords are often repeated where environment: cannot reach them: a
// healthcheck that logs in (sqlcmd -P, mysqladmin -p), a command line
// (redis-server --requirepass). Those copies are reported, never rewritten:
// the fix is to change the command to read the secret file.

// Flags whose next word is a password whatever it is.
var passwordFlags = map[string]bool{
	"--password": true, "--pass": true, "--passwd": true, "--pwd": true, "-password": true,
	"--requirepass": true, "--auth-password": true, "--masterauth": true,
}

// Flags whose next word is a password when it is one of the project's
// secret values (-p is also a port, -P also a protocol).
var maybePasswordFlags = map[string]bool{"-p": true, "-P": true, "-a": true, "--auth": true, "-w": true, "-pw": true}

// Flags whose next word is a user, database or host, not a password, even
// when it happens to equal one (psql -U geonetwork -d geonetwork).
var nameFlags = map[string]bool{
	"-U": true, "-u": true, "--user": true, "--username": true, "-d": true, "--dbname": true,
	"--database": true, "-h": true, "--host": true, "-n": true, "--name": true, "-S": true, "-D": true,
}

// commandHit is one password copy in a command.
type commandHit struct {
	value string // the copy; "" for a reference
	ref   string // a secret variable expanded at run time ($DB_PASSWORD)
	why   string
}

// shellWords splits a shell command line into words, honouring quotes.
// It is not a shell: it only needs to isolate flags and their arguments.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	var quote rune
	in := false
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// commandWords flattens an exec-form list whose items may themselves be
// shell lines ("sh", "-c", "mysqladmin ping -p...").
func commandWords(list []string) []string {
	var out []string
	for _, w := range list {
		if strings.ContainsAny(w, " \t\n") {
			out = append(out, shellWords(w)...)
		} else {
			out = append(out, w)
		}
	}
	return out
}

// scanWords finds password copies in the words of a command. known are the
// project's secret values, plain the service's non-secret values (user
// and database names that may equal a weak password).
func scanWords(words []string, known, plain map[string]bool) []commandHit {
	return scanWordsExcept(words, known, plain, nil)
}

// scanWordsExcept is scanWords where references to the variables in
// exported are not copies: migrate's entrypoint wrapper reads them from
// their secret files itself.
func scanWordsExcept(words []string, known, plain, exported map[string]bool) []commandHit {
	var hits []commandHit
	seen := map[string]bool{}
	add := func(h commandHit) {
		k := h.value + "\x00" + h.ref
		if !seen[k] {
			seen[k] = true
			hits = append(hits, h)
		}
	}
	for i, w := range words {
		prev := ""
		if i > 0 {
			prev = words[i-1]
		}
		for _, r := range templateRefs(w) {
			if classifyName(r.name).class == nameSecret && !exported[r.name] {
				add(commandHit{ref: r.name, why: "expands $" + r.name + " in the container"})
			}
		}
		literal := w != "" && !strings.HasPrefix(w, "$")
		switch {
		case passwordFlags[prev] && literal:
			add(commandHit{value: w, why: "passes a password with " + prev})
			continue
		case maybePasswordFlags[prev] && known[w]:
			add(commandHit{value: w, why: "passes a password with " + prev})
			continue
		case strings.HasPrefix(w, "-p") && len(w) > 2 && known[w[2:]]:
			add(commandHit{value: w[2:], why: "passes a password with -p"})
			continue
		}
		if eq := strings.IndexByte(w, '='); eq > 0 {
			k := w[:eq]
			if strings.HasPrefix(k, "-D") {
				k = k[2:]
			}
			k = strings.TrimLeft(k, "-")
			v := strings.Trim(w[eq+1:], `"'`)
			if k != "" && v != "" && !strings.HasPrefix(v, "$") && classifyName(k).class == nameSecret {
				add(commandHit{value: v, why: "sets " + k})
				continue
			}
		}
		if pw, ok := urlPassword(w); ok {
			add(commandHit{value: pw, why: "has a URL with a password"})
			continue
		}
		// A bare repeat: not the program itself (postgres may be both the
		// command and a weak password), not after a user/database flag.
		if i > 0 && known[w] && len(w) >= 8 && !plain[w] && !nameFlags[prev] {
			add(commandHit{value: w, why: "repeats a secret value"})
		}
	}
	return hits
}

// commands reports password copies in a service's healthcheck, command and
// entrypoint.
func (d *detector) commands(name string, svc types.ServiceConfig, layers []layer, known map[string]bool) {
	plain := d.plain[name]
	check := func(kind SourceKind, field string, path []string, words []string) {
		if len(words) == 0 {
			return
		}
		var exported map[string]bool
		if field == "entrypoint" {
			exported = wrapperVariables(svc)
		}
		hits := scanWordsExcept(commandWords(words), known, plain, exported)
		if len(hits) == 0 {
			return
		}
		pos := Position{}
		if file, node, _ := lastField(layers, path...); file != nil {
			pos = nodePos(file, node)
		}
		for _, h := range hits {
			f := Finding{
				Service:  name,
				Variable: field,
				Image:    svc.Image,
				Source:   Source{Kind: kind, Field: field, Position: pos},
				Verdict:  VerdictSecret,
				Action:   ActionReport,
				Embedded: true,
			}
			if h.ref != "" {
				f.Reason = field + " " + h.why + ": if " + h.ref + " moves to a file, read the file there instead"
			} else {
				f.Value = []byte(h.value)
				f.Reason = field + " " + h.why + ": the password is written in the compose file; make the command read the secret file instead"
			}
			if by := d.excludedBy(name, field); by != "" {
				f.Verdict, f.Action, f.Reason = VerdictNotSecret, ActionSkip, "excluded by "+by
			}
			d.r.Findings = append(d.r.Findings, f)
		}
	}
	if hc := svc.HealthCheck; hc != nil && len(hc.Test) > 1 {
		switch hc.Test[0] {
		case "CMD-SHELL":
			check(SourceHealthcheck, "healthcheck.test", []string{"healthcheck", "test"}, shellWords(strings.Join(hc.Test[1:], " ")))
		case "CMD":
			check(SourceHealthcheck, "healthcheck.test", []string{"healthcheck", "test"}, hc.Test[1:])
		}
	}
	check(SourceCommand, "command", []string{"command"}, svc.Command)
	check(SourceCommand, "entrypoint", []string{"entrypoint"}, svc.Entrypoint)
}

// wrapperVariables are the variables migrate's entrypoint wrapper exports
// from secret files, as the service's x-vault records them
// (x-vault: {wrapper: {variables: {VAR: secret}}}): the wrapper's script
// names them, and is no copy of a password.
func wrapperVariables(svc types.ServiceConfig) map[string]bool {
	x, _ := svc.Extensions["x-vault"].(map[string]any)
	w, _ := x["wrapper"].(map[string]any)
	vars, _ := w["variables"].(map[string]any)
	if len(vars) == 0 {
		return nil
	}
	out := make(map[string]bool, len(vars))
	for v := range vars {
		out[v] = true
	}
	return out
}
