package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v3"
)

// This file rewrites compose-go's messages, by their shapes, into
// LoadErrors; place.go finds where in the files they belong, and
// safeReason (below) says what compose-go said without quoting it.

// explainer rewrites compose-go's errors for a set of compose files.
type explainer struct {
	// files are the compose files, main ones first, with their Docs where
	// they parse: where a key path is looked up.
	files []*File
	src   fileSource
	// env is the project environment, for an include's env files.
	env types.Mapping
	// envFiles are the env files read, whose values may appear in
	// compose-go's messages after interpolation.
	envFiles []*EnvFile
	// taint are the values of the files; written where each compose
	// value is (see readValues).
	taint   []string
	written map[string]Position
}

// explain rewrites an error of compose-go (or of this package) so that it
// names where and why and quotes nothing. It is the one place every load
// error goes through.
func (pd *pending) explain(err error) error {
	if err == nil || passThrough(err) {
		return err
	}
	p := pd.p
	for _, f := range p.Files {
		if f.Docs == nil {
			f.Docs, _ = parseYAML(f.Path, f.Content)
		}
	}
	// The included and extended files, to find a key in them too. This
	// project is discarded with the error, so reading into it is harmless.
	_ = p.readIncluded(pd.src)
	x := &explainer{files: p.Files, src: pd.src, env: pd.env, envFiles: p.EnvFiles}
	return x.explain(err)
}

func (x *explainer) explain(err error) error {
	if passThrough(err) {
		return err
	}
	parts := flatten(err, nil)
	first := x.one(parts[0])
	if len(parts) > 1 {
		if le, ok := first.(*LoadError); ok {
			le.Reason += fmt.Sprintf(" (and %d more)", len(parts)-1)
		}
	}
	return first
}

// flatten lists the errors errors.Join put together (compose-go joins one
// per key that fails to interpolate).
func flatten(err error, out []error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = flatten(e, out)
		}
		return out
	}
	return append(out, err)
}

var (
	dupKeyRe     = regexp.MustCompile(`line (\d+): mapping key .* already defined at line (\d+)`)
	mapstructRe  = regexp.MustCompile(`^'([^']*)' (.*)$`)
	pathPrefixRe = regexp.MustCompile(`^([A-Za-z0-9_.\-\[\]]+): (.*)$`)
	// safeMessages are compose-go messages that name only services,
	// resources, keys and files: kept as they are.
	safeMessages = regexp.MustCompile(`^(service "?[\w.-]+"? |cannot extend service |no such service|include cycle detected|cycle detected|dependency cycle detected|top-level object must be a mapping|empty compose file|project name must not be empty|compose file exceeds)`)
)

// one explains a single error.
func (x *explainer) one(err error) error {
	if passThrough(err) {
		return err
	}
	msg := err.Error()
	kind := sentinel(err)
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		return x.pathError(pe, kind)

	case strings.HasPrefix(msg, "failed to read "):
		// An include's env file, read by compose-go's dotenv.
		if path, ok := x.fileIn(msg[len("failed to read "):]); ok {
			content, rerr := x.src.read(path)
			if rerr == nil {
				return envFileError(path, content, err, func(b []byte) error {
					_, err := dotenv.ParseWithLookup(bytes.NewReader(b), x.env.Resolve)
					return err
				})
			}
		}

	case strings.HasPrefix(msg, "failed to parse "):
		if path, ok := x.fileIn(msg[len("failed to parse "):]); ok {
			return x.yamlError(path, msg, kind)
		}

	case strings.HasPrefix(msg, "validating "):
		if path, ok := x.fileIn(msg[len("validating "):]); ok {
			rest := strings.TrimPrefix(msg[len("validating ")+len(path):], ": ")
			return x.schemaError(path, rest, kind)
		}

	case strings.HasPrefix(msg, "invalid interpolation format for "):
		key, _, _ := strings.Cut(msg[len("invalid interpolation format for "):], ".\n")
		e := x.at(key, "", x.failsInterpolation)
		e.Reason, e.kind = "invalid interpolation format for "+key+": "+interpolationHint, kind
		return e

	case strings.HasPrefix(msg, "error while interpolating "):
		return x.interpolationError(err, msg[len("error while interpolating "):], kind)

	case strings.HasPrefix(msg, "decoding failed due to the following error(s):"):
		for _, l := range strings.Split(msg, "\n") {
			if m := mapstructRe.FindStringSubmatch(l); m != nil {
				key := strings.NewReplacer("[", ".", "]", "").Replace(m[1])
				e := x.at(key, "", nil)
				e.Reason, e.kind = key+" "+safeReason(m[2], x.tainted()), kind
				return e
			}
		}

	case safeMessages.MatchString(msg):
		return &LoadError{Reason: strings.Join(strings.Fields(msg), " "), kind: kind}
	}

	// Anything else: "<key path>: <detail>" or a bare message, cut before
	// what it quotes.
	if m := pathPrefixRe.FindStringSubmatch(msg); m != nil {
		if e := x.at(m[1], "", nil); e.File != "" {
			e.Reason, e.kind = m[1]+": "+safeReason(m[2], x.tainted()), kind
			return e
		}
	}
	e := &LoadError{Reason: safeReason(msg, x.tainted()), kind: kind}
	x.placeByValue(e, msg)
	return e
}

// interpolationError explains compose-go's "error while interpolating
// KEY: DETAIL" (rest is what follows "interpolating "): a required variable
// unset, a value of the wrong type, or another failure of KEY.
func (x *explainer) interpolationError(err error, rest string, kind error) *LoadError {
	key, detail, _ := strings.Cut(rest, ": ")
	e := x.at(key, "", x.failsInterpolation)
	e.kind = kind
	var mre *template.MissingRequiredError
	switch {
	case errors.As(err, &mre):
		written := ""
		if n := x.node(key, x.failsInterpolation); n != nil && n.Kind == yaml.ScalarNode {
			written = n.Value
		}
		e.Reason = missingRequired(mre, "in "+key, []byte(written))
	case strings.HasPrefix(detail, "failed to cast to expected type: "):
		e.Reason = key + " " + safeReason(strings.TrimPrefix(detail, "failed to cast to expected type: "), x.tainted())
	default:
		e.Reason = "failed to interpolate " + key
	}
	return e
}

// fileIn finds which of the files compose-go may name starts s (a path
// followed by ": "), as read or on disk.
func (x *explainer) fileIn(s string) (string, bool) {
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], ": ")
		if j < 0 {
			break
		}
		if path := s[:i+j]; x.src.exists(path) {
			return path, true
		}
		i += j + 1
	}
	return "", false
}

// pathError is a file compose-go could not open: a remote include (which
// it looked for as a local path, .../https:/...), or a missing one.
func (x *explainer) pathError(pe *fs.PathError, kind error) error {
	if remote, ok := remotePart(pe.Path); ok {
		e := &LoadError{kind: kind}
		for _, f := range x.files {
			if n := findRemoteInclude(f); n != nil {
				e.File, e.Line, e.Column = f.Path, n.Line, n.Column
				break
			}
		}
		e.Reason = "remote include " + remote + " is not supported: docker vault reads local files only (download the file and include the copy)"
		return e
	}
	return &LoadError{File: pe.Path, Reason: pe.Op + ": " + pe.Err.Error(), kind: kind}
}

// remotePart tells whether a path compose-go built is a remote reference
// joined to a directory (/project/https:/host/x), and returns the
// reference cut to its scheme and host: a URL may carry a token.
func remotePart(path string) (string, bool) {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, "git@"):
			host, _, _ := strings.Cut(strings.TrimPrefix(p, "git@"), ":")
			return "git@" + host + ":…", true
		case strings.HasSuffix(p, ":") && i+1 < len(parts) && p != ":":
			scheme := strings.TrimSuffix(p, ":")
			if u, err := url.Parse(scheme + "://" + strings.Join(parts[i+1:], "/")); err == nil && u.Host != "" {
				return scheme + "://" + u.Hostname() + "/…", true
			}
		}
	}
	return "", false
}

// findRemoteInclude returns the first include: entry of f naming a remote
// file.
func findRemoteInclude(f *File) *yaml.Node {
	for _, inc := range f.topLevel("include") {
		seq, _ := deref(inc.value)
		if seq == nil || seq.Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range seq.Content {
			item, _ = deref(item)
			var refs []*yaml.Node
			switch item.Kind {
			case yaml.ScalarNode:
				refs = []*yaml.Node{item}
			case yaml.MappingNode:
				if v, ok := get(item, "path", false); ok {
					if v, _ := deref(v.value); v.Kind == yaml.SequenceNode {
						refs = v.Content
					} else {
						refs = []*yaml.Node{v}
					}
				}
			}
			for _, r := range refs {
				if r.Kind == yaml.ScalarNode && remoteRef(f.interpolate(r.Value)) {
					return r
				}
			}
		}
	}
	return nil
}

// yamlError explains compose-go's "failed to parse FILE": a YAML error
// (found again by this package's parser, with its position), a key
// defined twice, or a key that is not a string.
func (x *explainer) yamlError(path, msg string, kind error) error {
	if content, err := x.src.read(path); err == nil {
		if _, err := parseYAML(path, content); err != nil {
			return err
		}
	}
	e := &LoadError{File: path, kind: kind}
	switch m := dupKeyRe.FindStringSubmatch(msg); {
	case m != nil:
		e.Line, _ = strconv.Atoi(m[1])
		e.Reason = "mapping key defined twice (first at line " + m[2] + ")"
	case strings.Contains(msg, " as a map key"):
		e.Reason = "a mapping key is not a string"
	default:
		e.Reason = "invalid YAML"
	}
	return e
}

// schemaError explains compose-go's "validating FILE: KEY PROBLEM". Of the
// JSON schema's messages only the pattern and format ones quote the value.
func (x *explainer) schemaError(path, rest string, kind error) error {
	key, problem, _ := strings.Cut(rest, " ")
	e := x.atKey(key, path)
	e.kind = kind
	if e.File == "" {
		e.File = path
	}
	switch {
	case strings.Contains(problem, " does not match pattern "):
		problem = "does not match the pattern " + problem[strings.LastIndex(problem, " does not match pattern ")+len(" does not match pattern "):]
	case strings.Contains(problem, " is not valid "):
		problem = "is not valid"
	}
	e.Reason = key + " " + problem
	return e
}

var reasonRules = []struct {
	re     *regexp.Regexp
	reason string
}{
	{regexp.MustCompile(`^time: invalid duration`), "is not a valid duration"},
	{regexp.MustCompile(`^strconv\.\w+: parsing .*: value out of range$`), "is out of range"},
	{regexp.MustCompile(`^(strconv\.ParseBool|invalid boolean)`), "is not a valid boolean"},
	{regexp.MustCompile(`^strconv\.\w+: parsing `), "is not a valid number"},
	{regexp.MustCompile(`^expected type '([\w\[\]{} ]+)', got unconvertible type '([\w\[\]{} ]+)'`), "must be a $1, not a $2"},
	{regexp.MustCompile(`^expected a map, got '([\w\[\]{} ]+)'`), "must be a mapping, not a $1"},
	{regexp.MustCompile("^`include` must be a list"), "include must be a list"},
}

// cutAt are where a message of compose-go starts quoting what it failed on.
var cutAt = regexp.MustCompile(`: |["'` + "`" + `\n]|,? got |\bvalue\b`)

// safeReason makes a message of compose-go that may quote its input into
// one that does not: a known shape is said in its own words, anything else
// is cut where quoting starts, and dropped if what is left still holds a
// value of the project.
func safeReason(msg string, taint []string) string {
	for _, r := range reasonRules {
		if m := r.re.FindStringSubmatchIndex(msg); m != nil {
			return string(r.re.ExpandString(nil, r.reason, msg, m))
		}
	}
	if loc := cutAt.FindStringIndex(msg); loc != nil {
		end := loc[0]
		if msg[loc[0]:loc[1]] == "value" {
			end = loc[1] // "invalid value", "unsupported expose value"
		}
		msg = msg[:end]
	}
	msg = strings.TrimRight(strings.TrimSpace(msg), ",:;")
	for _, t := range taint {
		if strings.Contains(msg, t) {
			return "is not valid"
		}
	}
	if msg == "" {
		return "is not valid"
	}
	return msg
}
