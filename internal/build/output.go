package build

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/docker-vault/docker-vault/internal/redact"
	"github.com/docker-vault/docker-vault/internal/runner"
)

// RunMasked runs the docker CLI child with what it prints passed through
// redact.Writer, which masks every form of every value of secrets, as CI
// systems mask their secrets: a RUN step that prints a value shows ***.
// Stdout is left as it is when maskStdout is false (it then carries a
// tarball, whose bytes a mask would corrupt). It returns the ids of the
// secrets whose values the child printed.
//
// The child then writes to pipes rather than a terminal, so buildx and
// compose print plain progress.
func RunMasked(ctx context.Context, run RunFunc, c runner.Cmd, secrets []Secret, maskStdout bool) (printed []string, err error) {
	ns := Needles(secrets)
	defer redact.Clear(ns)
	errW := redact.NewWriter(c.Stderr, ns)
	c.Stderr = errW
	masked := []*redact.Writer{errW}
	if maskStdout {
		w := redact.NewWriter(c.Stdout, ns)
		c.Stdout = w
		masked = append(masked, w)
	}
	err = run(ctx, c)
	ids := map[string]bool{}
	for _, w := range masked {
		if cerr := w.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("failed to run %s: %w", c.Name, cerr)
		}
		for tag := range w.Hits() {
			ids[secrets[tag].ID] = true
		}
	}
	return slices.Sorted(maps.Keys(ids)), err
}
