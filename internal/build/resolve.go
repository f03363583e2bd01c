package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/docker-vault/docker-vault/internal/fetch"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Mapping ties a secret id to a Key Vault secret.
type Mapping struct {
	ID      string
	KVName  string
	Version string
}

// ParseMapping reads a --vault-secret value: id=X,name=kv-name[,version=V].
func ParseMapping(s string) (Mapping, error) {
	var m Mapping
	for _, field := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return m, fmt.Errorf("invalid --vault-secret %q: want id=ID,name=KEY-VAULT-NAME[,version=VERSION]", s)
		}
		switch strings.TrimSpace(k) {
		case "id":
			m.ID = v
		case "name":
			m.KVName = v
		case "version":
			m.Version = v
		default:
			return m, fmt.Errorf("invalid --vault-secret %q: unknown field %q (want id, name, version)", s, k)
		}
	}
	if m.ID == "" || m.KVName == "" {
		return m, fmt.Errorf("invalid --vault-secret %q: id and name are required", s)
	}
	if !keyvault.ValidSecretName(m.KVName) {
		return m, fmt.Errorf("invalid --vault-secret %q: %q is not a valid Key Vault secret name (1-127 letters, digits and '-')", s, m.KVName)
	}
	return m, nil
}

// Note is something the user should know that is not an error.
type Note string

// Resolve reads from Key Vault the value of every secret id the build
// needs. An id maps to its --vault-secret mapping, or to the Key Vault
// name derived from it as for compose secrets ('_' and '.' become '-'). A
// required id with no Key Vault secret is an error naming the id and the
// name tried; an optional one is skipped with a note. Any other Key Vault
// error stops everything: the build must not start on half of its secrets.
// Ids in skip (the user's own --secret) and ids built from a build arg are
// left to buildx, with a note.
func Resolve(ctx context.Context, store keyvault.Store, mounts []SecretMount, mappings []Mapping, skip map[string]bool, parallel int) ([]Secret, []Note, error) {
	// Everything that needs no request is settled first, so that a bad
	// mapping fails before any value is read.
	jobs, notes, err := planReads(mounts, mappings, skip)
	if err != nil {
		return nil, notes, err
	}

	reqs := make([]fetch.Request, len(jobs))
	for i, j := range jobs {
		reqs[i] = fetch.Request{Name: j.kv.KVName, Version: j.kv.Version}
	}
	notFound := func(mp Mapping) string {
		what := fmt.Sprintf("Key Vault secret %q", mp.KVName)
		if mp.Version != "" {
			what += " version " + mp.Version
		}
		return what
	}
	res, err := fetch.Values(ctx, store, reqs, fetch.Options{Parallel: parallel, Stop: func(i int, err error) error {
		m, mp := jobs[i].mount, jobs[i].kv
		switch {
		case !errors.Is(err, keyvault.ErrNotFound):
			return fmt.Errorf("secret id %s: %w", m.ID, err)
		case m.Required:
			return fmt.Errorf("secret id %s (required, Dockerfile line %d): %s not found in %s; create it or map the id with --vault-secret id=%s,name=NAME", m.ID, m.Line, notFound(mp), store.VaultURL(), m.ID)
		}
		return nil
	}})
	if err != nil {
		return nil, notes, err
	}
	var secrets []Secret
	for i, r := range res {
		m, mp := jobs[i].mount, jobs[i].kv
		if r.Err != nil {
			notes = append(notes, Note(fmt.Sprintf("secret %s: %s not found; skipped (the mount is not required)", m.ID, notFound(mp))))
			continue
		}
		secrets = append(secrets, Secret{ID: m.ID, KVName: mp.KVName, Version: r.Version, Value: r.Value})
	}
	return secrets, notes, nil
}

// readJob is a secret id to read and the Key Vault secret it maps to.
type readJob struct {
	mount SecretMount
	kv    Mapping
}

// planReads maps each mount to its Key Vault secret, leaving out (with a
// note) the ids left to buildx and optional ids with no valid name; a
// required id with no valid name is an error.
func planReads(mounts []SecretMount, mappings []Mapping, skip map[string]bool) ([]readJob, []Note, error) {
	byID := map[string]Mapping{}
	for _, m := range mappings {
		byID[m.ID] = m
	}
	var jobs []readJob
	var notes []Note
	for _, m := range mounts {
		switch {
		case skip[m.ID]:
			notes = append(notes, Note(fmt.Sprintf("secret %s: given with --secret, not read from Key Vault", m.ID)))
			continue
		case m.Variable:
			notes = append(notes, Note(fmt.Sprintf("secret %s: the id is set from a build arg, so docker vault cannot tell which Key Vault secret it is; not filled (give it with --secret)", m.ID)))
			continue
		}
		mp, ok := byID[m.ID]
		if !ok {
			mp = Mapping{ID: m.ID, KVName: mapping.DeriveKVName(m.ID)}
		}
		if !keyvault.ValidSecretName(mp.KVName) {
			if m.Required {
				return nil, notes, fmt.Errorf("secret id %s (required, Dockerfile line %d): %q is not a valid Key Vault secret name; map the id with --vault-secret id=%s,name=NAME", m.ID, m.Line, mp.KVName, m.ID)
			}
			notes = append(notes, Note(fmt.Sprintf("secret %s: %q is not a valid Key Vault secret name; skipped (the mount is not required; map it with --vault-secret)", m.ID, mp.KVName)))
			continue
		}
		jobs = append(jobs, readJob{m, mp})
	}
	return jobs, notes, nil
}

// DeclaresVersionsArg tells whether the Dockerfile declares VersionsArg,
// so that passing it does not make buildx warn about an unused build arg.
func DeclaresVersionsArg(dockerfile []byte) bool {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return false
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return false
	}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Key == VersionsArg {
				return true
			}
		}
	}
	for _, s := range stages {
		for _, c := range s.Commands {
			if a, ok := c.(*instructions.ArgCommand); ok {
				for _, kv := range a.Args {
					if kv.Key == VersionsArg {
						return true
					}
				}
			}
		}
	}
	return false
}
