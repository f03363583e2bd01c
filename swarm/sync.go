package swarm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/docker-vault/docker-vault/keyvault"
	"github.com/docker-vault/docker-vault/mapping"
	"golang.org/x/sync/errgroup"
)

// SyncOptions tune Sync.
type SyncOptions struct {
	PlanOptions
	ApplyOptions
	Parallel int  // concurrent Key Vault value reads
	DryRun   bool // plan only
	// Progress, when set, is told how many of the values to read are read.
	Progress func(done, total int)
}

// Sync makes the swarm hold the Key Vault value of every desired secret and
// returns the plan it carried out (or, with DryRun, would carry out). A sync
// that finds nothing changed costs one paged Key Vault list and one swarm
// secret list: values are read only for secrets whose Key Vault "updated"
// time moved, and services are listed only when something may move.
func Sync(ctx context.Context, eng Engine, store keyvault.Store, desired []Desired, opts SyncOptions) (Plan, error) {
	if err := checkDesired(desired); err != nil {
		return Plan{}, err
	}
	obs, err := ObserveSecrets(ctx, eng)
	if err != nil {
		return Plan{}, err
	}
	vault := map[string]keyvault.SecretProperties{}
	items := map[string]VaultItem{}
	err = store.List(ctx, func(p keyvault.SecretProperties) error {
		vault[strings.ToLower(p.Name)] = p
		items[strings.ToLower(p.Name)] = VaultItem{Enabled: p.Enabled, Updated: p.Updated}
		return nil
	})
	if err != nil {
		return Plan{}, vaultError(err, "failed to list secrets of "+store.VaultURL())
	}

	values, fetched, err := fetch(ctx, store, NeedsFetch(desired, items, obs), opts.Parallel, opts.Progress)
	defer func() {
		// Values live no longer than the sync: zero them, not just drop them.
		for _, v := range values {
			clear(v)
		}
	}()
	if err != nil {
		return Plan{}, err
	}
	if mayMove(desired, obs, fetched, opts.Adopt) {
		if obs.Services, err = ObserveServices(ctx, eng); err != nil {
			return Plan{}, err
		}
	}
	plan := MakePlan(desired, items, fetched, obs, opts.PlanOptions)
	if errs := plan.Errors(); len(errs) > 0 {
		var msgs []string
		for _, a := range errs {
			msgs = append(msgs, a.Secret+": "+a.Reason)
		}
		return plan, fmt.Errorf("nothing was changed: %s", strings.Join(msgs, "; "))
	}
	if opts.DryRun || plan.Changes() == 0 {
		return plan, nil
	}
	opts.ApplyOptions.Source = opts.PlanOptions.Source
	if opts.ApplyOptions.Parallel == 0 {
		opts.ApplyOptions.Parallel = opts.Parallel
	}
	return plan, Apply(ctx, eng, &plan, obs.Services, values, opts.ApplyOptions)
}

// vaultError returns a Store error as it is when it already says which
// vault and operation failed (*keyvault.Error always does), and adds that
// context otherwise.
func vaultError(err error, context string) error {
	var kvErr *keyvault.Error
	if errors.As(err, &kvErr) {
		return err
	}
	return fmt.Errorf("%s: %w", context, err)
}

// checkDesired rejects a project whose mapping is ambiguous before anything
// is read.
func checkDesired(desired []Desired) error {
	byKV := map[string]string{}
	byName := map[string]bool{}
	for _, d := range desired {
		if byName[d.Name] {
			return fmt.Errorf("secret %s is declared twice", d.Name)
		}
		byName[d.Name] = true
		if !mapping.ValidKVName(d.KVName) {
			return fmt.Errorf("secret %s maps to %q, which is not a valid Key Vault secret name (1-127 letters, digits and hyphens)", d.Name, d.KVName)
		}
		if !ValidName(VersionedName(d.Name, "00000000")) {
			return fmt.Errorf("secret %s: %q is not a valid swarm secret name (letters, digits, '-', '_' and '.', at most 64 characters with the version suffix)", d.Name, d.Name)
		}
		if d.Version != "" {
			continue // several secrets may pin different versions of one Key Vault secret
		}
		k := strings.ToLower(d.KVName)
		if other, ok := byKV[k]; ok {
			return fmt.Errorf("secrets %s and %s both map to Key Vault secret %s: give one an x-vault name", other, d.Name, d.KVName)
		}
		byKV[k] = d.Name
	}
	return nil
}

// mayMove tells whether services must be listed: a rotation or a prune is
// possible only when a secret has, or is about to have, more than one
// managed version, or with --adopt.
func mayMove(desired []Desired, obs Observed, fetched map[string]Fetched, adopt bool) bool {
	if adopt {
		return true
	}
	for _, d := range desired {
		n := len(byName(obs.Managed, d.Name))
		if _, ok := fetched[d.Name]; ok && n > 0 {
			return true
		}
		if n > 1 {
			return true
		}
		if _, ok := obs.Unmanaged[d.Name]; ok {
			return true // to tell an unmanaged secret in use from an unused one
		}
	}
	return false
}

// fetch reads the values of need concurrently, at most parallel at a time.
func fetch(ctx context.Context, store keyvault.Store, need []Desired, parallel int, progress func(done, total int)) (map[string][]byte, map[string]Fetched, error) {
	if parallel < 1 {
		parallel = 8
	}
	var mu sync.Mutex
	values := map[string][]byte{}
	fetched := map[string]Fetched{}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, d := range need {
		g.Go(func() error {
			s, err := store.Get(ctx, d.KVName, d.Version)
			if err != nil {
				if errors.Is(err, keyvault.ErrNotFound) && d.Version != "" {
					return fmt.Errorf("secret %s: version %s of Key Vault secret %s does not exist", d.Name, d.Version, d.KVName)
				}
				return fmt.Errorf("secret %s: %w", d.Name, err)
			}
			mu.Lock()
			defer mu.Unlock()
			values[d.Name] = s.Value
			fetched[d.Name] = Fetched{Version: s.Version, Updated: s.Updated, Size: len(s.Value)}
			if progress != nil {
				progress(len(fetched), len(need))
			}
			return nil
		})
	}
	err := g.Wait()
	return values, fetched, err
}
