package migrate

import (
	"bytes"
	"regexp"
	"sort"
	"strings"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/yamledit"
	yaml "go.yaml.in/yaml/v3"
)

// masked is what a value is replaced with.
const masked = "********"

// Mask hides values in diffs. Which lines hold a value is known from where
// values are written, in the files as they are (old) and as the plan
// writes them (new):
//
//   - in a compose file, every environment entry's value (all of its lines,
//     for a value spanning lines) unless Detect judged that very entry not
//     a secret: a value Detect did not judge (an entry a later file
//     overrides, a duplicate in a list) is hidden too. A `${VAR}` entry
//     shows, the value is not written there, unless it writes a default;
//   - every node Detect found a secret in (build args, a healthcheck or
//     command holding a copy);
//   - every value written in a service whose profile is not active: it was
//     not checked;
//   - in an env file, every statement's value unless Detect judged the
//     variable it defines not a secret; duplicates and unused keys are
//     hidden;
//   - on the new side, only what migrate itself writes shows (VAR_FILE and
//     its /run/secrets path) besides entries judged not secrets.
//
// A masked line keeps its indentation, key and "=" or ": ", and the rest
// becomes ********. Then every line goes through a second net: any
// occurrence of a secret value (or of one line of a multi-line value)
// becomes ********, longest first.
type Mask struct {
	p *compose.Project
	// blank replaces every secret value with asterisks in one pass over a
	// line, the longest value winning where several start at one place.
	blank *strings.Replacer
	// hasBlank: blank replaces something.
	hasBlank bool
	// shown are the positions (file, line, column; column 0 in env files)
	// of entries Detect judged not secrets, or whose value is not written
	// there; secret those of the ones it judged secrets.
	shown, secret map[compose.Position]bool
	// refOnly are the positions of secrets interpolated from elsewhere.
	refOnly map[compose.Position]bool
	// secretNodes are the compose-file positions of the other nodes that
	// hold a secret (build args, healthcheck, command).
	secretNodes map[string][]compose.Position
	// plainVars are service+"\x00"+variable pairs Detect judged not
	// secrets (and never secrets); written are those migrate writes, with
	// their value (a /run/secrets path or a secret name).
	plainVars map[string]bool
	written   map[string]string
	// writtenEnv is the same for env files, by variable alone: one env
	// file may serve several services.
	writtenEnv map[string]map[string]bool
	disabled   []string
}

// NewMask prepares the mask of a project's diffs from what Detect found.
func NewMask(p *compose.Project, r *compose.Report) *Mask {
	m := &Mask{
		p:           p,
		shown:       map[compose.Position]bool{},
		secret:      map[compose.Position]bool{},
		refOnly:     map[compose.Position]bool{},
		secretNodes: map[string][]compose.Position{},
		plainVars:   map[string]bool{},
		written:     map[string]string{},
		writtenEnv:  map[string]map[string]bool{},
	}
	values := &valueSet{seen: map[string]bool{}}
	secretVars := map[string]bool{}
	for _, f := range r.Findings {
		if f.Verdict != compose.VerdictSecret {
			m.notSecret(f)
			continue
		}
		values.addValue(f.Value)
		secretVars[f.Service+"\x00"+f.Variable] = true
		m.isSecret(f)
	}
	for k := range secretVars {
		delete(m.plainVars, k)
	}
	for _, s := range r.Secrets {
		values.addValue(s.Value)
	}
	if p != nil && p.Compose != nil {
		for name := range p.Compose.DisabledServices {
			m.disabled = append(m.disabled, name)
		}
		sort.Strings(m.disabled)
	}
	m.setBlank(values.list)
	return m
}

// valueSet gathers the secret values the net blanks, each once, and every
// line of a multi-line value on its own.
type valueSet struct {
	list []string
	seen map[string]bool
}

func (s *valueSet) add(v string) {
	if v = strings.TrimSpace(v); v != "" && !s.seen[v] {
		s.seen[v] = true
		s.list = append(s.list, v)
	}
}

func (s *valueSet) addValue(v []byte) {
	s.add(string(v))
	if bytes.ContainsAny(v, "\r\n") {
		for _, l := range strings.FieldsFunc(string(v), func(r rune) bool { return r == '\n' || r == '\r' }) {
			s.add(l)
		}
	}
}

// envPos is a finding's position as the mask keys it: env files by line
// alone.
func (m *Mask) envPos(p compose.Position) compose.Position {
	if m.isCompose(p.File) {
		return p
	}
	return compose.Position{File: p.File, Line: p.Line}
}

// notSecret records where a finding Detect judged not a secret is written,
// so that it shows.
func (m *Mask) notSecret(f compose.Finding) {
	if f.Source.Position.File != "" && f.Source.Kind != compose.SourcePassThrough {
		m.shown[m.envPos(f.Source.Position)] = true
	}
	for _, ref := range f.Source.Refs {
		if ref.Position.File != "" && ref.Origin != compose.OriginDefault {
			m.shown[m.envPos(ref.Position)] = true
		}
	}
	if f.Source.Field == "environment" || f.Source.Kind == compose.SourceEnvFile {
		m.plainVars[f.Service+"\x00"+f.Variable] = true
	}
}

// isSecret records where a secret is written, and what migrate writes in
// its place.
func (m *Mask) isSecret(f compose.Finding) {
	pos := f.Source.Position
	defaulted := false
	for _, ref := range f.Source.Refs {
		if ref.Origin == compose.OriginDefault {
			defaulted = true
		}
		if ref.Position.File != "" && ref.Origin != compose.OriginDefault {
			m.secret[m.envPos(ref.Position)] = true
		}
	}
	switch {
	case pos.File == "":
	case (f.Source.Kind == compose.SourceInterpolated || f.Source.Kind == compose.SourcePassThrough) && !defaulted:
		// The entry holds ${VAR}, not the value: it shows unless it
		// writes a default or alternate value, used or not.
		m.refOnly[pos] = true
	case f.Source.Kind == compose.SourceLiteral || f.Source.Kind == compose.SourceInterpolated || f.Source.Kind == compose.SourceEnvFile:
		m.secret[m.envPos(pos)] = true
	default:
		m.secretNodes[pos.File] = append(m.secretNodes[pos.File], pos)
	}
	if f.Action == compose.ActionMigrate && f.FileVariable != "" {
		target := "/run/secrets/" + f.SecretName
		if f.FileVariableKind == compose.FileVarName {
			target = f.SecretName
		}
		m.written[f.Service+"\x00"+f.FileVariable] = target
		if m.writtenEnv[f.FileVariable] == nil {
			m.writtenEnv[f.FileVariable] = map[string]bool{}
		}
		m.writtenEnv[f.FileVariable][target] = true
	}
}

// setBlank builds the value net, longest value first.
func (m *Mask) setBlank(values []string) {
	sort.SliceStable(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	pairs := make([]string, 0, 2*len(values)+2)
	for _, v := range values {
		pairs = append(pairs, v, masked)
	}
	// With one pair, NewReplacer builds a Boyer-Moore finder, whose table
	// takes time quadratic in the length of a repetitive value (a 256 KB
	// value of one letter: a minute). A pair that never changes anything
	// makes it build its trie, linear in the values' length.
	pairs = append(pairs, "\x00\x00", "\x00\x00")
	m.blank = strings.NewReplacer(pairs...)
	m.hasBlank = len(values) > 0
}

// isCompose reports whether path is one of the project's compose files.
func (m *Mask) isCompose(path string) bool {
	return m.p != nil && fileOf(m.p, path) != nil
}

// writesValue matches a ${VAR:-default}, ${VAR-default}, ${VAR:+alt} or
// ${VAR+alt}: an interpolation that writes a value of its own.
var writesValue = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*:?[-+]`)

// lineMask is which lines of one side of a file to mask: line -> the byte
// column the value starts at, or -1 for a continuation line (masked after
// its indentation).
type lineMask map[int]int

func (lm lineMask) add(e yamledit.Extent) {
	if e.Line <= 0 {
		return
	}
	lm.set(e.Line, e.Col)
	for l := e.Line + 1; l <= e.EndLine; l++ {
		lm.set(l, -1)
	}
}

func (lm lineMask) set(line, col int) {
	if c, ok := lm[line]; !ok || col < c {
		lm[line] = col
	}
}

// everything masks every line of a file this package cannot read: after
// its key where a line looks like `key: value` or `KEY=value`, whole
// otherwise, comments and bare keys kept.
func everything(lines []string) lineMask {
	lm := lineMask{}
	for i, l := range lines {
		body := strings.TrimSpace(l)
		if body == "" || body[0] == '#' || (strings.HasSuffix(body, ":") && !strings.Contains(body, ": ")) {
			continue
		}
		col := -1
		if j := strings.Index(l, ": "); j >= 0 {
			col = j + 2
		}
		if j := strings.IndexByte(l, '='); j >= 0 && (col < 0 || j+1 < col) {
			col = j + 1
		}
		if col < 0 {
			if j := strings.Index(l, "- "); j >= 0 && strings.TrimSpace(l[:j]) == "" {
				col = j + 2
			}
		}
		lm[i+1] = col
	}
	return lm
}

// containsValue reports whether s holds a secret value.
func (m *Mask) containsValue(s string) bool {
	return m.hasBlank && m.blank.Replace(s) != s
}

// oldLines is the mask of a file as it is.
func (m *Mask) oldLines(f *File, lines []string) lineMask {
	switch f.Kind {
	case "compose":
		var cf *compose.File
		if m.p != nil {
			cf = fileOf(m.p, f.Path)
		}
		if cf == nil {
			return everything(lines)
		}
		if len(cf.Docs) != 1 {
			return everything(lines)
		}
		v, env, ok := composeEnv(f.Old, cf.Docs[0])
		if !ok {
			return everything(lines)
		}
		lm := lineMask{}
		for _, e := range env {
			pos := compose.Position{File: f.Path, Line: e.Line, Column: e.Column}
			show := m.shown[pos] || m.refOnly[pos] && !writesValue.MatchString(e.Value)
			if e.HasValue && (m.secret[pos] || !show) {
				lm.add(e.Extent)
			}
		}
		for _, pos := range m.secretNodes[f.Path] {
			if e, ok := v.At(pos.Line, pos.Column); ok {
				lm.add(e)
			} else {
				lm.set(pos.Line, -1)
			}
		}
		m.common(v, lm)
		return lm
	case "env":
		stmts, err := yamledit.EnvStatements(f.Old)
		if err != nil {
			return everything(lines)
		}
		lm := lineMask{}
		for _, s := range stmts {
			pos := compose.Position{File: f.Path, Line: s.Line}
			if s.HasValue && (m.secret[pos] || !m.shown[pos]) {
				lm.add(s.Extent)
			}
		}
		return lm
	}
	return lineMask{}
}

// newLines is the mask of a file as the plan writes it. Only the lines the
// diff adds use it: a line both sides have is masked as the old side says.
func (m *Mask) newLines(f *File, lines []string) lineMask {
	switch f.Kind {
	case "compose":
		v, env, ok := composeEnv(f.New, nil)
		if !ok {
			return everything(lines)
		}
		lm := lineMask{}
		for _, e := range env {
			key := e.Service + "\x00" + e.Key
			if e.HasValue && !m.plainVars[key] && !(m.written[key] != "" && m.written[key] == e.Value) {
				lm.add(e.Extent)
			}
		}
		m.common(v, lm)
		return lm
	case "env":
		stmts, err := yamledit.EnvStatements(f.New)
		if err != nil {
			return everything(lines)
		}
		lm := lineMask{}
		for _, s := range stmts {
			if s.HasValue && !m.writtenEnv[s.Key][s.Raw] {
				lm.add(s.Extent)
			}
		}
		return lm
	}
	return lineMask{}
}

// composeEnv reads the environment entries of a compose file's content
// (root: its parsed document, nil to parse it); ok is false when it cannot,
// and the caller masks everything.
func composeEnv(content []byte, root *yaml.Node) (v *yamledit.Values, env []yamledit.EnvValue, ok bool) {
	v, err := yamledit.ValuesOf(content, root)
	if err != nil {
		return nil, nil, false
	}
	if env, err = v.Env(); err != nil {
		return nil, nil, false
	}
	return v, env, true
}

// common masks, on either side of a compose file, the services behind an
// inactive profile and every scalar that holds a secret value.
func (m *Mask) common(v *yamledit.Values, lm lineMask) {
	for _, name := range m.disabled {
		for _, e := range v.Service(name) {
			lm.add(e)
		}
	}
	if m.hasBlank {
		v.Scalars(func(value string, e yamledit.Extent) {
			if m.containsValue(value) {
				lm.add(e)
			}
		})
	}
}

// maskLine applies a line's mask (see lineMask) and then the value net.
func (m *Mask) maskLine(line string, col int, ok bool) string {
	if ok {
		body := strings.TrimRight(line, "\r\n")
		eol := line[len(body):]
		indent := len(body) - len(strings.TrimLeft(body, " \t"))
		if col < indent {
			col = indent
		}
		if col < len(body) && strings.TrimSpace(body[col:]) != "" {
			line = body[:col] + masked + eol
		}
	}
	if m.hasBlank {
		line = m.blank.Replace(line)
	}
	return line
}
