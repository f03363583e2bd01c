// Package secretfile keeps the secret files of a plain Compose project
// (top-level `secrets: x: file: ./secrets/x`, marked as Key Vault-backed:
// see package mapping) equal to their Key Vault values.
//
// A file is replaced atomically, with the one writer migrate uses too
// (internal/atomicfile.WriteFilePerm): the new value is written and synced
// in a 0700, git-ignored work folder in the project directory and renamed
// over the old one, so no reader ever sees half a value. A sync killed
// mid-write leaves that folder, which the next migrate removes. A container
// that bind-mounts the file keeps the old inode until it restarts, which is
// why the caller restarts (or names) the containers that use a changed
// file.
//
// A rewritten file keeps its mode (without execute bits or write bits for
// group and others): one migrate made readable by all (0444) for a service
// that runs as a non-root user stays readable, so a sync never breaks that
// service's next start. A created file is Desired.Perm, 0600 by default,
// and a missing folder is created 0700. A file whose mode, in its folder,
// would let other host users read it is refused for that secret (perm.go).
//
// # What Sync may write
//
// Sync writes only inside the project directory (Options.ProjectDir), with
// every symlink resolved: a `file: ../elsewhere/x`, or a path through a
// symlink that leads out of the project (also a dangling one), is refused
// for that secret. A symlink that stays inside the project is followed: its
// target is replaced and the link stays a link.
//
// Sync replaces only files it created or recorded in its state file. An
// existing file the state does not record (a certificate kept by hand, a
// file another tool wrote) is refused for that secret unless its path is in
// Options.ForceFiles (--force-file); once written it is recorded, and later
// syncs need no flag.
//
// # The state file
//
// Which Key Vault version each file holds is recorded in a state file
// (.docker-vault-state.json) in the folder that really holds the files
// (symlinks resolved), keyed by file name: versions and times only, never a
// value or a hash of one. A sync with nothing changed therefore reads no
// value. Key Vault's "updated" times have a resolution of one second, so a
// version read before its second is over is recorded as unsettled: another
// version written in that second would list with the same time, and the
// next sync reads the version again instead of trusting the list.
//
// Because every file Sync writes is inside the project, so is every state
// file; it sits beside the secrets, in the folder that migrate
// git-ignores. A file about to be created is recorded (with no version)
// before it is written, so a sync interrupted between the two leaves a file
// the next sync knows as its own and writes again, never one it would take
// for someone else's.
//
// # Partial progress
//
// A secret that cannot be synced (its Key Vault secret is missing or
// disabled, its path is refused, its file is someone else's, its write
// fails) is an "error" Change for that secret only: the others are applied,
// and Sync returns a *PartialError naming each failure. A Key Vault outage or
// a sign-in failure (the list fails, or a value read fails for any reason
// but not-found or disabled) changes nothing.
package secretfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/docker-vault/docker-vault/internal/action"
	"github.com/docker-vault/docker-vault/internal/fetch"
	"github.com/docker-vault/docker-vault/internal/keyvault"
)

// StateFile is the name of the state file, in each folder of secret files.
const StateFile = ".docker-vault-state.json"

// Desired is one Key Vault-backed file secret of the project.
type Desired struct {
	Name    string // compose secret name
	KVName  string // Key Vault secret name
	Version string // pinned version, empty for the latest
	Path    string // absolute path of the file
	// Perm is the mode of the file when Sync creates it: OwnerPerm when
	// 0; Perm(true) when a service that runs as a non-root user uses it
	// (see perm.go). A file that exists keeps its own mode.
	Perm fs.FileMode
}

// Change is what a sync did (or would do) to one file.
type Change struct {
	Secret  string      `json:"secret"`
	Path    string      `json:"path"`
	Action  action.Kind `json:"action"` // create, update, unchanged, error
	Version string      `json:"version,omitempty"`
	Reason  string      `json:"reason,omitempty"`
}

// Options tune Sync.
type Options struct {
	Parallel int
	DryRun   bool
	Log      io.Writer
	// Progress, when set, is told how many of the values to read are read.
	Progress func(done, total int)
	// ProjectDir is the project directory, absolute. Sync writes nothing
	// outside it; an empty ProjectDir is an error.
	ProjectDir string
	// ForceFiles are absolute paths of existing files Sync may replace
	// though it neither created nor recorded them (--force-file). Each must
	// be the file of one of the desired secrets.
	ForceFiles []string
	// Now is the clock that decides whether a version read is settled;
	// time.Now when nil.
	Now func() time.Time
}

// PartialError is Sync's error when some secrets could not be synced: the
// others were applied (or, with DryRun, would be). Failed are their
// Changes, whose Reason says what to fix. Its message is action.Partial's,
// as swarm.PartialError's is, so that sync says one thing one way.
type PartialError struct {
	Failed []Change
	Total  int // the secrets Sync was given
	DryRun bool
}

func (e *PartialError) Error() string {
	msgs := make([]string, len(e.Failed))
	for i, c := range e.Failed {
		msgs[i] = c.Secret + ": " + c.Reason
	}
	return action.Partial(msgs, e.Total, e.DryRun)
}

// Sync writes the current Key Vault value of every desired file whose
// recorded version may be stale. It returns one Change per desired file,
// in order, and a *PartialError when any secret could not be synced (the
// others were). Any other error means nothing was written.
//
// The work is split as package swarm's: observe reads the files and their
// state, MakePlan is a pure function of that, the Key Vault list and the
// values read, and apply carries the plan out.
func Sync(ctx context.Context, store keyvault.Store, desired []Desired, opts Options) ([]Change, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	root, err := projectRoot(opts.ProjectDir)
	if err != nil {
		return nil, err
	}
	obs, err := observe(root, desired, opts.ForceFiles)
	if err != nil {
		return nil, err
	}
	listed, err := fetch.List(ctx, store)
	if err != nil {
		return nil, err
	}
	need := NeedsFetch(desired, obs, listed, store.VaultURL())
	values, fetched, err := readValues(ctx, store, desired, need, opts)
	defer func() {
		for _, v := range values {
			clear(v)
		}
	}()
	plan := MakePlan(desired, obs, listed, fetched, store.VaultURL())
	if err != nil {
		return plan.Changes, err
	}
	if opts.DryRun {
		return plan.Changes, partial(plan.Changes, true)
	}
	apply(&plan, desired, obs, values, opts.Log)
	return plan.Changes, partial(plan.Changes, false)
}

// readValues reads the values of the desired secrets need names, at most
// opts.Parallel at a time. A secret that is gone or disabled is a Fetched
// with Err, for that secret alone; any other failure (outage, sign-in,
// permission) stops the sync.
func readValues(ctx context.Context, store keyvault.Store, desired []Desired, need []int, opts Options) (map[int][]byte, map[int]Fetched, error) {
	reqs := make([]fetch.Request, len(need))
	for k, i := range need {
		reqs[k] = fetch.Request{Name: desired[i].KVName, Version: desired[i].Version}
	}
	res, err := fetch.Values(ctx, store, reqs, fetch.Options{
		Parallel: opts.Parallel, Progress: opts.Progress, Now: opts.Now,
		Stop: func(k int, err error) error {
			if fetch.Missing(err) {
				return nil
			}
			return fmt.Errorf("secret %s: %w", desired[need[k]].Name, err)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	values := map[int][]byte{}
	fetched := map[int]Fetched{}
	for k, i := range need {
		d, r := desired[i], res[k]
		switch {
		case errors.Is(r.Err, keyvault.ErrNotFound) && d.Version != "":
			fetched[i] = Fetched{Err: fmt.Sprintf("Key Vault secret %q has no version %s in %s: pin another version in x-vault.version, or remove the pin", d.KVName, d.Version, store.VaultURL())}
		case errors.Is(r.Err, keyvault.ErrNotFound):
			fetched[i] = Fetched{Err: fmt.Sprintf("Key Vault secret %q does not exist in %s (deleted during the sync?): create it, or map the secret to another with x-vault.name", d.KVName, store.VaultURL())}
		case errors.Is(r.Err, keyvault.ErrDisabled):
			fetched[i] = Fetched{Err: fmt.Sprintf("Key Vault secret %q is disabled: enable it, or map the secret to another with x-vault.name", d.KVName)}
		default:
			values[i] = r.Value
			fetched[i] = Fetched{Version: r.Version, Updated: r.Updated, Settled: d.Version != "" || r.Settled()}
		}
	}
	return values, fetched, nil
}

func partial(changes []Change, dryRun bool) error {
	var failed []Change
	for _, c := range changes {
		if c.Action == action.Error {
			failed = append(failed, c)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &PartialError{Failed: failed, Total: len(changes), DryRun: dryRun}
}
