package kvtest

import (
	"fmt"
	"time"
)

// Tests drive the emulator directly through these, without HTTP: secrets,
// faults and request counters.

// SetSecret stores value as a new version of name, directly (no HTTP, not
// counted, no faults), and returns the version. It panics on what the
// service would reject (bad name, value too large, soft-deleted name): a
// test passing those has a bug. The panic never includes the value.
func (s *Server) SetSecret(name, value string) (version string) {
	_, v, err := s.store.set(name, setParams{value: value}, s.newVersionID, time.Now())
	if err != nil {
		panic(fmt.Sprintf("kvtest: SetSecret(%q): %s", name, err.message))
	}
	return v.id
}

// SetEnabled enables or disables the latest version of name, as the portal
// does. It panics if name does not exist.
func (s *Server) SetEnabled(name string, enabled bool) {
	if err := s.setEnabled(name, enabled); err != nil {
		panic(fmt.Sprintf("kvtest: SetEnabled(%q): %s", name, err.message))
	}
}

func (s *Server) setEnabled(name string, enabled bool) *apiError {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sec, err := s.store.active(name)
	if err != nil {
		return err
	}
	v := sec.latest()
	v.enabled = enabled
	v.updated = s.store.stamp(time.Now())
	return nil
}

// Populate creates n secrets named <prefix>-00000, <prefix>-00001, ... with
// generated throwaway values, in one step, and returns their names. It is
// for benchmarks and load tests that need a large vault quickly.
func (s *Server) Populate(prefix string, n int) []string {
	names := make([]string, n)
	now := time.Now()
	for i := range names {
		names[i] = fmt.Sprintf("%s-%05d", prefix, i)
		p := setParams{value: fmt.Sprintf("populated-%d", i)}
		if _, _, err := s.store.set(names[i], p, s.newVersionID, now); err != nil {
			panic(fmt.Sprintf("kvtest: Populate(%q): %s", prefix, err.message))
		}
	}
	return names
}

// SetFaults replaces the run-time faults. It panics on invalid values
// (rates outside 0..1, unknown routes...).
func (s *Server) SetFaults(f Faults) {
	if err := f.validate(); err != nil {
		panic("kvtest: " + err.Error())
	}
	s.faults.set(f)
}

// CurrentFaults returns the faults in effect.
func (s *Server) CurrentFaults() Faults { return s.faults.get() }

// Counts returns a copy of the request counters (see the Route constants).
func (s *Server) Counts() map[string]int { return s.counts.snapshot() }

// Count returns one counter. It panics on a key that is not a Route
// constant, so a typo cannot make an assertion pass by reading zero.
func (s *Server) Count(route string) int {
	if !knownRoutes[route] {
		panic(fmt.Sprintf("kvtest: Count(%q): unknown route key", route))
	}
	return s.counts.get(route)
}

// ResetCounts zeroes every counter.
func (s *Server) ResetCounts() { s.counts.reset() }

func (s *Server) count(route string) { s.counts.add(route) }
