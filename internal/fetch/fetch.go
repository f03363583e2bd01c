// Package fetch reads many Key Vault values at once, a bounded number at a
// time: the one copy of that loop, for sync (swarm and file secrets) and
// build (the secrets of a build and their previous versions).
//
// Key Vault throttles a vault's callers together, so reads are bounded
// rather than all sent at once; and a build or a sync must not carry on
// with half of its values after an outage, so a read's failure either
// stops every read (an outage, a sign-in failure) or stays that item's own
// (a deleted or disabled secret), as the caller decides.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"golang.org/x/sync/errgroup"
)

// DefaultParallel is the bound when a caller gives none.
const DefaultParallel = 8

// Each runs fn(ctx, i) for every i in [0, n), at most parallel at once
// (DefaultParallel when less than 1). The first error fn returns cancels
// the ctx the others were given and is Each's error.
func Each(ctx context.Context, n, parallel int, fn func(ctx context.Context, i int) error) error {
	if parallel < 1 {
		parallel = DefaultParallel
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i := range n {
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}

// Request names one value to read.
type Request struct {
	Name    string // Key Vault secret name
	Version string // empty for the latest
}

// Result is what one read found.
type Result struct {
	keyvault.Secret       // zero when Err is set
	Err             error // the read's failure, when Options.Stop let it stand
	// Start is when the read began: see Settled.
	Start time.Time
}

// Settled tells whether the read began after the second of the version's
// "updated" time was over. Key Vault times have a resolution of one
// second: a version read within its second may be followed by another that
// lists with the same time, so only a settled read lets a later sync trust
// the list instead of reading again.
func (r Result) Settled() bool {
	return !r.Start.Before(r.Updated.Truncate(time.Second).Add(time.Second))
}

// Options tune Values.
type Options struct {
	Parallel int // reads at once; DefaultParallel when less than 1
	// Progress, when set, is told how many of the reads are done, one call
	// at a time.
	Progress func(done, total int)
	// Now is the clock of Result.Start; time.Now when nil.
	Now func() time.Time
	// Stop decides what the failed read of reqs[i] means: a non-nil error
	// stops every read and is Values' error; nil keeps the failure as that
	// item's Result.Err. Without Stop every failure stops.
	Stop func(i int, err error) error
}

// Values reads reqs concurrently and returns one Result per request, in
// order. The caller owns the values and clears them when done. On error
// the values already read are cleared and no Result is returned.
func Values(ctx context.Context, store keyvault.Store, reqs []Request, opts Options) ([]Result, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Stop == nil {
		opts.Stop = func(_ int, err error) error { return err }
	}
	out := make([]Result, len(reqs))
	var mu sync.Mutex
	done := 0
	err := Each(ctx, len(reqs), opts.Parallel, func(ctx context.Context, i int) error {
		start := opts.Now()
		s, err := store.Get(ctx, reqs[i].Name, reqs[i].Version)
		if err != nil {
			if err := opts.Stop(i, err); err != nil {
				return err
			}
		}
		mu.Lock()
		defer mu.Unlock()
		out[i] = Result{Secret: s, Err: err, Start: start}
		if done++; opts.Progress != nil {
			opts.Progress(done, len(reqs))
		}
		return nil
	})
	if err != nil {
		Clear(out)
		return nil, err
	}
	return out, nil
}

// List lists the vault's secrets (no values) keyed by lower-case name, as
// Key Vault names are case-insensitive. A *keyvault.Error already names
// the vault and the operation and is returned as it is; any other error is
// given that context.
func List(ctx context.Context, store keyvault.Store) (map[string]keyvault.SecretProperties, error) {
	listed := map[string]keyvault.SecretProperties{}
	err := store.List(ctx, func(p keyvault.SecretProperties) error {
		listed[strings.ToLower(p.Name)] = p
		return nil
	})
	var kvErr *keyvault.Error
	switch {
	case err == nil:
		return listed, nil
	case errors.As(err, &kvErr):
		return nil, err
	}
	return nil, fmt.Errorf("failed to list secrets of %s: %w", store.VaultURL(), err)
}

// Missing tells whether a read failed because its secret is not there to
// read (deleted, disabled, no such version): a failure of that secret
// alone, where an outage or a sign-in failure is every read's.
func Missing(err error) bool {
	return errors.Is(err, keyvault.ErrNotFound) || errors.Is(err, keyvault.ErrDisabled)
}

// Clear zeroes every value of rs: values live no longer than their use.
func Clear(rs []Result) {
	for i := range rs {
		clear(rs[i].Value)
	}
}
