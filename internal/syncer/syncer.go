// Package syncer runs one sync of a project: its external secrets become
// swarm secrets (package swarm), its Key Vault-backed file secrets are
// written (package secretfile), and the Compose containers that use a
// changed file are named or restarted (package restart). Both halves share
// one Key Vault list, so a sync with nothing changed costs one paged list.
package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/restart"
	"github.com/docker-vault/docker-vault/internal/secretfile"
	"github.com/docker-vault/docker-vault/internal/swarm"
	"github.com/moby/moby/client"
)

// Engine is the part of the Engine API a sync uses.
type Engine interface {
	swarm.Engine
	restart.Engine
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
}

// Options tune Run.
type Options struct {
	// Stack is the stack whose services the swarm half moves; AllStacks
	// moves the services of every stack.
	Stack     string
	AllStacks bool
	Keep      int  // previous versions of each swarm secret to keep
	Adopt     bool // move services off unmanaged secrets of the same name
	Wait      bool // wait for rotated services to converge
	Parallel  int  // Key Vault values read at once
	DryRun    bool
	// Restart restarts the Compose containers that use a changed file;
	// without it they are only named.
	Restart bool
	// ProjectDir is the absolute project directory: files are written
	// only inside it.
	ProjectDir string
	// ForceFiles are absolute paths of secret files sync may replace
	// though it did not write them.
	ForceFiles []string
	// NonRoot names the services that run as a user other than root
	// (secretfile.NonRootServices): a file sync creates for one of them
	// is readable by all, in a 0700 folder (see secretfile's perm.go).
	NonRoot map[string]bool
	// Log is told each step applied; Progress how many values are read.
	Log      io.Writer
	Progress func(done, total int)
	// WaitProgress, when not nil, is a terminal: while Wait waits, it
	// shows each rotated service's tasks on the new secret out of its
	// total, one line per service rewritten in place (see swarm.Apply).
	// Nil shows nothing.
	WaitProgress io.Writer
}

// Result is what a sync did (or, with DryRun, would do): sync's --format
// json document.
type Result struct {
	Vault      string              `json:"vault"`
	Swarm      swarm.Plan          `json:"swarm"`
	Files      []secretfile.Change `json:"files"`
	Containers []string            `json:"restart,omitempty"`
	Restarted  bool                `json:"restarted,omitempty"`
	DryRun     bool                `json:"dryRun,omitempty"`
	// Checked counts the Key Vault-backed secrets the sync looked at
	// (WatchLine's "checked 40 secrets").
	Checked int `json:"-"`
	// Error is why the sync failed, so a script reading the JSON need not
	// parse stderr. The plan above it says what was (or would have been)
	// done.
	Error string `json:"error,omitempty"`
}

// Changes counts the changes to Docker: swarm secrets and files.
func (r *Result) Changes() int {
	n := r.Swarm.Changes()
	for _, c := range r.Files {
		if c.Action.Changes() {
			n++
		}
	}
	return n
}

// Run syncs the Key Vault-backed secrets among secrets. A secret that fails
// alone (a *swarm.PartialError, a *secretfile.PartialError) does not stop
// the others; any other failure stops the sync. The Result is nil only
// when nothing was planned.
func Run(ctx context.Context, eng Engine, store keyvault.Store, secrets []mapping.Secret, opts Options) (*Result, error) {
	store = &listOnce{Store: store}
	res := &Result{Vault: store.VaultURL(), DryRun: opts.DryRun, Files: []secretfile.Change{}}
	desired, files := Split(secrets, opts.NonRoot)
	res.Checked = len(desired) + len(files)
	var partial error
	if len(desired) > 0 {
		if err := requireSwarmManager(ctx, eng); err != nil {
			return nil, err
		}
		plan, err := swarm.Sync(ctx, eng, store, desired, swarm.SyncOptions{
			PlanOptions:  swarm.PlanOptions{Source: store.VaultURL(), Keep: opts.Keep, Adopt: opts.Adopt, Stack: opts.Stack, AllStacks: opts.AllStacks},
			ApplyOptions: swarm.ApplyOptions{Wait: opts.Wait, Log: opts.Log, Progress: opts.WaitProgress},
			Parallel:     opts.Parallel,
			DryRun:       opts.DryRun,
			Progress:     opts.Progress,
		})
		res.Swarm = plan
		var pe *swarm.PartialError
		switch {
		case errors.As(err, &pe):
			partial = err
		case err != nil:
			return res, err
		}
	}
	return res, oneLine(partial, syncFiles(ctx, eng, store, files, opts, res))
}

// Split turns the project's Key Vault-backed secrets into what each half of
// a sync takes: external secrets for package swarm, file secrets for
// package secretfile (nonRoot as Options.NonRoot), each in the order of
// secrets. Local secrets are left out.
func Split(secrets []mapping.Secret, nonRoot map[string]bool) ([]swarm.Desired, []secretfile.Desired) {
	var desired []swarm.Desired
	var files []secretfile.Desired
	for _, s := range secrets {
		switch {
		case s.Local:
		case s.Kind == mapping.External:
			desired = append(desired, swarm.Desired{Name: s.Name, KVName: s.KVName, Version: s.Version, Consumers: s.Consumers})
		case s.Kind == mapping.File:
			files = append(files, secretfile.Desired{Name: s.Key, KVName: s.KVName, Version: s.Version, Path: s.Path,
				Perm: secretfile.PermFor(s.Consumers, nonRoot)})
		}
	}
	return desired, files
}

// syncFiles writes the project's Key Vault-backed secret files, then
// restarts (or names) the containers that use a changed one.
func syncFiles(ctx context.Context, eng Engine, store keyvault.Store, files []secretfile.Desired, opts Options, res *Result) error {
	if len(files) == 0 {
		return nil
	}
	changes, err := secretfile.Sync(ctx, store, files, secretfile.Options{
		Parallel: opts.Parallel, DryRun: opts.DryRun, Log: opts.Log, Progress: opts.Progress,
		ProjectDir: opts.ProjectDir, ForceFiles: opts.ForceFiles,
	})
	res.Files = changes
	var partial *secretfile.PartialError
	if err != nil && !errors.As(err, &partial) {
		return err
	}
	// The files that did sync still get their containers restarted.
	return oneLine(err, restartStale(ctx, eng, changes, opts, res))
}

// restartStale finds the containers that use a changed secret file and, with
// opts.Restart, restarts them.
func restartStale(ctx context.Context, eng restart.Engine, changes []secretfile.Change, opts Options, res *Result) error {
	// Containers are looked for when a file changed (to name them), and
	// on every --restart run: a sync that wrote the file without --restart
	// left them stale, and this run has nothing to write.
	var paths, changed []string
	for _, c := range changes {
		paths = append(paths, c.Path)
		if c.Action.Changes() {
			changed = append(changed, c.Path)
		}
	}
	if len(changed) == 0 && !opts.Restart {
		return nil
	}
	var pending []string
	if opts.DryRun {
		pending = changed
	}
	stale, err := restart.Stale(ctx, eng, paths, pending)
	if err != nil {
		return err
	}
	res.Containers = restart.Names(stale)
	if !opts.Restart || opts.DryRun || len(stale) == 0 {
		return nil
	}
	res.Containers, err = restart.Restart(ctx, eng, stale)
	res.Restarted = len(res.Containers) > 0
	return err
}

func requireSwarmManager(ctx context.Context, eng Engine) error {
	info, err := eng.Info(ctx, client.InfoOptions{})
	if err != nil {
		return fmt.Errorf("failed to reach the Docker engine: %w", err)
	}
	if !info.Info.Swarm.ControlAvailable {
		return errors.New("external secrets need a swarm manager, and this engine is not one: run `docker swarm init`, or use `file:` secrets for plain Compose")
	}
	return nil
}

// oneLine joins the errors that are not nil into one, on one line: a
// command's error is one line saying what to fix.
func oneLine(errs ...error) error {
	var set []error
	var msgs []string
	for _, err := range errs {
		if err != nil {
			set = append(set, err)
			msgs = append(msgs, err.Error())
		}
	}
	switch len(set) {
	case 0:
		return nil
	case 1:
		return set[0]
	}
	return &joined{msg: strings.Join(msgs, "; "), errs: set}
}

// joined keeps errors.Is and errors.As working through oneLine.
type joined struct {
	msg  string
	errs []error
}

func (j *joined) Error() string   { return j.msg }
func (j *joined) Unwrap() []error { return j.errs }

// listOnce is a Store whose List asks Key Vault once and replays the answer
// to later callers, so that a project with both swarm and file secrets
// costs one paged list per sync. It holds names and properties, no value.
type listOnce struct {
	keyvault.Store
	listed bool
	items  []keyvault.SecretProperties
	err    error
}

func (l *listOnce) List(ctx context.Context, fn func(keyvault.SecretProperties) error) error {
	if !l.listed {
		l.listed = true
		l.err = l.Store.List(ctx, func(p keyvault.SecretProperties) error {
			l.items = append(l.items, p)
			return nil
		})
	}
	if l.err != nil {
		return l.err
	}
	for _, p := range l.items {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}
