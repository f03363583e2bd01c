package kvtest

import (
	"testing"
	"time"
)

// Options.Clock gives versions their times, so a test can write two versions
// within one second, as the service allows.
func TestClock(t *testing.T) {
	at := time.Unix(1800000000, 0)
	s := NewServer(t, Options{Clock: func() time.Time { return at }, Seed: map[string]string{"seeded": "seed-value"}})
	s.SetSecret("x", "value-a")
	at = at.Add(3 * time.Second)
	s.SetSecret("x", "value-b")
	at = at.Add(time.Second)
	s.SetEnabled("x", false)

	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if got := s.store.secrets["seeded"].latest().created; got != 1800000000 {
		t.Errorf("seeded version created at %d, want 1800000000", got)
	}
	x := s.store.secrets["x"]
	if got := x.versions[0].created; got != 1800000000 {
		t.Errorf("first version created at %d, want 1800000000", got)
	}
	if v := x.latest(); v.created != 1800000003 || v.updated != 1800000004 {
		t.Errorf("latest version created %d, updated %d, want 1800000003 and 1800000004", v.created, v.updated)
	}
}
