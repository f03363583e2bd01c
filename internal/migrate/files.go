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
	"github.com/docker-vault/docker-vault/internal/imageinfo"
	"github.com/docker-vault/docker-vault/internal/secretfile"
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
	readers := pl.nonRootReaders(plan)
	checked := false
	for _, n := range names {
		path := filepath.Join(dir, n)
		value := pl.values[n]
		perm := secretfile.Perm(readers[n] != "")
		if perm != secretfile.OwnerPerm && !checked {
			if err := secretfile.CheckFolder(dir, perm); err != nil {
				return fmt.Errorf("%s: %w", readers[n], err)
			}
			checked = true
		}
		old, err := os.ReadFile(path)
		switch {
		case err == nil && bytes.Equal(old, value):
			if err := readableBy(path, perm, readers[n]); err != nil {
				return err
			}
			continue
		case err == nil:
			return fmt.Errorf("secret file %s already exists with other content: remove it, or rename the secret with x-vault", path)
		case !errors.Is(err, os.ErrNotExist):
			return compose.ReadFailed("secret file", path, err)
		}
		plan.Files = append(plan.Files, &File{Path: path, Kind: "secret", Created: true, Mode: perm, New: value})
	}
	return pl.gitignore(plan)
}

// Who may read a secret file migrate writes (the decision, and why, is
// internal/secretfile's, which sync follows too): a secret that only root
// services use is 0600; one that a service running as another user uses
// is 0444, since under plain Compose the file is bind-mounted as it is and
// Compose ignores the secret's uid, gid and mode, and that service would
// otherwise fail to start with "Permission denied". Other host users are
// kept out by the secrets folder, 0700: Write creates it so, and an
// existing folder they could enter is an error naming the chmod to run
// (never changed behind the user's back), checked here so that --dry-run
// and --check say it too. A service's user is its user:, else its image's
// USER when the image was read (Options.Images); an image that was not read
// counts as root.

// nonRootReaders names, by secret, the first service (by name) that uses
// it and runs as a user other than root, with that user, as a message
// would: "service app runs as user 999". Users are the services the plan
// migrates into the secret and those the project already lists it in.
func (pl *planner) nonRootReaders(plan *Plan) map[string]string {
	users := map[string][]string{}
	for _, it := range plan.Items {
		if it.Action == Migrated && it.Secret != "" {
			users[it.Secret] = append(users[it.Secret], it.Service)
		}
	}
	if pl.p.Compose != nil {
		for name, svc := range pl.p.Compose.Services {
			for _, s := range svc.Secrets {
				users[s.Source] = append(users[s.Source], name)
			}
		}
	}
	out := map[string]string{}
	for secret, services := range users {
		sort.Strings(services)
		for _, name := range services {
			if user, ok := pl.nonRootUser(name); ok {
				out[secret] = fmt.Sprintf("service %s runs as user %s", name, user)
				break
			}
		}
	}
	return out
}

// nonRootUser is the user a service runs as when it is not root: its
// user:, else its image's USER.
func (pl *planner) nonRootUser(service string) (string, bool) {
	if pl.p.Compose != nil {
		if svc, ok := pl.p.Compose.Services[service]; ok && svc.User != "" {
			return svc.User, imageinfo.NonRootUser(svc.User)
		}
	}
	if info, ok := pl.r.Images[service]; ok && info.Image != nil && info.Image.NonRoot() {
		return info.Image.User, true
	}
	return "", false
}

// readableBy checks that an existing secret file migrate reuses can be
// read by the service who names: a file an earlier run or the user wrote
// 0600 is not rewritten, so its mode is the user's to change.
func readableBy(path string, perm os.FileMode, who string) error {
	if perm == secretfile.OwnerPerm {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return compose.ReadFailed("secret file", path, err)
	}
	if st.Mode().Perm()&0o004 == 0 {
		return fmt.Errorf("secret file %s is mode %04o, but %s, which cannot read it under plain Compose: run chmod 444 %s (its folder keeps other host users out), then run migrate again", path, st.Mode().Perm(), who, path)
	}
	return nil
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
