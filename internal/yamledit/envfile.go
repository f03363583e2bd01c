package yamledit

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// EnvFile is a .env or env_file file being edited. It reads statements the
// way compose-go's dotenv package does (`KEY=value`, `KEY: value`, an
// `export ` prefix, `KEY` alone to inherit, '#' comments, single- and
// double-quoted values that may span lines) and removes them byte-exactly.
type EnvFile struct {
	filename string
	data     []byte
	stmts    []envStmt
}

// envStmt is one statement: [start, end) spans from its first character
// (or "export") to the end of its value.
type envStmt struct {
	key        string
	start, end int
	// inherited: `KEY` alone, whose value comes from the environment.
	inherited bool
}

// ParseEnvFile parses an env file. It fails where compose would fail to
// read the file, with the file and line but never the value.
func ParseEnvFile(filename string, data []byte) (*EnvFile, error) {
	stmts, err := scanEnv(filename, data)
	if err != nil {
		return nil, err
	}
	// Cross-check with compose's own parser: a file it reads differently
	// (or not at all) must not be edited by this one's reading of it.
	got, err := composeRead(data)
	if err != nil {
		// compose-go's message can quote the value: not repeated here.
		where := filename
		if line, _, ok := failingStmt(data, stmts, func(b []byte) error {
			_, err := composeRead(b)
			return err
		}); ok {
			where = fmt.Sprintf("%s:%d", filename, line)
		}
		return nil, fmt.Errorf("%s: %w: compose cannot read this env file (check quoting and ${...} syntax)", where, ErrUnsupported)
	}
	e := &EnvFile{filename: filename, data: bytes.Clone(data), stmts: stmts}
	keys := e.Keys()
	slices.Sort(keys)
	var want []string
	for k := range got {
		want = append(want, k)
	}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		return nil, fmt.Errorf("%s: %w: this env file reads differently in compose", filename, ErrUnsupported)
	}
	return e, nil
}

// EnvSyntaxError is an env file that compose's parser cannot read: the
// line and the reason, never the text, which may be a secret value.
type EnvSyntaxError struct {
	File string
	Line int
	// Key is the variable whose value is malformed, "" when its name is.
	Key    string
	Reason string
	// unsupported: also a file this package cannot edit (ErrUnsupported).
	unsupported bool
}

func (e *EnvSyntaxError) Error() string {
	r := e.Reason
	if e.unsupported {
		r = ErrUnsupported.Error() + ": " + r
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, r)
}

func (e *EnvSyntaxError) Unwrap() error {
	if e.unsupported {
		return ErrUnsupported
	}
	return nil
}

// LocateEnvError says where in an env file compose's parser fails: parse
// is that parser with a fixed lookup (a pure function of its input), and
// data the file. A syntax error (an unclosed quote, a bad variable name)
// comes back as the *EnvSyntaxError that names its line; any other failure
// (a bad ${...}, a required variable unset) is found by parsing data cut
// after each statement: the parser reads statements in order, so the
// first cut it rejects ends with the statement at fault, whose line and
// key are returned. ok is false when neither finds it. Nothing returned
// quotes the file.
func LocateEnvError(data []byte, parse func([]byte) error) (line int, key string, err error, ok bool) {
	stmts, err := scanEnv("", data)
	if err != nil {
		var se *EnvSyntaxError
		if errors.As(err, &se) {
			return se.Line, se.Key, se, true
		}
		return 0, "", nil, false
	}
	line, key, ok = failingStmt(data, stmts, parse)
	return line, key, nil, ok
}

// failingStmt returns the line and key of the first statement after which
// a cut of data fails to parse.
func failingStmt(data []byte, stmts []envStmt, parse func([]byte) error) (int, string, bool) {
	cut := func(s envStmt) []byte {
		end := s.end
		if s.inherited && end < len(data) {
			end++ // `KEY` alone reads as inherited only with its newline
		}
		return data[:end]
	}
	i := sort.Search(len(stmts), func(i int) bool { return parse(cut(stmts[i])) != nil })
	if i == len(stmts) {
		return 0, "", false
	}
	return bytes.Count(data[:stmts[i].start], []byte("\n")) + 1, stmts[i].key, true
}

var envExportRe = regexp.MustCompile(`^export\s+`)

// scanEnv follows compose-go/v2/dotenv's parser step by step. That parser
// always continues on a suffix of the input, so the offset of where it is
// is len(data) minus the length of what is left.
func scanEnv(filename string, data []byte) ([]envStmt, error) {
	src := string(data)
	src = strings.TrimPrefix(src, utf8BOM)
	off := func(rest string) int { return len(data) - len(rest) }
	lineOf := func(p int) int { return bytes.Count(data[:p], []byte("\n")) + 1 }
	var out []envStmt
	rest := src
	for {
		rest = envStatementStart(rest)
		if rest == "" {
			return out, nil
		}
		start := off(rest)
		s := rest
		if envExportRe.MatchString(s) {
			s = strings.TrimLeftFunc(strings.TrimPrefix(s, "export"), envIsSpace)
		}
		key, offset, inherited := "", 0, false
	loop:
		for i, r := range s {
			if envIsSpace(r) {
				continue
			}
			switch r {
			case '=', ':', '\n':
				key, offset, inherited = s[:i], i+1, r == '\n'
				break loop
			case '_', '.', '-', '[', ']':
			default:
				if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
					return nil, &EnvSyntaxError{File: filename, Line: lineOf(off(s[i:])), Reason: "invalid character in variable name"}
				}
			}
		}
		key = strings.TrimRightFunc(key, unicode.IsSpace)
		if strings.Contains(key, " ") {
			return nil, &EnvSyntaxError{File: filename, Line: lineOf(start), Reason: "variable name cannot contain a space"}
		}
		left := strings.TrimLeftFunc(s[offset:], envIsSpace)
		if inherited {
			out = append(out, envStmt{key: key, start: start, end: off(s[offset:]) - 1, inherited: true})
			rest = left
			continue
		}
		end, next, ok := envValueEnd(left)
		if !ok {
			return nil, &EnvSyntaxError{File: filename, Line: lineOf(off(left)), Key: key, Reason: "unterminated quoted value", unsupported: true}
		}
		out = append(out, envStmt{key: key, start: start, end: off(left) + end})
		rest = next
	}
}

// envStatementStart skips blank space and comment lines.
func envStatementStart(src string) string {
	for {
		pos := strings.IndexFunc(src, func(r rune) bool { return !unicode.IsSpace(r) })
		if pos < 0 {
			return ""
		}
		src = src[pos:]
		if src[0] != '#' {
			return src
		}
		nl := strings.IndexByte(src, '\n')
		if nl < 0 {
			return ""
		}
		src = src[nl:]
	}
}

// envValueEnd returns where the value at the start of src ends and what
// follows it: the rest of the line for an unquoted value, the closing quote
// for a quoted one (a backslash escapes the next character in both quotes).
// It reports false for a quote that is never closed.
func envValueEnd(src string) (int, string, bool) {
	if src == "" || (src[0] != '"' && src[0] != '\'') {
		v, rest, found := strings.Cut(src, "\n")
		if !found {
			return len(src), "", true
		}
		return len(v), rest, true
	}
	quote := src[0]
	escaped := false
	for i := 1; i < len(src); i++ {
		c := src[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == quote:
			return i + 1, src[i+1:], true
		}
	}
	return 0, "", false
}

// envIsSpace is dotenv's space: blank but not a newline.
func envIsSpace(r rune) bool {
	switch r {
	case '\t', '\v', '\f', '\r', ' ', 0x85, 0xA0:
		return true
	}
	return false
}

// Keys returns the variables the file defines, once each, in file order.
func (e *EnvFile) Keys() []string {
	var out []string
	for _, s := range e.stmts {
		if !slices.Contains(out, s.key) {
			out = append(out, s.key)
		}
	}
	return out
}

// Remove deletes every statement defining key and reports whether there was
// one. A statement alone on its line(s) goes with those lines (its inline
// comment too); one sharing a line with another statement goes alone.
// Everything else stays byte for byte, CRLF included; a file without a
// final newline still has none.
//
// The result is checked with compose's parser: it must read as before minus
// key. Taking the line break before a last line is only cosmetic, so when
// that reads differently (`KEY` alone needs its newline to inherit) the cut
// is made without it; if the result still read differently, nothing is
// removed and Remove reports false.
func (e *EnvFile) Remove(key string) bool {
	if !slices.ContainsFunc(e.stmts, func(s envStmt) bool { return s.key == key }) {
		return false
	}
	want, err := composeRead(e.data)
	if err != nil {
		return false
	}
	delete(want, key)
	for _, keepEOF := range []bool{true, false} {
		out := e.without(key, keepEOF)
		stmts, err := scanEnv(e.filename, out)
		if err != nil {
			continue
		}
		if got, err := composeRead(out); err == nil && maps.Equal(got, want) {
			e.data, e.stmts = out, stmts
			return true
		}
	}
	return false
}

// composeRead reads env file data with compose's parser. The lookup answers
// for every name, so that inherited keys show up, ${VAR:?err} does not fail
// for want of an environment, and no value depends on another key's.
func composeRead(data []byte) (map[string]string, error) {
	return dotenv.ParseWithLookup(bytes.NewReader(data), func(string) (string, bool) { return "x", true })
}

// without returns the data with every statement defining key cut out.
func (e *EnvFile) without(key string, keepEOF bool) []byte {
	var out []byte
	prev := 0
	for _, s := range e.stmts {
		if s.key != key {
			continue
		}
		c := e.cut(s, keepEOF)
		c[0] = max(c[0], prev)
		out = append(out, e.data[prev:c[0]]...)
		prev = max(prev, c[1])
	}
	return append(out, e.data[prev:]...)
}

// cut returns the bytes to delete for statement s.
func (e *EnvFile) cut(s envStmt, keepEOF bool) [2]int {
	b := e.data
	ls := bytes.LastIndexByte(b[:s.start], '\n') + 1
	if ls == 0 && bytes.HasPrefix(b, []byte(utf8BOM)) {
		ls = len(utf8BOM)
	}
	onlySpace := func(t []byte) bool {
		return strings.TrimFunc(string(t), unicode.IsSpace) == ""
	}
	p := s.end
	for p < len(b) {
		r, w := utf8.DecodeRune(b[p:])
		if !envIsSpace(r) {
			break
		}
		p += w
	}
	restOK := p >= len(b) || b[p] == '\n' || b[p] == '#'
	if !onlySpace(b[ls:s.start]) || !restOK {
		return [2]int{s.start, p}
	}
	nl := bytes.IndexByte(b[s.end:], '\n')
	if nl >= 0 {
		return [2]int{ls, s.end + nl + 1}
	}
	// The last line has no newline: take the previous line's break instead,
	// so the file still ends without one.
	if keepEOF && ls > 0 && b[ls-1] == '\n' {
		ls--
		if ls > 0 && b[ls-1] == '\r' {
			ls--
		}
	}
	return [2]int{ls, len(b)}
}

// Bytes returns the file with the removals made.
func (e *EnvFile) Bytes() []byte { return bytes.Clone(e.data) }
