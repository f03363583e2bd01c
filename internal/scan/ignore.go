package scan

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// A tree scan skips what git ignores: the patterns of .git/info/exclude
// and of every .gitignore from the root of the repository down to the
// folder walked, matched by go-git's gitignore package (git's own rules:
// negation, directory-only patterns, anchoring, **). A folder ignored is
// not walked. The user's global excludes file is not read: a scan in CI
// and on a laptop must skip the same files.

// ignorer holds the patterns that apply in one folder, lowest priority
// first. It is never changed once made: a subfolder's is a copy with its
// own .gitignore appended.
type ignorer struct {
	ps []gitignore.Pattern
	m  gitignore.Matcher
}

// with returns ig plus the patterns of a .gitignore's content, written in
// the folder domain (its path below the root, by component).
func (ig ignorer) with(content []byte, domain []string) ignorer {
	ps := parseIgnore(content, domain)
	if len(ps) == 0 {
		return ig
	}
	all := append(ig.ps[:len(ig.ps):len(ig.ps)], ps...)
	return ignorer{ps: all, m: gitignore.NewMatcher(all)}
}

// ignored reports whether path (components below the root) is ignored.
func (ig ignorer) ignored(path []string, isDir bool) bool {
	return ig.m != nil && ig.m.Match(path, isDir)
}

// parseIgnore reads the patterns of a gitignore file: one a line, blank
// lines and # comments skipped, \# and \! escapes kept literal.
func parseIgnore(content []byte, domain []string) []gitignore.Pattern {
	var ps []gitignore.Pattern
	for line := range bytes.SplitSeq(content, []byte{'\n'}) {
		s := strings.TrimSuffix(string(line), "\r")
		if strings.TrimSpace(s) == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if strings.HasPrefix(s, `\#`) {
			s = s[1:]
		}
		ps = append(ps, gitignore.ParsePattern(s, domain))
	}
	return ps
}

// readIgnoreFile reads a .gitignore or exclude file; a missing one is
// empty.
func readIgnoreFile(path string) ([]byte, error) {
	b, err := readFile(path, nil)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) {
		return nil, nil
	}
	return b, err
}

// ignoreAbove is what applies in dir before its own .gitignore: base's
// .git/info/exclude, then the .gitignore of base and of every folder down
// to dir's parent.
func (t *tree) ignoreAbove(base, dir string) (ignorer, error) {
	var ig ignorer
	if t.opts.NoIgnore {
		return ig, nil
	}
	b, err := readIgnoreFile(filepath.Join(base, ".git", "info", "exclude"))
	if err != nil {
		return ig, err
	}
	ig = ig.with(b, nil)
	rel := components(base, dir)
	for i := range rel {
		d := filepath.Join(append([]string{base}, rel[:i]...)...)
		b, err := readIgnoreFile(filepath.Join(d, ".gitignore"))
		if err != nil {
			return ig, err
		}
		ig = ig.with(b, rel[:i])
	}
	return ig, nil
}

// components splits path below base into its folder names (none for
// base itself).
func components(base, path string) []string {
	r, err := filepath.Rel(base, path)
	if err != nil || r == "." {
		return nil
	}
	return strings.Split(r, string(filepath.Separator))
}
