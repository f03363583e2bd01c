package build

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/docker-vault/docker-vault/internal/fetch"
	"github.com/docker-vault/docker-vault/internal/keyvault"
)

// DefaultPreviousVersions is how many earlier versions of each secret the
// leak check searches for by default.
const DefaultPreviousVersions = 5

// Previous reads the values of up to n earlier versions of each secret
// used, for the leak check: a step served from cache holds the value of
// the build that ran it, which after a rotation is a previous version, and
// Key Vault keeps those. "Earlier" means every version but the one used,
// most recently created first (ties broken by version id), so a version
// pinned with --vault-secret has newer ones searched too.
//
// A version that is disabled, gone or unreadable, and a secret whose
// versions cannot be listed, are named in a note and not searched; only a
// cancelled or timed-out ctx is an error. The listing and the reads run at
// most parallel at a time. The values returned are marked Previous; the
// caller clears them (ids that share a Key Vault secret share the bytes).
func Previous(ctx context.Context, store keyvault.Store, secrets []Secret, n, parallel int) ([]Secret, []Note, error) {
	if n <= 0 {
		return nil, nil, nil
	}
	sources := sourcesOf(secrets)
	var mu sync.Mutex
	var notes []Note
	note := func(format string, args ...any) {
		mu.Lock()
		notes = append(notes, Note(fmt.Sprintf(format, args...)))
		mu.Unlock()
	}
	reads, err := previousVersions(ctx, store, sources, n, parallel, note)
	if err != nil {
		return nil, notes, err
	}

	var all []read
	var reqs []fetch.Request
	for _, r := range reads {
		all = append(all, r...)
		for _, rr := range r {
			reqs = append(reqs, fetch.Request{Name: rr.src.name, Version: rr.version})
		}
	}
	// Only a cancelled or timed-out ctx stops the reads: any other failure
	// is a note, and that version is not searched.
	res, err := fetch.Values(ctx, store, reqs, fetch.Options{Parallel: parallel, Stop: func(_ int, err error) error {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return nil
	}})
	if err != nil {
		return nil, notes, err
	}
	var previous []Secret
	for i, r := range all {
		switch err := res[i].Err; {
		case errors.Is(err, keyvault.ErrDisabled):
			note("leak check: secret %s: previous version %s is disabled, so its value is not searched", r.src.id, shortVersion(r.version))
			continue
		case err != nil:
			note("leak check: secret %s: previous version %s could not be read, so its value is not searched: %v", r.src.id, shortVersion(r.version), err)
			continue
		}
		// One per id, so each id's leak check has them; the ids share
		// the bytes.
		for _, id := range r.src.ids {
			previous = append(previous, Secret{ID: id, KVName: r.src.name, Version: r.version, Value: res[i].Value, Previous: true})
		}
	}
	slices.Sort(notes)
	return previous, notes, nil
}

// source is one Key Vault secret whose previous versions are listed once
// (names are case-insensitive), named in notes by the first id that uses
// it.
type source struct {
	name string
	id   string
	ids  []string        // every id that uses it
	used map[string]bool // versions the build used
}

// sourcesOf groups the secrets a build used by Key Vault secret, in the
// order they come.
func sourcesOf(secrets []Secret) []*source {
	var sources []*source
	byName := map[string]*source{}
	for _, s := range secrets {
		if s.Previous || s.KVName == "" {
			continue
		}
		key := strings.ToLower(s.KVName)
		src, ok := byName[key]
		if !ok {
			src = &source{name: s.KVName, id: s.ID, used: map[string]bool{}}
			byName[key] = src
			sources = append(sources, src)
		}
		if !slices.Contains(src.ids, s.ID) {
			src.ids = append(src.ids, s.ID)
		}
		src.used[s.Version] = true
	}
	return sources
}

// read is one previous version to read.
type read struct {
	src     *source
	version string
}

// previousVersions lists the versions of every source, at most parallel at
// a time, and returns per source the up to n previous versions to read.
func previousVersions(ctx context.Context, store keyvault.Store, sources []*source, n, parallel int, note func(string, ...any)) ([][]read, error) {
	reads := make([][]read, len(sources))
	err := fetch.Each(ctx, len(sources), parallel, func(gctx context.Context, i int) error {
		src := sources[i]
		versions, err := store.Versions(gctx, src.name)
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			note("leak check: secret %s: its previous versions could not be listed, only the current value is searched: %v", src.id, err)
			return nil
		}
		versions = slices.DeleteFunc(versions, func(p keyvault.SecretProperties) bool { return src.used[p.Version] })
		slices.SortFunc(versions, func(a, b keyvault.SecretProperties) int {
			return cmp.Or(b.Created.Compare(a.Created), strings.Compare(b.Version, a.Version))
		})
		for _, p := range versions[:min(n, len(versions))] {
			if !p.Enabled {
				note("leak check: secret %s: previous version %s is disabled, so its value is not searched", src.id, shortVersion(p.Version))
				continue
			}
			reads[i] = append(reads[i], read{src, p.Version})
		}
		return nil
	})
	return reads, err
}
