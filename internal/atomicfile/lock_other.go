//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package atomicfile

import (
	"errors"
	"os"
)

var errBusy = errors.New("held by a running process")

// lock: on Windows a file another process holds open cannot be removed,
// so holding the lock file open is the lock.
func lock(*os.File) error { return nil }

// take removes the lock file of a work folder found on disk: that fails
// on Windows while the run that made it lives. Elsewhere (no flock) a live
// run is not told from a dead one.
func take(path string) (*os.File, error) {
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, errBusy
	}
	return nil, nil
}
