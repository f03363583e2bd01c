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
	// guessed: the plan was made on the guess, and proven while the
	// original loaded.
	guessed bool
}

// Prepare loads a project, finds its secrets and plans their migration:
// what compose.Load, compose.Detect and Make do one after the other, and
// with the same result, but in less time on a machine with a spare core.
//
// A plan is proven by loading the rewritten project with compose-go, which
// costs about as much as loading the original, and the plan cannot be made
// before the original is loaded: in sequence that is two loads. So while
// compose-go loads the original, Prepare plans on a guess of its model
// (compose.Loading.Guess) and starts loading the guessed rewrite at once.
// When the real model arrives, the guessed plan is kept only if Detect saw
// the same in both (compose.SameFacts); the guessed proof only if the real
// plan rewrites the same bytes, which then follows. Otherwise the plan is
// made again from the real model and proven again, as Make does. The guess
// can cost time, never the result.
func Prepare(ctx context.Context, lopts compose.LoadOptions, dopts compose.DetectOptions, opts Options) (*Prepared, error) {
	l, err := compose.Start(ctx, lopts)
	if err != nil {
		return nil, err
	}
	var spec *speculation
	if g := l.Guess(); g != nil {
		if guessHook != nil {
			guessHook(g)
		}
		spec = speculate(ctx, g, dopts, opts)
		// Prepare leaves nothing running: a guessed rewrite still
		// loading when Prepare returns is waited for.
		defer spec.stop()
	}
	p, err := l.Wait()
	if err != nil {
		return nil, err
	}
	if spec != nil && spec.plan != nil && compose.SameFacts(spec.project, p) {
		if err := spec.result(); err != nil {
			return nil, reloadError(err)
		}
		return &Prepared{Project: p, Report: spec.report, Plan: spec.plan, guessed: true}, nil
	}
	if spec != nil {
		spec.cancel()
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

// guessHook, when set by a test, sees the guess before Prepare plans on
// it: a test can make the guess wrong.
var guessHook func(*compose.Project)

// speculation is a plan made on a guessed model, and the load of its
// rewrite under way.
type speculation struct {
	project *compose.Project
	report  *compose.Report
	plan    *Plan
	// checked receives the result of loading the rewrite; nil when no
	// load runs.
	checked chan error
	cancel  context.CancelFunc
}

func speculate(ctx context.Context, g *compose.Project, dopts compose.DetectOptions, opts Options) *speculation {
	s := &speculation{project: g, cancel: func() {}}
	r, err := compose.Detect(g, dopts)
	if err != nil {
		return s
	}
	plan, err := plan(g, r, opts)
	if err != nil {
		return s
	}
	s.report, s.plan = r, plan
	overlay := plan.overlay()
	if len(overlay) == 0 {
		return s
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.checked = make(chan error, 1)
	go func() { s.checked <- compose.Check(ctx, g, overlay) }()
	return s
}

// result waits for the load of the guessed rewrite.
func (s *speculation) result() error {
	if s.checked == nil {
		return nil
	}
	err := <-s.checked
	s.checked = nil
	return err
}

// stop cancels the load of the guessed rewrite and waits for it to end.
func (s *speculation) stop() {
	s.cancel()
	_ = s.result()
}

func reloadError(err error) error {
	return fmt.Errorf("the rewritten project does not load, nothing was written (please report this): %w", err)
}
