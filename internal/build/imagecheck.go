package build

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker-vault/docker-vault/internal/redact"
)

// LeakError is a leak check that found values in an image.
type LeakError struct {
	Image  string // as the user knows it: a tag, else the id
	Report Report
}

func (e *LeakError) Error() string { return "leak check failed: " + e.Report.Failure(e.Image) }

// checkImage searches image id (shown as name) for every value of secrets.
// Finding one is a *LeakError; an image that cannot be read to its end is
// an error too, never a pass.
func (env Env) checkImage(ctx context.Context, id, name string, secrets []Secret) error {
	if !slices.ContainsFunc(secrets, func(s Secret) bool { return len(s.Value) >= redact.MinLen }) {
		fmt.Fprintf(env.Stderr, "note: leak check of %s skipped: every value is shorter than %d bytes\n", name, redact.MinLen)
		return nil
	}
	start := time.Now()
	rc, err := env.Images.ImageSave(ctx, []string{id})
	if err != nil {
		return fmt.Errorf("leak check: failed to read image %s: %w", name, err)
	}
	defer rc.Close()
	report, err := Scan(rc, secrets)
	if err != nil {
		return fmt.Errorf("leak check failed: image %s was not searched to its end, so it may hold a value: %w (--no-leak-check skips the check)", name, oneLineError(err))
	}
	if len(report.Leaks) > 0 {
		return &LeakError{Image: name, Report: report}
	}
	fmt.Fprintf(env.Stderr, "leak check: %s; %.1f MB in %s\n", Summary(secrets, report, name), float64(report.Bytes)/1e6, time.Since(start).Round(time.Millisecond))
	return nil
}

// oneLineError keeps an error to one line: the engine's or a reader's
// message may span several.
func oneLineError(err error) error {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if msg == err.Error() {
		return err
	}
	return fmt.Errorf("%s", msg)
}
