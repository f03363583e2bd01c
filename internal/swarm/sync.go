package swarm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker-vault/docker-vault/internal/action"
	"github.com/docker-vault/docker-vault/internal/fetch"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
)

// SyncOptions tune Sync.
type SyncOptions struct {
	PlanOptions
	ApplyOptions
	Parallel int  // concurrent Key Vault value reads
	DryRun   bool // plan only
	// Progress, when set, is told how many of the values to read are read.
	Progress func(done, total int)
	// Now is the clock that decides whether a version read is settled;
	// time.Now when nil.
	Now func() time.Time
}

// PartialError is a sync that applied what it could while some secrets
// failed: each failed secret is an error action of the plan.
type PartialError struct {
	Failed []Action
	Total  int
}

func (e *PartialError) Error() string {
	msgs := make([]string, 0, len(e.Failed))
	for _, a := range e.Failed {
		msgs = append(msgs, a.Secret+": "+a.Reason)
	}
	return action.Partial(msgs, e.Total, false)
}

// Sync makes the swarm hold the Key Vault value of every desired secret and
// returns the plan it carried out (or, with DryRun, would carry out). A sync
// that finds nothing changed costs one paged Key Vault list and one swarm
// secret list: values are read only for secrets whose Key Vault "updated"
// time moved (or whose version was not settled), and services are listed
// only when something may move.
//
// A secret that cannot be synced (deleted, disabled, too big, a name taken)
// fails alone: the rest of the plan is applied and the error is a
// *PartialError. A failure to list the vault, to sign in, or any Key Vault
// error other than a missing or disabled secret changes nothing.
func Sync(ctx context.Context, eng Engine, store keyvault.Store, desired []Desired, opts SyncOptions) (Plan, error) {
	if err := checkDesired(desired); err != nil {
		return Plan{}, err
	}
	obs, err := ObserveSecrets(ctx, eng)
	if err != nil {
		return Plan{}, err
	}
	listed, err := fetch.List(ctx, store)
	if err != nil {
		return Plan{}, err
	}
	items := VaultItems(listed)

	values, fetched, err := readValues(ctx, store, NeedsFetch(desired, items, obs, opts.PlanOptions.Source), opts)
	defer func() {
		// Values live no longer than the sync: zero them, not just drop them.
		for _, v := range values {
			clear(v)
		}
	}()
	if err != nil {
		return Plan{}, err
	}
	if MayMove(desired, obs, fetched, opts.PlanOptions) {
		if obs.Services, err = ObserveServices(ctx, eng); err != nil {
			return Plan{}, err
		}
	}
	plan := MakePlan(desired, items, fetched, obs, opts.PlanOptions)
	var partial error
	if errs := plan.Errors(); len(errs) > 0 {
		partial = &PartialError{Failed: errs, Total: len(desired)}
	}
	if opts.DryRun || plan.Changes()+plan.Confirms() == 0 {
		return plan, partial
	}
	opts.ApplyOptions.Source = opts.PlanOptions.Source
	if opts.ApplyOptions.Parallel == 0 {
		opts.ApplyOptions.Parallel = opts.Parallel
	}
	if err := Apply(ctx, eng, &plan, obs.Services, values, opts.ApplyOptions); err != nil {
		return plan, err
	}
	return plan, partial
}

// VaultItems is what a plan needs of the Key Vault list (fetch.List): each
// secret's enabled flag and "updated" time, keyed by lower-case name.
func VaultItems(listed map[string]keyvault.SecretProperties) map[string]VaultItem {
	items := make(map[string]VaultItem, len(listed))
	for k, p := range listed {
		items[k] = VaultItem{Enabled: p.Enabled, Updated: p.Updated}
	}
	return items
}

// checkDesired rejects a project whose mapping is ambiguous before anything
// is read.
func checkDesired(desired []Desired) error {
	claims := mapping.Claims{}
	byName := map[string]bool{}
	for _, d := range desired {
		if byName[d.Name] {
			return fmt.Errorf("secret %s is declared twice", d.Name)
		}
		byName[d.Name] = true
		if err := mapping.CheckKVName(d.Name, d.KVName); err != nil {
			return err
		}
		if !ValidName(VersionedName(d.Name, "00000000")) {
			return fmt.Errorf("secret %s: %q is not a valid swarm secret name (letters, digits, '-', '_' and '.', at most 64 characters with the version suffix)", d.Name, d.Name)
		}
		if err := claims.Claim(d.Name, d.KVName, d.Version); err != nil {
			return err
		}
	}
	return nil
}

// MayMove tells whether services must be listed: a rotation or a prune is
// possible only when a secret has, or is about to have, more than one
// managed version, or with --adopt. fetched holds the secrets whose value
// is read (only its keys matter). status asks it too, so that it lists
// services exactly when a sync would.
func MayMove(desired []Desired, obs Observed, fetched map[string]Fetched, opts PlanOptions) bool {
	if opts.Adopt {
		return true
	}
	for _, d := range desired {
		n := len(ours(obs.Managed, d.identity(opts.Source)))
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

// readValues reads the values of need, at most opts.Parallel at a time. A
// secret that is gone or disabled is a Fetched with Err, for that secret
// alone; any other failure (outage, sign-in, permission) stops the sync.
func readValues(ctx context.Context, store keyvault.Store, need []Desired, opts SyncOptions) (map[string][]byte, map[string]Fetched, error) {
	reqs := make([]fetch.Request, len(need))
	for i, d := range need {
		reqs[i] = fetch.Request{Name: d.KVName, Version: d.Version}
	}
	res, err := fetch.Values(ctx, store, reqs, fetch.Options{
		Parallel: opts.Parallel, Progress: opts.Progress, Now: opts.Now,
		Stop: func(i int, err error) error {
			if fetch.Missing(err) {
				return nil
			}
			return fmt.Errorf("secret %s: %w", need[i].Name, err)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	values := map[string][]byte{}
	fetched := map[string]Fetched{}
	for i, d := range need {
		r := res[i]
		var f Fetched
		switch {
		case errors.Is(r.Err, keyvault.ErrNotFound) && d.Version != "":
			f.Err = fmt.Sprintf("version %s of Key Vault secret %s does not exist", d.Version, d.KVName)
		case errors.Is(r.Err, keyvault.ErrNotFound):
			f.Err = fmt.Sprintf("Key Vault secret %q does not exist in %s (deleted during the sync?)", d.KVName, store.VaultURL())
		case errors.Is(r.Err, keyvault.ErrDisabled):
			f.Err = fmt.Sprintf("Key Vault secret %q is disabled", d.KVName)
		default:
			values[d.Name] = r.Value
			f = Fetched{Version: r.Version, Updated: r.Updated, Size: len(r.Value), Settled: d.Version != "" || r.Settled()}
		}
		fetched[d.Name] = f
	}
	return values, fetched, nil
}
