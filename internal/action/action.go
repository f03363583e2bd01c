// Package action is the one vocabulary of what a sync does to a secret, for
// swarm secrets and secret files alike, so that sync's table and its JSON
// say one thing one way. The words are what `docker vault sync` prints and
// what scripts read from its JSON: changing one is a breaking change.
package action

import (
	"fmt"
	"strings"
)

// Kind is what a sync does (or would do) to one secret.
type Kind string

const (
	// Create makes the secret (a swarm secret, a file) where there was none.
	Create Kind = "create"
	// Unchanged: Docker already holds the current value.
	Unchanged Kind = "unchanged"
	// Update replaces a secret file's value in place (atomically).
	Update Kind = "update"
	// Rotate creates a new swarm secret (swarm secrets are immutable) and
	// moves the services off the older one.
	Rotate Kind = "rotate"
	// Relabel records new Key Vault properties on a swarm secret whose
	// value did not change.
	Relabel Kind = "relabel"
	// Prune removes an old version nothing uses any more.
	Prune Kind = "prune"
	// Keep is a prune not carried out: something still used the version.
	Keep Kind = "keep"
	// Error: this secret alone could not be synced; the reason says why.
	Error Kind = "error"
)

// Changes tells whether k changes what Docker holds.
func (k Kind) Changes() bool {
	switch k {
	case Create, Update, Rotate, Relabel, Prune:
		return true
	}
	return false
}

// Partial is the message of a sync that applied what it could while some
// secrets failed alone: failed holds "secret: reason" of each, in order,
// of total secrets. Swarm and file secrets say it the same way.
func Partial(failed []string, total int, dryRun bool) string {
	msgs := strings.Join(failed, "; ")
	switch {
	case len(failed) >= total:
		return "nothing was synced: " + msgs
	case dryRun:
		return fmt.Sprintf("%d of %d secrets would fail, the others would be synced: %s", len(failed), total, msgs)
	}
	return fmt.Sprintf("%d of %d secrets failed, the others were synced: %s", len(failed), total, msgs)
}
