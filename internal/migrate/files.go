package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/docker-vault/docker-vault/compose"
)

// files lists every file the plan writes.
func (pl *planner) files(plan *Plan) error {
	var paths []string
	for path := range pl.docs {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		b, err := pl.docs[path].Bytes()
		if err != nil {
			return err
		}
		if bytes.Equal(b, contentOf(pl.p, path)) {
			continue
		}
		plan.Files = append(plan.Files, &File{Path: path, Kind: "compose", Old: contentOf(pl.p, path), New: b})
	}
	paths = paths[:0]
	for path := range pl.envs {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		b := pl.envs[path].Bytes()
		old := envContentOf(pl.p, path)
		if bytes.Equal(b, old) {
			continue
		}
		plan.Files = append(plan.Files, &File{Path: path, Kind: "env", Old: old, New: b})
	}
	if pl.opts.To != ToFile || len(pl.declared) == 0 {
		return nil
	}
	dir := filepath.Join(pl.main.Dir, pl.opts.SecretsDir)
	var names []string
	for n := range pl.declared {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		path := filepath.Join(dir, n)
		value := pl.values[n]
		old, err := os.ReadFile(path)
		switch {
		case err == nil && bytes.Equal(old, value):
			continue
		case err == nil:
			return fmt.Errorf("secret file %s already exists with other content: remove it, or rename the secret with x-vault", path)
		case !errors.Is(err, os.ErrNotExist):
			return compose.ReadFailed("secret file", path, err)
		}
		plan.Files = append(plan.Files, &File{Path: path, Kind: "secret", Created: true, Mode: 0o600, New: value})
	}
	return pl.gitignore(plan)
}

// gitignore makes sure the project's .gitignore ignores the secrets folder.
func (pl *planner) gitignore(plan *Plan) error {
	path := filepath.Join(pl.main.Dir, ".gitignore")
	entry := "/" + filepath.ToSlash(pl.opts.SecretsDir) + "/"
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return compose.ReadFailed("file", path, err)
	}
	for _, line := range strings.Split(string(old), "\n") {
		l := strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if l == entry || l == strings.TrimPrefix(entry, "/") || l == strings.TrimSuffix(entry, "/") || l == strings.Trim(entry, "/") {
			return nil
		}
	}
	eol := "\n"
	if bytes.Contains(old, []byte("\r\n")) {
		eol = "\r\n"
	}
	add := []byte{}
	if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
		add = append(add, eol...)
	}
	add = append(add, "# secret values written by docker vault migrate"+eol+entry+eol...)
	plan.Files = append(plan.Files, &File{Path: path, Kind: "gitignore", Created: err != nil, Mode: 0o644, Old: old, New: append(append([]byte{}, old...), add...)})
	return nil
}

func fileOf(p *compose.Project, path string) *compose.File {
	for _, f := range p.Files {
		if f.Path == path {
			return f
		}
	}
	return nil
}

func envContentOf(p *compose.Project, path string) []byte {
	for _, f := range p.EnvFiles {
		if f.Path == path {
			return f.Content
		}
	}
	return nil
}

func contentOf(p *compose.Project, path string) []byte {
	if f := fileOf(p, path); f != nil {
		return f.Content
	}
	return nil
}
