package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/docker-vault/docker-vault/internal/atomicfile"
	"github.com/docker-vault/docker-vault/internal/fetch"
	"github.com/docker-vault/docker-vault/internal/keyvault"
)

// PushOptions tune PushAll and CheckPushes.
type PushOptions struct {
	// Overwrite replaces a Key Vault secret that holds another value.
	Overwrite bool
}

// PushAction is what storing one value does to Key Vault.
type PushAction string

const (
	// PushCreate: the vault has no secret of that name.
	PushCreate PushAction = "create"
	// PushUnchanged: the vault holds that value already; nothing is written.
	PushUnchanged PushAction = "unchanged"
	// PushUpdate: the vault holds another value, replaced (Overwrite) by a
	// new version.
	PushUpdate PushAction = "update"
	// PushConflict: the vault holds another value (or a disabled secret,
	// whose value cannot be read) and Overwrite is off.
	PushConflict PushAction = "conflict"
)

// Writes tells whether the action stores a new version.
func (a PushAction) Writes() bool { return a == PushCreate || a == PushUpdate }

// PushCheck is what storing one Push would do. It never holds a value.
type PushCheck struct {
	Secret string     `json:"secret"`
	KVName string     `json:"vaultSecret"`
	Action PushAction `json:"action"`
	Reason string     `json:"reason,omitempty"`
}

// CheckPushes tells, for each push, whether Key Vault has a secret of that
// name and whether it holds another value, reading only what it must: one
// list of the vault's names, then a read of the current value of only the
// names that exist (at most keyvault.MaxConcurrency at once). It writes
// nothing, and the values it reads are cleared once compared. The result
// is in the order of pushes.
func CheckPushes(ctx context.Context, store keyvault.Store, pushes []Push, opts PushOptions) ([]PushCheck, error) {
	checks := make([]PushCheck, len(pushes))
	want := map[string]bool{}
	for i, p := range pushes {
		checks[i] = PushCheck{Secret: p.Secret, KVName: p.KVName, Action: PushCreate}
		want[strings.ToLower(p.KVName)] = true
	}
	if len(pushes) == 0 {
		return checks, nil
	}
	// Key Vault names are case-insensitive; enabled by lower-cased name.
	enabled := map[string]bool{}
	err := store.List(ctx, func(sp keyvault.SecretProperties) error {
		if key := strings.ToLower(sp.Name); want[key] {
			enabled[key] = sp.Enabled
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	differs := func(c *PushCheck, reason string) {
		c.Action, c.Reason = PushConflict, reason
		if opts.Overwrite {
			c.Action = PushUpdate
		}
	}
	var read []int
	for i := range pushes {
		on, exists := enabled[strings.ToLower(pushes[i].KVName)]
		switch {
		case !exists:
		case !on:
			differs(&checks[i], "disabled: its value cannot be compared")
		default:
			read = append(read, i)
		}
	}
	err = fetch.Each(ctx, len(read), keyvault.MaxConcurrency, func(ctx context.Context, j int) error {
		i := read[j]
		p, c := pushes[i], &checks[i]
		cur, err := store.Get(ctx, p.KVName, "")
		defer clear(cur.Value)
		switch {
		case errors.Is(err, keyvault.ErrNotFound):
			// deleted since the list
		case errors.Is(err, keyvault.ErrDisabled):
			differs(c, "disabled: its value cannot be compared")
		case err != nil:
			return fmt.Errorf("secret %s: %w", p.Secret, err)
		case bytes.Equal(cur.Value, p.Value):
			c.Action = PushUnchanged
		default:
			differs(c, "Key Vault holds another value")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return checks, nil
}

// ConflictError is a push refused because Key Vault holds other values.
type ConflictError struct {
	Conflicts []PushCheck
}

func (e *ConflictError) Error() string {
	c := e.Conflicts[0]
	msg := fmt.Sprintf("secret %s: Key Vault secret %s already holds a different value", c.Secret, c.KVName)
	if c.Reason != "" && c.Reason != "Key Vault holds another value" {
		msg = fmt.Sprintf("secret %s: Key Vault secret %s is %s", c.Secret, c.KVName, c.Reason)
	}
	if n := len(e.Conflicts) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg + ": rerun with --overwrite to store a new version, or map the secret to another name with x-vault"
}

// Conflicts returns the checks that are conflicts, as a *ConflictError, or
// nil when there is none.
func Conflicts(checks []PushCheck) error {
	var out []PushCheck
	for _, c := range checks {
		if c.Action == PushConflict {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return &ConflictError{Conflicts: out}
}

// ApplyPushes stores the values whose check (same index) writes, in order,
// and returns the Key Vault secrets it stored. It stops at the first
// failure, returning what it stored before it.
func ApplyPushes(ctx context.Context, store keyvault.Store, pushes []Push, checks []PushCheck) (set []string, err error) {
	for i, p := range pushes {
		if !checks[i].Action.Writes() {
			continue
		}
		if _, err := store.Set(ctx, p.KVName, p.Value, keyvault.SetOptions{Tags: map[string]string{"docker-vault-secret": p.Secret}}); err != nil {
			return set, fmt.Errorf("secret %s: %w", p.Secret, err)
		}
		set = append(set, p.KVName)
	}
	return set, nil
}

// PushAll stores the plan's values in Key Vault. A Key Vault secret that
// already holds the same value is left alone (so a second run changes
// nothing); one that holds another value is an error (*ConflictError)
// unless Overwrite. Everything is checked (CheckPushes) before anything is
// set.
func PushAll(ctx context.Context, store keyvault.Store, pushes []Push, opts PushOptions) (set []string, err error) {
	checks, err := CheckPushes(ctx, store, pushes, opts)
	if err != nil {
		return nil, err
	}
	if err := Conflicts(checks); err != nil {
		return nil, err
	}
	return ApplyPushes(ctx, store, pushes, checks)
}

// WriteOptions tune Write.
type WriteOptions struct {
	// Dir is the project directory: the work folder of the write goes
	// there, and the leftovers of an interrupted write are looked for
	// there. Empty: the folder every file of the plan is in.
	Dir string
	// Log receives one line per leftover removed first; nil discards them.
	Log io.Writer
	// step is atomicfile.Options.Step, for tests.
	step func(i int)
}

// Recover removes what an interrupted write left in the project folder dir
// and says so on log (nil discards). A run killed while it put files in
// place is undone first, so the project is as it was before that run:
// putBack is then true, and a plan made before Recover must be made again.
// A live run's folder is left alone. Old-style leftovers of earlier
// versions (temporary files beside the targets) are removed too.
func Recover(dir string, log io.Writer) (putBack bool, err error) {
	if log == nil {
		log = io.Discard
	}
	left, err := atomicfile.Clean(dir)
	for _, l := range left {
		name := l.Name
		if name == "" {
			name = "docker vault"
		}
		switch {
		case l.Running:
			fmt.Fprintf(log, "left %s alone: a docker vault %s is still writing there\n", l.Folder, name)
		case len(l.PutBack) > 0:
			fmt.Fprintf(log, "put back %s that an interrupted %s had written, and removed its %d leftover files\n", fewPaths(l.PutBack), name, l.Files)
			putBack = true
		default:
			fmt.Fprintf(log, "removed %d leftover files of an interrupted %s\n", l.Files, name)
		}
	}
	if err != nil {
		return putBack, fmt.Errorf("nothing was written: %w", err)
	}
	if n := removeOldLeftovers(dir); n > 0 {
		fmt.Fprintf(log, "removed %d leftover files of an interrupted migrate of an earlier version\n", n)
	}
	return putBack, nil
}

// Write writes every file of the plan, all or nothing (see
// internal/atomicfile): each new content is written and synced in a work
// folder inside the project first; only when all are written, and every
// file to replace still holds what the plan read, are they put in place,
// and a failure puts back the files already replaced. A file that changed,
// vanished or became read-only since it was read, or one to create that
// appeared, stops everything before anything is replaced. A symlinked file
// is written at its target, so the link stays. New files are created by a
// link, never renamed over a file that appeared.
//
// It runs Recover first. A caller that planned before its own Recover gets
// an error when that put files back: the plan was made on files that are no
// longer there, and migrate must run again.
func Write(files []*File, opts WriteOptions) error {
	if opts.Dir == "" {
		if len(files) == 0 {
			return nil
		}
		opts.Dir = commonDir(files)
	}
	putBack, err := Recover(opts.Dir, opts.Log)
	if err != nil {
		return err
	}
	if putBack {
		return errors.New("nothing was written: the files an interrupted write had written were put back (see above), so the project changed since it was read: run migrate again")
	}
	if len(files) == 0 {
		return nil
	}

	changes := make([]atomicfile.Change, 0, len(files))
	for _, f := range writeOrder(files) {
		c := atomicfile.Change{Path: f.Path, Data: f.New, Create: f.Created, Perm: f.Mode, Old: f.Old}
		if c.Create && c.Perm == 0 {
			c.Perm = 0o644
		}
		if f.Kind == "secret" {
			c.DirPerm = 0o700
		}
		changes = append(changes, c)
	}
	err = atomicfile.Replace(opts.Dir, changes, atomicfile.Options{Name: "migrate", Step: opts.step})
	var rb *atomicfile.RollbackError
	var fe *atomicfile.FileError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rb):
		return err
	case errors.As(err, &fe) && fe.Err == atomicfile.ErrReadOnly:
		return fmt.Errorf("nothing was written: %w: make it writable to migrate it", err)
	case errors.As(err, &fe):
		what := map[error]string{atomicfile.ErrChanged: "changed", atomicfile.ErrVanished: "vanished", atomicfile.ErrAppeared: "appeared"}[fe.Err]
		return fmt.Errorf("%s %s while migrate ran; nothing was written: run it again", fe.Path, what)
	default:
		return fmt.Errorf("nothing was written: %w", err)
	}
}

// oldLeftover names the temporary files (and their .orig backups) that
// Write made beside each target before it had a work folder: an earlier
// version's run killed mid-way left them, values and all, where git sees
// them.
var oldLeftover = regexp.MustCompile(`^\..+\.docker-vault-[0-9]+(\.orig)?$`)

// removeOldLeftovers removes them from the project folder and its secrets
// folder, and counts them.
func removeOldLeftovers(dir string) int {
	dirs := []string{dir, filepath.Join(dir, "secrets")}
	slices.Sort(dirs)
	n := 0
	for _, d := range slices.Compact(dirs) {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.Type().IsRegular() && oldLeftover.MatchString(e.Name()) && os.Remove(filepath.Join(d, e.Name())) == nil {
				n++
			}
		}
	}
	return n
}

// writeOrder is the order files are put in place, for a write killed
// half-way (the next run undoes it, but until then): the .gitignore before
// the secret files it ignores, the secret files before the compose files
// that point at them, and the env files, whose values go away, last.
func writeOrder(files []*File) []*File {
	rank := map[string]int{"gitignore": 0, "secret": 1, "compose": 2, "env": 3}
	out := slices.Clone(files)
	slices.SortStableFunc(out, func(a, b *File) int { return rank[a.Kind] - rank[b.Kind] })
	return out
}

// fewPaths names up to three paths, and counts the others.
func fewPaths(paths []string) string {
	if len(paths) <= 3 {
		return strings.Join(paths, ", ")
	}
	return fmt.Sprintf("%s and %d other files", strings.Join(paths[:3], ", "), len(paths)-3)
}

// commonDir is the deepest folder holding every file.
func commonDir(files []*File) string {
	dir := filepath.Dir(files[0].Path)
	for _, f := range files[1:] {
		for !strings.HasPrefix(f.Path, dir+string(filepath.Separator)) && filepath.Dir(dir) != dir {
			dir = filepath.Dir(dir)
		}
	}
	return dir
}
