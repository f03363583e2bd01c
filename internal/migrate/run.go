package migrate

import (
	"context"
	"fmt"
	"io"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/atomicfile"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
)

// RunOptions tune Run.
type RunOptions struct {
	Load   compose.LoadOptions
	Detect compose.DetectOptions
	Plan   Options
	// DryRun plans and changes nothing: a work folder an interrupted run
	// left is only named on Log.
	DryRun bool
	// Push stores the plan's values in Key Vault before any file is
	// written; Overwrite as in PushOptions.
	Push      bool
	Overwrite bool
	// OpenVault opens the Key Vault to push to, given the url the project's
	// x-vault names ("" when none). It is called only when there is
	// something to push.
	OpenVault func(ctx context.Context, projectURL string) (keyvault.Store, error)
	// VaultContext bounds opening the vault and pushing; nil: ctx alone
	// does. Loading and writing are not bounded by it.
	VaultContext func(ctx context.Context) (context.Context, context.CancelFunc)
	// Log receives notes about what an interrupted run left; nil discards
	// them.
	Log io.Writer
}

// Result is what Run planned and did.
type Result struct {
	Project *compose.Project
	Report  *compose.Report
	Plan    *Plan
	// Mask hides values in the plan's diffs (WriteDiff).
	Mask *Mask
	// Pushed are the Key Vault secrets Run stored.
	Pushed []string
}

// Run migrates a project: it plans (Prepare) and, unless DryRun, puts back
// what an interrupted run left first, stores the values in Key Vault when
// Push, and writes the files. Every push is made before any file is written,
// so a push that fails leaves the project as it was.
func Run(ctx context.Context, o RunOptions) (*Result, error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	prep, err := Prepare(ctx, o.Load, o.Detect, o.Plan)
	if err != nil {
		return nil, err
	}
	dir := prep.Project.Compose.WorkingDir
	if o.DryRun {
		for _, f := range atomicfile.Pending(dir) {
			fmt.Fprintf(log, "note: %s was left by an interrupted migrate; the next migrate without --dry-run puts back what it had written first\n", f)
		}
		return newResult(prep), nil
	}
	// What an interrupted run left goes first; when it had already replaced
	// files, they are back as before and the plan is made again on them.
	putBack, err := Recover(dir, log)
	if err != nil {
		return nil, err
	}
	if putBack {
		if prep, err = Prepare(ctx, o.Load, o.Detect, o.Plan); err != nil {
			return nil, err
		}
	}
	res := newResult(prep)
	if o.Push && len(prep.Plan.Pushes) > 0 {
		if res.Pushed, err = o.push(ctx, prep); err != nil {
			return nil, err
		}
	}
	if err := Write(prep.Plan.Files, WriteOptions{Dir: dir, Log: log}); err != nil {
		return nil, err
	}
	return res, nil
}

func newResult(prep *Prepared) *Result {
	return &Result{Project: prep.Project, Report: prep.Report, Plan: prep.Plan, Mask: NewMask(prep.Project, prep.Report)}
}

// push opens the vault and stores the plan's values.
func (o RunOptions) push(ctx context.Context, prep *Prepared) ([]string, error) {
	projectURL, err := mapping.VaultURL(prep.Project.Compose)
	if err != nil {
		return nil, err
	}
	if o.VaultContext != nil {
		var cancel context.CancelFunc
		ctx, cancel = o.VaultContext(ctx)
		defer cancel()
	}
	store, err := o.OpenVault(ctx, projectURL)
	if err != nil {
		return nil, err
	}
	pushed, err := PushAll(ctx, store, prep.Plan.Pushes, PushOptions{Overwrite: o.Overwrite})
	if err != nil {
		return nil, fmt.Errorf("no file was changed: %w", err)
	}
	return pushed, nil
}
