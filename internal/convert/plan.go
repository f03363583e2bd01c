package convert

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/safefmt"
	"github.com/docker-vault/docker-vault/internal/yamledit"
)

// Conversion is what `migrate --to external` (or `--to environment`) does
// to the project's file secrets: their definitions rewritten, their values
// to store.
type Conversion struct {
	// Secrets are the converted secrets with their values (when Push,
	// and Plan was asked for values), by key.
	Secrets []Value
	// Files are the new contents of the compose files that define them,
	// by absolute path.
	Files map[string][]byte
	// Kept says, for each file secret Options.Keep left as it is, why
	// (a sentence naming the secret, never a value).
	Kept []string
}

// Options tune Plan.
type Options struct {
	// Values: read the values of the secrets to push (see Plan).
	Values bool
	// Variable, when set, converts to secrets compose fills from its own
	// environment (`environment: VAR`, for `docker vault run`) instead of
	// external ones: it names the variable of each source. An x-vault name
	// is then added only where the derived one is not the secret's Key
	// Vault name.
	Variable func(Source) string
	// Keep, when set and it returns a reason, leaves that file secret as
	// it is (the reason goes to Conversion.Kept).
	Keep func(Source) string
}

// Plan converts every file secret of the project that is not marked
// `x-vault: false` (see Sources) into an external one: in each compose file
// of the project (its own files and included ones) that defines it with
// `file:`, that entry becomes `external: true` with `x-vault: {name:
// KVNAME}` (yamledit.ConvertFileSecret), or, with o.Variable,
// `environment: VAR`; file secrets o.Keep gives a reason for are left as
// they are. Its value is read from the file unless o.Values is false (a
// dry run that stores nothing needs none, and the files are git-ignored,
// so a CI checkout has none). current holds
// compose files already rewritten (by path), which are edited instead of
// what is on disk; Files then holds them too, further edited, when they
// define a converted secret.
//
// It writes nothing and does not prove the result loads: the caller loads
// every rewritten file at once (compose.Check). The files the secrets came
// from are left as they are.
func Plan(p *compose.Project, current map[string][]byte, o Options) (*Conversion, error) {
	all, err := Sources(p.Compose, nil)
	if err != nil {
		return nil, err
	}
	conv := &Conversion{Files: map[string][]byte{}}
	var srcs []Source
	for _, src := range all {
		if o.Keep != nil {
			if why := o.Keep(src); why != "" {
				conv.Kept = append(conv.Kept, why)
				continue
			}
		}
		srcs = append(srcs, src)
	}
	if len(srcs) == 0 {
		return conv, nil
	}
	docs := map[string]*yamledit.Doc{}
	var paths []string
	for _, src := range srcs {
		found := false
		for _, f := range p.Files {
			if f.Role != compose.RoleMain && f.Role != compose.RoleInclude {
				continue
			}
			content, ok := current[f.Path]
			if !ok {
				content = f.Content
			}
			if !bytes.Contains(content, []byte(src.Secret)) {
				continue
			}
			d := docs[f.Path]
			if d == nil {
				if d, err = yamledit.Parse(f.Path, content); err != nil {
					return nil, fmt.Errorf("secret %s: %w", src.Secret, err)
				}
			}
			if d.Node("secrets", src.Secret, "file") == nil {
				continue
			}
			if o.Variable != nil {
				kv := src.KVName
				if kv == mapping.DeriveKVName(src.Secret) {
					kv = ""
				}
				err = d.ConvertFileSecretToEnvironment(src.Secret, o.Variable(src), kv)
			} else {
				err = d.ConvertFileSecret(src.Secret, src.KVName)
			}
			if err != nil {
				return nil, fmt.Errorf("cannot convert file secret %s to %s (edit its definition by hand): %w", src.Secret, o.kind(), err)
			}
			if docs[f.Path] == nil {
				docs[f.Path] = d
				paths = append(paths, f.Path)
			}
			found = true
		}
		if !found {
			return nil, fmt.Errorf("cannot convert file secret %s: no compose file of the project defines it with file: as written (edit its definition by hand)", src.Secret)
		}
	}
	for _, src := range srcs {
		v := Value{Source: src, Push: src.Version == ""}
		if v.Push && o.Values {
			v.Value, err = ReadValue(src)
			switch {
			case err != nil && src.Marked && errors.Is(err, fs.ErrNotExist):
				// Key Vault-backed already, and never synced here: the
				// value is in Key Vault, and there is none to push.
				v.Push = false
			case err != nil:
				conv.Clear()
				return nil, err
			}
		}
		conv.Secrets = append(conv.Secrets, v)
	}
	sort.Strings(paths)
	for _, path := range paths {
		b, _ := docs[path].Bytes()
		conv.Files[path] = b
	}
	return conv, nil
}

// kind names what the secrets become, for errors.
func (o Options) kind() string {
	if o.Variable != nil {
		return "an environment one"
	}
	return "an external one"
}

// Clear zeroes the values read.
func (c *Conversion) Clear() {
	for _, v := range c.Secrets {
		clear(v.Value)
	}
}

// String names the converted secrets, never a value.
func (c Conversion) String() string {
	names := make([]string, len(c.Secrets))
	for i, v := range c.Secrets {
		names[i] = v.Secret
	}
	return fmt.Sprintf("conversion of file secrets %s in %d files", strings.Join(names, ", "), len(c.Files))
}

func (c Conversion) GoString() string              { return "convert.Conversion{" + c.String() + "}" }
func (c Conversion) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, c) }
