package migrate

import (
	"context"
	"fmt"

	"github.com/docker-vault/docker-vault/compose"
)

// Prepared is a project loaded, its secrets found and their migration
// planned.
type Prepared struct {
	Project *compose.Project
	Report  *compose.Report
	Plan    *Plan
}

// Prepare loads a project as docker compose does, finds its secrets and
// plans their migration: Load, Detect, then Make, which proves the rewrite
// by loading it with compose-go. One reading path: the project's model is
// always compose-go's.
func Prepare(ctx context.Context, lopts compose.LoadOptions, dopts compose.DetectOptions, opts Options) (*Prepared, error) {
	p, err := compose.Load(ctx, lopts)
	if err != nil {
		return nil, err
	}
	if opts.Images != nil && dopts.Images == nil {
		dopts.Images = ReadImages(ctx, opts.Images, p.Compose)
	}
	r, err := compose.Detect(p, dopts)
	if err != nil {
		return nil, err
	}
	plan, err := Make(ctx, p, r, opts)
	if err != nil {
		return nil, err
	}
	return &Prepared{Project: p, Report: r, Plan: plan}, nil
}

func reloadError(err error) error {
	return fmt.Errorf("the rewritten project does not load, nothing was written (please report this): %w", err)
}
