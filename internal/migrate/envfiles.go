package migrate

import (
	"bytes"
	"slices"
	"strings"

	"github.com/docker-vault/docker-vault/compose"
)

// cleanEnvFiles removes from .env and --env-file files the variables whose
// values were migrated, once nothing refers to them any more: no compose
// file (by interpolation or as a pass-through entry) and no env file (whose
// values may interpolate them too).
func (pl *planner) cleanEnvFiles() error {
	var texts [][]byte
	for _, f := range pl.p.Files {
		if d, ok := pl.docs[f.Path]; ok {
			b, err := d.Bytes()
			if err != nil {
				return err
			}
			texts = append(texts, b)
		} else {
			texts = append(texts, f.Content)
		}
	}
	used := usedNames(texts)
	// Env file values interpolate project variables too (`URL=...${PW}@db`).
	for _, f := range pl.p.EnvFiles {
		b := f.Content
		if e, ok := pl.envs[f.Path]; ok {
			b = e.Bytes()
		}
		interpolated(b, used)
	}
	remove := map[string][]string{} // env file -> variables
	var files []string
	for _, ref := range pl.refs {
		switch ref.Origin {
		case compose.OriginDotEnv, compose.OriginEnvFile, compose.OriginInclude:
		default:
			continue
		}
		path := ref.Position.File
		if path == "" || used[ref.Name] || slices.Contains(remove[path], ref.Name) {
			continue
		}
		if _, ok := remove[path]; !ok {
			files = append(files, path)
		}
		remove[path] = append(remove[path], ref.Name)
	}
	for _, path := range files {
		e, err := pl.env(path)
		if err != nil {
			continue // not editable: the values stay where they are
		}
		e.RemoveAll(remove[path])
	}
	return nil
}

// usedNames returns the variables the compose files still refer to: by
// interpolation ($NAME, ${NAME...}; not an escaped $$NAME, a literal) and
// as pass-through entries (`- NAME`,
// `NAME:`, `NAME: null`). One pass over each file: this runs on projects of
// thousands of services.
func usedNames(texts [][]byte) map[string]bool {
	used := map[string]bool{}
	for _, t := range texts {
		interpolated(t, used)
		for len(t) > 0 {
			line := t
			if i := bytes.IndexByte(t, '\n'); i >= 0 {
				line, t = t[:i], t[i+1:]
			} else {
				t = nil
			}
			if name := passThrough(line); name != "" {
				used[name] = true
			}
			if bytes.ContainsAny(line, "[{") {
				flowItems(line, used)
			}
		}
	}
	return used
}

// interpolated adds the names b interpolates to used.
func interpolated(b []byte, used map[string]bool) {
	for {
		i := bytes.IndexByte(b, '$')
		if i < 0 {
			return
		}
		b = b[i+1:]
		if len(b) > 0 && b[0] == '$' {
			// $$ is a literal $ (the entrypoint wrapper's script holds
			// $${VAR%x}): no interpolation.
			b = b[1:]
			continue
		}
		if len(b) > 0 && b[0] == '{' {
			b = b[1:]
		}
		n := 0
		for n < len(b) && (b[n] == '_' || isAlnum(b[n])) && !(n == 0 && b[n] >= '0' && b[n] <= '9') {
			n++
		}
		if n > 0 {
			used[string(b[:n])] = true
		}
	}
}

// passThrough returns the name of a pass-through entry written on line:
// `- NAME` or `NAME:` with nothing (or null, ~) after it, quotes and a
// comment allowed; "" when the line is something else. A key of any
// mapping with no value matches too (`services:`), which only keeps a line.
func passThrough(line []byte) string {
	s := strings.TrimSpace(string(line))
	if c := strings.Index(s, " #"); c >= 0 {
		s = strings.TrimSpace(s[:c])
	} else if strings.HasPrefix(s, "#") {
		return ""
	}
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		s = strings.Trim(strings.TrimSpace(rest), `"'`)
		if s == "" || strings.ContainsAny(s, " =:") {
			return ""
		}
		return s
	}
	key, val, ok := strings.Cut(s, ":")
	if !ok {
		return ""
	}
	switch strings.TrimSpace(val) {
	case "", "null", "~":
		return strings.Trim(strings.TrimSpace(key), `"'`)
	}
	return ""
}

// flowItems adds the bare names of a flow collection written on line
// (`environment: [A, B=1]`, `{A, B: null}`) to used. Any bare word counts,
// which only keeps a line that could have gone.
func flowItems(line []byte, used map[string]bool) {
	for _, f := range strings.FieldsFunc(string(line), func(r rune) bool { return strings.ContainsRune(",[]{}", r) }) {
		f = strings.TrimSpace(f)
		if k, v, ok := strings.Cut(f, ":"); ok {
			if v = strings.TrimSpace(v); v != "" && v != "null" && v != "~" {
				continue
			}
			f = k
		}
		if f = strings.Trim(strings.TrimSpace(f), `"'`); f != "" && !strings.ContainsAny(f, " =") {
			used[f] = true
		}
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
