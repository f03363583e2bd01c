//go:build !windows

package runner

import (
	"os"

	"golang.org/x/sys/unix"
)

// terminalSignalsReachChild tells whether a SIGINT the terminal sent went
// to the child too: the child shares the plugin's process group, and the
// terminal signals its foreground group as a whole.
func terminalSignalsReachChild() bool {
	tty, err := os.Open("/dev/tty") // fails without a controlling terminal
	if err != nil {
		return false
	}
	defer tty.Close()
	fg, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}
