package syncer

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker-vault/docker-vault/internal/secretfile"
	"github.com/docker-vault/docker-vault/internal/swarm"
)

// WatchLine is the line `sync --watch` shows on a terminal after each
// round, so that a quiet watch still shows it is alive: "checked 40
// secrets, nothing changed, next in 5m". res and err are what Run
// returned; next is the wait before the next round. It names secrets by
// count only, never a value.
func WatchLine(res *Result, err error, next time.Duration) string {
	when := "next in " + roundDuration(next)
	var sp *swarm.PartialError
	var fp *secretfile.PartialError
	isSwarm, isFiles := errors.As(err, &sp), errors.As(err, &fp)
	if res == nil || (err != nil && !isSwarm && !isFiles) {
		// The round stopped before (or while) applying its plan: what it
		// counted means nothing; the error says why.
		return "sync failed, " + when
	}
	parts := []string{fmt.Sprintf("checked %d %s", res.Checked, plural(res.Checked, "secret", "secrets"))}
	if n := res.Changes(); n == 0 {
		parts = append(parts, "nothing changed")
	} else {
		parts = append(parts, fmt.Sprintf("%d changed", n))
	}
	failed := 0
	if isSwarm {
		failed += len(sp.Failed)
	}
	if isFiles {
		failed += len(fp.Failed)
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", failed))
	}
	return strings.Join(append(parts, when), ", ")
}

// roundDuration writes d to the second, without zero units: 5m, 1h30m, 4m47s.
func roundDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Second {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
