package swarm

import (
	"fmt"
	"io"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client/pkg/jsonmessage"
)

// waitDisplay shows, while a sync waits for rotated services to converge,
// one line per service rewritten in place: how many of its tasks run on the
// new secret, out of how many it should run. It is drawn as `docker service
// update` draws its progress (docker/cli's service/progress package): a
// stream of progress messages, one ID per line, rendered by moby's
// jsonmessage, the renderer of `docker pull` and `docker service update`.
// docker/cli's ServiceProgress itself does not fit: it needs the whole API
// client, judges convergence by its own rules (not "running on the new
// secret"), waits out the update's monitor period, and takes over SIGINT.
//
// The writer is a terminal: the caller shows progress only there (a nil
// writer is no display at all), so lines are drawn with cursor movements.
type waitDisplay struct {
	msgs chan jsonstream.Message
	done chan struct{}
	last map[string]string // what each service's line says now
}

// newWaitDisplay starts a display on w, or returns nil (every method of a
// nil display does nothing) when w is nil.
func newWaitDisplay(w io.Writer) *waitDisplay {
	if w == nil {
		return nil
	}
	d := &waitDisplay{msgs: make(chan jsonstream.Message), done: make(chan struct{}), last: map[string]string{}}
	// The terminal's width decides whether bars are drawn (jsonmessage
	// draws them from 110 columns); a writer with no descriptor gets the
	// renderer's default width.
	fd := ^uintptr(0)
	if f, ok := w.(interface{ FD() uintptr }); ok {
		fd = f.FD()
	}
	go func() {
		defer close(d.done)
		stream := func(yield func(jsonstream.Message, error) bool) {
			for m := range d.msgs {
				if !yield(m, nil) {
					break
				}
			}
			for range d.msgs { // never block the waiting loop
			}
		}
		_ = jsonmessage.DisplayJSONMessages(stream, w, fd, true, nil)
	}()
	return d
}

// serviceState is what a poll of one service found.
type serviceState struct {
	name      string
	updated   int // tasks meant to run that run on the new secret(s)
	total     int // tasks the service should run
	converged bool
	failure   string // how the update failed ("rolled back: ...", "paused: ..."), if it did
}

// show rewrites the line of s.name, when what it says changed.
func (d *waitDisplay) show(s serviceState) {
	if d == nil {
		return
	}
	m := jsonstream.Message{ID: s.name, Progress: &jsonstream.Progress{Current: int64(s.updated), Total: int64(s.total), HideCounts: true}}
	switch {
	case s.failure != "":
		m.Status, m.Progress = "update "+s.failure, &jsonstream.Progress{}
	case s.converged:
		m.Status = fmt.Sprintf("%d out of %d tasks updated: converged", s.updated, s.total)
		m.Progress.Current = m.Progress.Total
	default:
		m.Status = fmt.Sprintf("%d out of %d tasks updated", s.updated, s.total)
	}
	key := fmt.Sprintf("%s %d/%d", m.Status, m.Progress.Current, m.Progress.Total)
	if d.last[s.name] == key {
		return
	}
	d.last[s.name] = key
	d.msgs <- m
}

// close ends the display and returns once everything shown is written.
func (d *waitDisplay) close() {
	if d == nil {
		return
	}
	close(d.msgs)
	<-d.done
}
