package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"golang.org/x/sync/errgroup"
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
	if !mapping.ValidKVName(m.KVName) {
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
	byID := map[string]Mapping{}
	for _, m := range mappings {
		byID[m.ID] = m
	}
	if parallel < 1 {
		parallel = 8
	}
	// Everything that needs no request is settled first, so that a bad
	// mapping fails before any value is read.
	type job struct {
		mount SecretMount
		kv    Mapping
	}
	var jobs []job
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
		if !mapping.ValidKVName(mp.KVName) {
			if m.Required {
				return nil, notes, fmt.Errorf("secret id %s (required, Dockerfile line %d): %q is not a valid Key Vault secret name; map the id with --vault-secret id=%s,name=NAME", m.ID, m.Line, mp.KVName, m.ID)
			}
			notes = append(notes, Note(fmt.Sprintf("secret %s: %q is not a valid Key Vault secret name; skipped (the mount is not required; map it with --vault-secret)", m.ID, mp.KVName)))
			continue
		}
		jobs = append(jobs, job{m, mp})
	}

	out := make([]Secret, len(jobs))
	have := make([]bool, len(jobs))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i, j := range jobs {
		m, mp := j.mount, j.kv
		g.Go(func() error {
			s, err := store.Get(gctx, mp.KVName, mp.Version)
			if errors.Is(err, keyvault.ErrNotFound) {
				what := fmt.Sprintf("Key Vault secret %q", mp.KVName)
				if mp.Version != "" {
					what += " version " + mp.Version
				}
				if m.Required {
					return fmt.Errorf("secret id %s (required, Dockerfile line %d): %s not found in %s; create it or map the id with --vault-secret id=%s,name=NAME", m.ID, m.Line, what, store.VaultURL(), m.ID)
				}
				mu.Lock()
				notes = append(notes, Note(fmt.Sprintf("secret %s: %s not found; skipped (the mount is not required)", m.ID, what)))
				mu.Unlock()
				return nil
			}
			if err != nil {
				return fmt.Errorf("secret id %s: %w", m.ID, err)
			}
			mu.Lock()
			out[i] = Secret{ID: m.ID, KVName: mp.KVName, Version: s.Version, Value: s.Value}
			have[i] = true
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		for i := range out {
			clear(out[i].Value)
		}
		return nil, notes, err
	}
	var secrets []Secret
	for i := range out {
		if have[i] {
			secrets = append(secrets, out[i])
		}
	}
	return secrets, notes, nil
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
