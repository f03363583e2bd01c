package imageinfo

import (
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Script is the text of one file of an image, with the path it was read
// from.
type Script struct {
	Path string
	Text string
}

// Scan reads the entrypoint scripts of an image and returns the variables
// they read from files. It claims a variable only where a script really
// reads it from the file another variable names: a wrong claim would make
// migrate remove a variable the container needs, so anything it cannot
// follow (a name built at run time, a loop over a command's output) is
// left out. The scripts are read together: a function one defines may be
// called from another that sources it.
//
// What it understands:
//   - the official images' file_env VAR [DEFAULT] (postgres, mysql, mariadb,
//     mongo, nextcloud, redmine...), and any function, whatever its name,
//     that builds "${1}_FILE" (or from a local set from $1) and reads that
//     file, with the calls naming the variable literally, in a for loop
//     over literal names, or over a literal array; a function that passes
//     its own $1 to such a function is one too (mariadb's
//     _mariadb_file_env);
//   - VAR=$(cat "$VAR_FILE"), VAR="$(< "${VAR_FILE}")" and
//     read -r VAR < "$VAR_FILE", unless the script sets VAR_FILE itself;
//   - a loop over the environment (env, printenv, compgen -e into a pipe)
//     filtered by grep '^PREFIX...__FILE' or sed 's/^\(...\)__FILE=...'
//     that reads each file and exports the name (grafana's run.sh):
//     Rule{Prefix, Suffix};
//   - linuxserver's FILE__ prefix (init-envfile): Rule{FilePrefix:
//     "FILE__"};
//   - gitea's environment-to-ini, which reads GITEA__SECTION__KEY__FILE;
//   - a PHP function reading getenv($env . '_FILE') with file_get_contents,
//     called with literal names (wordpress's getenv_docker in
//     wp-config-docker.php, which its entrypoint names).
func Scan(scripts ...Script) Conventions {
	var c Conventions
	parsed := make([]*parsedScript, 0, len(scripts))
	for _, s := range scripts {
		parsed = append(parsed, parseScript(s.Text))
		c.Scripts = append(c.Scripts, s.Path)
	}
	arrays := map[string][]string{}
	funcs := map[string]*shellFunc{}
	for _, p := range parsed {
		for name, words := range p.arrays {
			arrays[name] = words
		}
		for _, f := range p.funcs {
			funcs[f.name] = f
		}
	}

	// Functions that read "${1}_FILE", then those that pass their $1 on
	// to one of them, until nothing changes.
	fileFuncs := map[string]string{} // name -> suffix
	for _, f := range funcs {
		if suffix, ok := f.readsParamFile(); ok {
			fileFuncs[f.name] = suffix
		}
	}
	for changed := true; changed; {
		changed = false
		for _, f := range funcs {
			if _, ok := fileFuncs[f.name]; ok {
				continue
			}
			for _, call := range f.calls {
				suffix, ok := fileFuncs[call.name]
				if ok && call.arg != "" && f.params[paramName(call.arg)] {
					fileFuncs[f.name] = suffix
					changed = true
					break
				}
			}
		}
	}

	vars := map[string]string{}
	for _, p := range parsed {
		for _, call := range p.calls {
			suffix, ok := fileFuncs[call.name]
			if !ok {
				continue
			}
			for _, v := range resolveArg(call, arrays) {
				vars[v] = v + suffix
			}
		}
		for v, fv := range p.direct {
			vars[v] = fv
		}
		c.Rules = appendRules(c.Rules, p.rules...)
	}
	if len(vars) > 0 {
		c.Vars = vars
	}
	return c
}

func appendRules(rules []Rule, more ...Rule) []Rule {
	for _, r := range more {
		dup := false
		for _, have := range rules {
			if have == r {
				dup = true
			}
		}
		if !dup {
			rules = append(rules, r)
		}
	}
	return rules
}

// References returns the files a script sources or runs by a literal
// path (". /x", "source /x", "exec /x", "/x args", "sh /x") or by a bare
// name ending in .sh, in order, each once: the reader reads them too.
// Paths holding a variable or a glob (/docker-entrypoint.d/*.sh) are
// skipped.
func References(text string) []string {
	p := parseScript(text)
	return p.refs
}

// ServiceDirs returns the service directories a script hands to a
// supervisor (s6-svscan /etc/s6, runsvdir /etc/service): each service's
// run and setup scripts run too (gitea's /etc/s6/gitea/setup calls
// environment-to-ini).
func ServiceDirs(text string) []string {
	return parseScript(text).svcDirs
}

var (
	identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// A function header: "name() {", "function name {", "function name() {".
	funcHeaderRe = regexp.MustCompile(`^\s*(?:function\s+([A-Za-z_][A-Za-z0-9_:.-]*)\s*(?:\(\s*\))?|([A-Za-z_][A-Za-z0-9_:.-]*)\s*\(\s*\))\s*(\{.*)?$`)
	// A local set from the first argument: local var="$1", var=${1}.
	paramAssignRe = regexp.MustCompile(`(?:^|[\s;])([A-Za-z_][A-Za-z0-9_]*)=["']?(?:\$1|\$\{1(?::?-[^}]*)?\})["']?(?:\s|;|$)`)
	// "${var}_FILE", "${var}"_FILE, "$var"_FILE, ${1}__FILE.
	paramFileRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*|1)\}"?(_+FILE)\b|\$([A-Za-z_][A-Za-z0-9_]*|1)"(_+FILE)\b`)
	// Something in the text reads a file: $(< f), cat, head, read < f.
	readsFileRe = regexp.MustCompile(`\$\(\s*<|\bcat\b|\bhead\b|\bread\b[^\n]*<|\bmapfile\b|\breadarray\b|<\s*"?\$`)
	// VAR=$(cat "$VAR_FILE"), VAR="$(< "${VAR_FILE}")".
	directRe = regexp.MustCompile(`(?:^|[\s;&|])([A-Za-z_][A-Za-z0-9_]*)=["']?\$\(\s*(?:<\s*|cat\s+(?:--\s+)?)["']?\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?["']?\s*\)`)
	// read -r VAR < "$VAR_FILE".
	directReadRe = regexp.MustCompile(`\bread\s+(?:-[A-Za-z]+\s+)*([A-Za-z_][A-Za-z0-9_]*)\s*<\s*["']?\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)
	// A grep of the environment's names: grep [-flags] 'PATTERN'.
	grepRe = regexp.MustCompile(`\bgrep((?:\s+-[A-Za-z]+)*)\s+(?:'([^']*)'|"([^"]*)")`)
	// The environment listed into a pipe: env |, $(printenv |, compgen -e |.
	envListRe = regexp.MustCompile(`(?:^|\$\(|[|;&(])\s*(?:/usr/bin/)?(?:env|printenv|compgen\s+-e|compgen\s+-A\s+variable|export\s+-p|declare\s+-x)\s*\|`)
	suffixRe  = regexp.MustCompile(`(_+FILE)`)
	assignsRe = regexp.MustCompile(`\bexport\b|\bprintf\s+-v\b|\bdeclare\b|\beval\b|\btypeset\b`)
	// linuxserver's init-envfile strips FILE__ from the names it finds.
	filePrefixStripRe = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(?://FILE__/|#FILE__)\}|s/\^?(?:\.\*/)?FILE__//|s\|\^?(?:\.\*/)?FILE__\|\||s#\^?(?:\.\*/)?FILE__##`)
	arrayRe           = regexp.MustCompile(`(?:^|[\s;])(?:(?:local|declare|typeset)\s+(?:-[a-zA-Z]+\s+)*)?([A-Za-z_][A-Za-z0-9_]*)=\(([^)]*)\)`)
	arrayRefRe        = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\[[@*]\](?:/#/([A-Za-z0-9_]*))?\}$`)
)

// giteaRule is what gitea's environment-to-ini reads: GITEA__SECTION__KEY
// from the file GITEA__SECTION__KEY__FILE names.
var giteaRule = Rule{Prefix: "GITEA__", Suffix: "__FILE"}

type shellFunc struct {
	name     string
	bodyFrom int             // the line after the header
	params   map[string]bool // "1" and the locals set from $1
	body     string
	calls    []call
}

// readsParamFile reports whether the function reads the file named by the
// variable "<its first argument>_FILE", and the suffix.
func (f *shellFunc) readsParamFile() (string, bool) {
	if !readsFileRe.MatchString(f.body) {
		return "", false
	}
	for _, m := range paramFileRe.FindAllStringSubmatch(f.body, -1) {
		name, suffix := m[1], m[2]
		if name == "" {
			name, suffix = m[3], m[4]
		}
		if f.params[name] {
			return suffix, true
		}
	}
	return "", false
}

// call is a command naming a function, with its first argument (quotes
// removed) and the for loops around it.
type call struct {
	name  string
	arg   string
	loops []loop
}

type loop struct {
	variable string
	words    []string
}

type parsedScript struct {
	overflow int // do's past maxLoopDepth
	funcs    []*shellFunc
	calls    []call
	arrays   map[string][]string
	direct   map[string]string
	rules    []Rule
	refs     []string
	svcDirs  []string
}

// logicalLines splits a script into logical lines: continued lines and
// quoted strings that span lines (an awk program, a SQL script) are
// joined into one, comments are removed, and here-documents' bodies are
// blanked (they are data, not commands).
func logicalLines(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\\\n", " ")
	var out []string
	var cur strings.Builder
	var quote byte
	ansi := false
	delim := ""
	for _, l := range strings.Split(text, "\n") {
		if delim != "" {
			if strings.TrimSpace(l) == delim {
				delim = ""
			}
			out = append(out, "")
			continue
		}
	chars:
		for i := 0; i < len(l); i++ {
			ch := l[i]
			switch {
			case quote != 0:
				if ch == '\\' && (quote == '"' || ansi) && i+1 < len(l) {
					cur.WriteByte(ch)
					i++
					ch = l[i]
				} else if ch == quote {
					quote = 0
				}
			case ch == '\\' && i+1 < len(l):
				cur.WriteByte(ch)
				i++
				ch = l[i]
			case ch == '\'' || ch == '"':
				quote = ch
				// $'...' takes backslash escapes, \' among them.
				ansi = ch == '\'' && i > 0 && l[i-1] == '$'
			case ch == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t' || l[i-1] == ';'):
				break chars
			}
			cur.WriteByte(ch)
		}
		if quote != 0 {
			// The string goes on: one logical line.
			cur.WriteByte(' ')
			continue
		}
		line := cur.String()
		cur.Reset()
		out = append(out, line)
		if m := heredocRe.FindStringSubmatch(line); m != nil {
			delim = m[2]
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

var heredocRe = regexp.MustCompile(`(?:^|[^<])<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)['"]?`)

// tokens splits a line into words and the separators ; & | ( ) between
// commands. Quotes, ${...} and $(...) stay inside their word.
func tokens(line string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	var quote byte
	depth := 0 // inside $( ... ) or ${ ... }
	for i := 0; i < len(line); i++ {
		ch := line[i]
		if quote != 0 {
			cur.WriteByte(ch)
			if ch == '\\' && quote == '"' && i+1 < len(line) {
				i++
				cur.WriteByte(line[i])
			} else if ch == quote {
				quote = 0
			}
			continue
		}
		switch {
		case ch == '\\' && i+1 < len(line):
			cur.WriteByte(ch)
			i++
			cur.WriteByte(line[i])
		case ch == '\'' || ch == '"':
			quote = ch
			cur.WriteByte(ch)
		case ch == '$' && i+1 < len(line) && (line[i+1] == '(' || line[i+1] == '{'):
			depth++
			cur.WriteByte(ch)
			i++
			cur.WriteByte(line[i])
		case depth > 0:
			if ch == '(' || ch == '{' {
				depth++
			} else if ch == ')' || ch == '}' {
				depth--
			}
			cur.WriteByte(ch)
		case ch == ' ' || ch == '\t':
			flush()
		case ch == ';' || ch == '&' || ch == '|' || ch == '(' || ch == ')':
			flush()
			out = append(out, string(ch))
		default:
			cur.WriteByte(ch)
		}
	}
	flush()
	return out
}

// commandStarters are the words after which the next word is a command.
var commandStarters = map[string]bool{
	";": true, "&": true, "|": true, "(": true, ")": true, "{": true, "}": true,
	"then": true, "do": true, "else": true, "elif": true, "if": true,
	"while": true, "until": true, "!": true, "time": true,
}

func unquote(w string) string {
	if len(w) >= 2 && (w[0] == '"' || w[0] == '\'') && w[len(w)-1] == w[0] {
		return w[1 : len(w)-1]
	}
	return w
}

// paramName is the variable a word expands, "" when it is anything else:
// "$var", "${var}", "$1".
func paramName(word string) string {
	w := unquote(word)
	if strings.HasPrefix(w, "${") && strings.HasSuffix(w, "}") {
		w = "$" + w[2:len(w)-1]
	}
	if !strings.HasPrefix(w, "$") {
		return ""
	}
	name := w[1:]
	if name == "1" || identRe.MatchString(name) {
		return name
	}
	return ""
}

func parseScript(text string) *parsedScript {
	p := &parsedScript{arrays: map[string][]string{}, direct: map[string]string{}}
	lines := logicalLines(text)
	joined := strings.Join(lines, "\n")

	for _, m := range arrayRe.FindAllStringSubmatch(joined, -1) {
		var words []string
		for _, w := range strings.Fields(m[2]) {
			words = append(words, unquote(w))
		}
		p.arrays[m[1]] = words
	}
	assigned := map[string]bool{}
	for _, l := range lines {
		if !strings.Contains(l, "_FILE=") {
			continue
		}
		for _, t := range tokens(l) {
			if name, _, ok := strings.Cut(t, "="); ok && identRe.MatchString(name) {
				assigned[name] = true
			}
		}
	}
	addDirect := func(v, fv string) {
		// A file variable the script sets itself is not the user's.
		if (fv == v+"_FILE" || fv == v+"__FILE") && !assigned[fv] {
			p.direct[v] = fv
		}
	}
	for _, m := range directRe.FindAllStringSubmatch(joined, -1) {
		addDirect(m[1], m[2])
	}
	for _, m := range directReadRe.FindAllStringSubmatch(joined, -1) {
		addDirect(m[1], m[2])
	}

	if strings.Contains(joined, "FILE__") && filePrefixStripRe.MatchString(joined) && readsFileRe.MatchString(joined) {
		p.rules = append(p.rules, Rule{FilePrefix: "FILE__"})
	}
	for _, l := range lines {
		if !strings.Contains(l, "environment-to-ini") {
			continue
		}
		if ts := tokens(l); len(ts) > 0 && commandPositions(ts)["environment-to-ini"] {
			p.rules = append(p.rules, giteaRule)
			break
		}
	}

	p.walk(lines)
	for _, m := range phpPathRe.FindAllStringSubmatch(joined, -1) {
		if !strings.ContainsAny(m[1], "$*?") && !slices.Contains(p.refs, m[1]) {
			p.refs = append(p.refs, m[1])
		}
	}
	if strings.Contains(text, "<?php") {
		p.scanPHP(text)
	}
	return p
}

var (
	// An absolute .php path anywhere: the official wordpress entrypoint
	// copies /usr/src/wordpress/wp-config-docker.php into place.
	phpPathRe     = regexp.MustCompile(`(?:^|[\s'"=])(/[A-Za-z0-9_./-]+\.php)\b`)
	phpCommentRe  = regexp.MustCompile(`(?ms)/\*.*?\*/|(?:^|\s)(?://|#)[^\n]*`)
	phpFuncRe     = regexp.MustCompile(`\bfunction\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*\$([A-Za-z_][A-Za-z0-9_]*)`)
	phpReadFileRe = regexp.MustCompile(`\bfile_get_contents\s*\(|\bfopen\s*\(|\bfile\s*\(`)
)

// scanPHP finds PHP functions that read getenv($param . '_FILE') and
// read that file (wordpress's getenv_docker), and their calls with a
// literal name: getenv_docker('WORDPRESS_DB_PASSWORD', ...).
func (p *parsedScript) scanPHP(text string) {
	text = phpCommentRe.ReplaceAllString(text, "\n")
	done := map[string]bool{}
	for _, m := range phpFuncRe.FindAllStringSubmatchIndex(text, -1) {
		name, param := text[m[2]:m[3]], text[m[4]:m[5]]
		body := text[m[1]:]
		if next := phpFuncRe.FindStringIndex(body); next != nil {
			body = body[:next[0]]
		}
		fileRe := regexp.MustCompile(`\$` + param + `\s*\.\s*['"](_+FILE)['"]`)
		fm := fileRe.FindStringSubmatch(body)
		if fm == nil || !phpReadFileRe.MatchString(body) || done[name] {
			continue
		}
		done[name] = true
		callRe := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\s*\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]`)
		for _, c := range callRe.FindAllStringSubmatch(text, -1) {
			p.direct[c[1]] = c[1] + fm[1]
		}
	}
}

// commandPositions returns the base names of the words of a line that
// are in command position.
func commandPositions(ts []string) map[string]bool {
	out := map[string]bool{}
	start := true
	for _, t := range ts {
		if start && !commandStarters[t] {
			out[path.Base(unquote(t))] = true
		}
		start = commandStarters[t] || t == "exec"
	}
	return out
}

const (
	// maxLoopDepth bounds the loops followed one inside another.
	maxLoopDepth = 32
	// maxEnvLoopLines bounds the body of a loop over the environment.
	maxEnvLoopLines = 200
)

// frame is one do ... done block; for a for loop, its variable and words,
// and for a loop over the environment, the rule it would make.
type frame struct {
	loop     *loop
	rule     *Rule
	bodyFrom int
}

// walk reads the script line by line: function definitions, calls, for
// loops, loops over the environment and the files the script runs.
func (p *parsedScript) walk(lines []string) {
	var stack []frame
	var pendingFor *loop
	var pendingRule *Rule
	var fn *shellFunc
	fnIndent := 0
	seenRef := map[string]bool{}
	addRef := func(w string) {
		w = unquote(w)
		if w == "" || strings.ContainsAny(w, "$*?`[ ") || seenRef[w] {
			return
		}
		if strings.HasPrefix(w, "/") {
			for _, skip := range []string{"/dev/", "/proc/", "/sys/"} {
				if strings.HasPrefix(w, skip) {
					return
				}
			}
		} else if strings.Contains(w, "/") || !strings.HasSuffix(w, ".sh") {
			return
		}
		seenRef[w] = true
		p.refs = append(p.refs, w)
	}

	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		if fn != nil && strings.HasPrefix(trimmed, "}") && indent <= fnIndent {
			fn.body = strings.Join(lines[fn.bodyFrom:i], "\n")
			fn = nil
			continue
		}
		if !strings.Contains(line, "(") && !strings.Contains(line, "function") {
			p.walkLine(tokens(line), fn, &stack, &pendingFor, &pendingRule, i, addRef, lines)
			if fn != nil {
				p.collectParams(fn, line)
			}
			continue
		}
		if m := funcHeaderRe.FindStringSubmatch(line); m != nil {
			name := m[1]
			if name == "" {
				name = m[2]
			}
			f := &shellFunc{name: name, params: map[string]bool{"1": true}}
			p.funcs = append(p.funcs, f)
			rest := strings.TrimSpace(m[3])
			if strings.HasPrefix(rest, "{") && strings.HasSuffix(rest, "}") && len(rest) > 1 {
				// A one-line function.
				f.body = rest[1 : len(rest)-1]
				p.collectParams(f, f.body)
				p.walkLine(tokens(f.body), f, &stack, &pendingFor, &pendingRule, i, addRef, lines)
				continue
			}
			fn, fnIndent, f.bodyFrom = f, indent, i+1
			continue
		}
		if fn != nil {
			p.collectParams(fn, line)
		}
		p.walkLine(tokens(line), fn, &stack, &pendingFor, &pendingRule, i, addRef, lines)
	}
	if fn != nil {
		// Never closed: the rest of the script.
		fn.body = strings.Join(lines[fn.bodyFrom:], "\n")
	}
}

func (p *parsedScript) collectParams(f *shellFunc, text string) {
	for _, m := range paramAssignRe.FindAllStringSubmatch(text, -1) {
		f.params[m[1]] = true
	}
}

func (p *parsedScript) walkLine(ts []string, fn *shellFunc, stack *[]frame, pendingFor **loop, pendingRule **Rule, lineNo int, addRef func(string), lines []string) {
	start := true
	for j := 0; j < len(ts); j++ {
		t := ts[j]
		if !start {
			start = commandStarters[t]
			continue
		}
		switch t {
		case "for":
			if j+2 < len(ts) && identRe.MatchString(ts[j+1]) && ts[j+2] == "in" {
				l := &loop{variable: ts[j+1]}
				k := j + 3
				for ; k < len(ts) && ts[k] != ";" && ts[k] != "do"; k++ {
					l.words = append(l.words, ts[k])
				}
				*pendingFor = l
				if r := envLoopRule(strings.Join(ts[j+3:k], " ")); r != nil {
					*pendingRule = r
				}
				j = k - 1
			}
			start = false
			continue
		case "while", "until":
			// env | grep ... | while read name; do: the pipeline is before.
			if r := envLoopRule(strings.Join(ts[:j], " ")); r != nil {
				*pendingRule = r
			}
		case "do":
			if len(*stack) < maxLoopDepth {
				*stack = append(*stack, frame{loop: *pendingFor, rule: *pendingRule, bodyFrom: lineNo})
			} else {
				p.overflow++
			}
			*pendingFor, *pendingRule = nil, nil
			start = true
			continue
		case "done":
			if p.overflow > 0 {
				p.overflow--
			} else if n := len(*stack); n > 0 {
				f := (*stack)[n-1]
				*stack = (*stack)[:n-1]
				if f.rule != nil {
					// A loop that converts the environment is short.
					body := strings.Join(lines[f.bodyFrom:min(lineNo+1, f.bodyFrom+maxEnvLoopLines)], "\n")
					if readsFileRe.MatchString(body) && assignsRe.MatchString(body) {
						p.rules = appendRules(p.rules, *f.rule)
					}
				}
			}
			start = false
			continue
		}
		if commandStarters[t] {
			continue
		}
		start = false
		// A command: a call, and maybe a file it runs.
		var arg string
		if j+1 < len(ts) && !commandStarters[ts[j+1]] {
			arg = unquote(ts[j+1])
			if paramName(ts[j+1]) != "" {
				arg = ts[j+1]
			}
		}
		var loops []loop
		if arg != "" && paramName(arg) != "" {
			// Only a call with "$v" needs the loops around it.
			for _, f := range *stack {
				if f.loop != nil {
					loops = append(loops, *f.loop)
				}
			}
		}
		c := call{name: t, arg: arg, loops: loops}
		if fn != nil {
			fn.calls = append(fn.calls, c)
		}
		p.calls = append(p.calls, c)

		addRef(t)
		if b := path.Base(unquote(t)); (b == "s6-svscan" || b == "runsvdir") && j+1 < len(ts) {
			if d := unquote(ts[j+1]); path.IsAbs(d) && !strings.ContainsAny(d, "$*?`") && !slices.Contains(p.svcDirs, d) {
				p.svcDirs = append(p.svcDirs, d)
			}
		}
		if k := wrapped(ts, j); k > j {
			// exec CMD, gosu USER CMD, tini -- CMD, . FILE, sh FILE: the
			// word at k is a command (or a script) too.
			j = k - 1
			start = true
		}
	}
}

// wrappers run the command that follows their own options; userWrappers
// take a user first.
var (
	wrappers = map[string]bool{
		"exec": true, "command": true, "nohup": true, "builtin": true,
		".": true, "source": true, "sh": true, "bash": true, "ash": true, "dash": true, "zsh": true,
		"tini": true, "tini-static": true, "dumb-init": true, "docker-init": true, "catatonit": true,
		"env": true, "with-contenv": true,
	}
	userWrappers = map[string]bool{"gosu": true, "su-exec": true, "s6-setuidgid": true}
)

// wrapped returns the index of the command word ws[j] runs (exec CMD,
// gosu USER CMD, tini -- CMD, env A=b CMD, sh FILE), or -1. A shell given
// -c runs a string, not a file: -1.
func wrapped(ws []string, j int) int {
	name := path.Base(unquote(ws[j]))
	k := j + 1
	switch {
	case userWrappers[name]:
		k++
	case wrappers[name]:
		for k < len(ws) && strings.HasPrefix(ws[k], "-") && ws[k] != "--" {
			if shells[name] && strings.Contains(ws[k], "c") && !strings.HasPrefix(ws[k], "--") {
				return -1
			}
			k++
		}
		if k < len(ws) && ws[k] == "--" {
			k++
		}
		if name == "env" {
			for k < len(ws) && strings.Contains(ws[k], "=") {
				k++
			}
		}
	default:
		return -1
	}
	if k >= len(ws) || commandStarters[ws[k]] {
		return -1
	}
	return k
}

var shells = map[string]bool{"sh": true, "bash": true, "ash": true, "dash": true, "zsh": true}

// envLoopRule reads the words of a loop over the environment's names: a
// grep (not -v) or a sed s command whose pattern is ^PREFIX...(_)_FILE
// gives the rule.
func envLoopRule(words string) *Rule {
	if !envListRe.MatchString(words) {
		return nil
	}
	var patterns []string
	for _, m := range grepRe.FindAllStringSubmatch(words, -1) {
		if !strings.Contains(m[1], "v") {
			patterns = append(patterns, m[2]+m[3])
		}
	}
	for _, m := range sedRe.FindAllStringSubmatch(words, -1) {
		if p, ok := sedPattern(m[1] + m[2]); ok {
			patterns = append(patterns, p)
		}
	}
	for _, pattern := range patterns {
		if r := fileRule(pattern); r != nil {
			return r
		}
	}
	return nil
}

// sedRe finds a sed script in quotes.
var sedRe = regexp.MustCompile(`\bsed\b(?:\s+-[A-Za-z]+)*\s+(?:'([^']*)'|"([^"]*)")`)

// sedPattern is the pattern of a sed s command: s/PATTERN/...
func sedPattern(script string) (string, bool) {
	if len(script) < 2 || script[0] != 's' {
		return "", false
	}
	delim := script[1]
	for i := 2; i < len(script); i++ {
		switch script[i] {
		case '\\':
			i++
		case delim:
			return script[2:i], true
		}
	}
	return "", false
}

// fileRule reads a pattern matching NAME=value lines of the environment:
// ^PREFIX...(_)_FILE= gives {PREFIX, (_)_FILE}.
func fileRule(pattern string) *Rule {
	sm := suffixRe.FindStringIndex(pattern)
	if sm == nil {
		return nil
	}
	prefix := ""
	if rest, ok := strings.CutPrefix(pattern, "^"); ok {
		// A group around the name: ^\(NAME...\) or ^(NAME...).
		skipped := len(pattern) - len(rest)
		for _, open := range []string{"\\(", "("} {
			if r, ok := strings.CutPrefix(rest, open); ok {
				rest, skipped = r, skipped+len(open)
				break
			}
		}
		k := 0
		for k < len(rest) && (rest[k] == '_' || rest[k] >= 'A' && rest[k] <= 'Z' || rest[k] >= 'a' && rest[k] <= 'z' || rest[k] >= '0' && rest[k] <= '9') {
			k++
		}
		if skipped+k > sm[0] {
			// '^NAME_FILE': one variable, not a family.
			return nil
		}
		prefix = rest[:k]
	}
	suffix := pattern[sm[0]:sm[1]]
	// The suffix must end the name: FILE= or FILE$ or the pattern's end.
	rest := pattern[sm[1]:]
	if rest != "" && !strings.HasPrefix(rest, "=") && !strings.HasPrefix(rest, "$") && !strings.HasPrefix(rest, "\\b") {
		return nil
	}
	return &Rule{Prefix: prefix, Suffix: suffix}
}

// resolveArg returns the variable names a call's first argument stands
// for: itself when literal, the words of the for loop whose variable it
// is, when they are literal names or literal arrays of them.
func resolveArg(c call, arrays map[string][]string) []string {
	if identRe.MatchString(c.arg) {
		return []string{c.arg}
	}
	v := paramName(c.arg)
	if v == "" {
		return nil
	}
	for i := len(c.loops) - 1; i >= 0; i-- {
		l := c.loops[i]
		if l.variable != v {
			continue
		}
		var out []string
		for _, w := range l.words {
			out = append(out, expandWord(unquote(w), arrays, 0)...)
		}
		sort.Strings(out)
		return out
	}
	return nil
}

func expandWord(w string, arrays map[string][]string, depth int) []string {
	if identRe.MatchString(w) {
		return []string{w}
	}
	m := arrayRefRe.FindStringSubmatch(w)
	if m == nil || depth > 4 {
		return nil
	}
	var out []string
	for _, e := range arrays[m[1]] {
		for _, name := range expandWord(e, arrays, depth+1) {
			if n := m[2] + name; identRe.MatchString(n) {
				out = append(out, n)
			}
		}
	}
	return out
}
