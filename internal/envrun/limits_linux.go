package envrun

import "syscall"

// Linux's limits (fs/exec.c): one string at most MAX_ARG_STRLEN, 32 pages
// of 4 KiB; all of them, with their pointers, at most a quarter of the
// stack's soft limit, capped at three quarters of _STK_LIM (8 MiB) and
// never below ARG_MAX (128 KiB).
const (
	maxArgStrlen = 32 * 4096
	minArgMax    = 128 << 10
	maxArgMax    = (8 << 20) / 4 * 3
)

// SystemLimits are this system's limits.
func SystemLimits() Limits {
	total := maxArgMax
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_STACK, &rl) == nil && rl.Cur != ^uint64(0) && rl.Cur/4 < uint64(total) {
		total = int(rl.Cur / 4)
	}
	total = max(total, minArgMax)
	return Limits{Entry: maxArgStrlen, Total: total}
}
