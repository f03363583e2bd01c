//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// TestSyncWaitProgress: `sync --wait` on a terminal shows each rotated
// service's tasks on the new secret out of its total, one line rewritten in
// place, as `docker service update` does; off a terminal, or with --quiet,
// it shows none. `sync --watch` on a terminal says after each round what it
// checked and when it checks next.
func TestSyncWaitProgress(t *testing.T) {
	help := docker(t, nil, "vault", "sync", "--help")
	help.Assert(t, icmd.Success)
	assert.Assert(t, strings.Contains(help.Stdout(), "--quiet"),
		"sync has no --quiet: commands/sync.go does not use syncProgress (commands/sync_progress.go) yet")
	p := "dvtest-" + syncPrefix(t)[2:]
	stack := p
	cleanupSwarm(t, p, stack)
	values := map[string]string{"v1": newSecretValue("progress")}
	em := startEmulator(t, map[string]string{"progress-db": values["v1"]})
	dir := t.TempDir()
	// Two replicas, updated together, new tasks first, with a short
	// monitor: a convergence takes seconds, and the first poll still finds
	// the service before it.
	writeProjectFile(t, dir, "compose.yaml", `services:
  web:
    image: `+env.baseImage+`
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sha256sum /run/secrets/db_password | cut -c1-64 > /tmp/seen; sleep 1 & wait; done"]
    stop_grace_period: 2s
    secrets: [db_password]
    deploy:
      replicas: 2
      update_config: {parallelism: 2, order: start-first, monitor: 1s}
secrets:
  db_password:
    external: true
    name: `+p+`_db_password
    x-vault:
      name: progress-db
`)
	var outputs []string
	vaultDocker(t, em.Env, dir, "vault", "deploy", "-c", "compose.yaml", "--resolve-image", "never", stack).Assert(t, icmd.Success)
	waitServiceSeen(t, stack+"_web", sum(values["v1"]))
	service := stack + "_web"

	// On a terminal: the service's line goes from some tasks updated to
	// converged, rewritten in place; stdout (the plan) has no progress.
	rotateAll(t, em, []string{"progress-db"}, values, "2")
	stdout, tty, code := runOnTerminal(t, em.Env, dir, "vault", "sync", "--stack", stack, "--wait")
	outputs = append(outputs, stdout, tty)
	assert.Assert(t, is.Equal(code, 0), "stdout: %s\nterminal: %q", stdout, tty)
	shown := terminalStates(tty)
	assert.Check(t, is.Contains(shown, service+": 2 out of 2 tasks updated: converged"), "terminal: %q", tty)
	assert.Check(t, regexp.MustCompile(regexp.QuoteMeta(service)+`: [01] out of 2 tasks updated`).MatchString(shown),
		"no state before convergence was shown: %q", tty)
	assert.Check(t, strings.Contains(tty, "\x1b[1A"), "the line is not rewritten in place: %q", tty)
	assert.Check(t, is.Contains(tty, "updated service "+service))
	assert.Check(t, is.Contains(stdout, "1 changes applied"))
	assert.Check(t, !strings.Contains(stdout, "tasks updated") && !strings.Contains(stdout, "\x1b"), "progress on stdout: %q", stdout)
	waitServiceSeen(t, service, sum(values["progress-db-2"]))

	// Off a terminal (a pipe, as in CI): the apply log, no progress.
	rotateAll(t, em, []string{"progress-db"}, values, "3")
	res := vaultDocker(t, em.Env, dir, "vault", "sync", "--stack", stack, "--wait")
	outputs = append(outputs, res.Stdout(), res.Stderr())
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stderr(), "updated service "+service))
	assert.Check(t, !strings.Contains(res.Combined(), "tasks updated"), "progress off a terminal: %q", res.Combined())
	assert.Check(t, !strings.Contains(res.Combined(), "\x1b"), "terminal control off a terminal: %q", res.Combined())
	waitServiceSeen(t, service, sum(values["progress-db-3"]))

	// --quiet on a terminal: no progress either.
	rotateAll(t, em, []string{"progress-db"}, values, "4")
	stdout, tty, code = runOnTerminal(t, em.Env, dir, "vault", "sync", "--stack", stack, "--wait", "--quiet")
	outputs = append(outputs, stdout, tty)
	assert.Assert(t, is.Equal(code, 0), "stdout: %s\nterminal: %q", stdout, tty)
	assert.Check(t, is.Contains(tty, "updated service "+service))
	assert.Check(t, !strings.Contains(tty, "tasks updated"), "progress with --quiet: %q", tty)
	waitServiceSeen(t, service, sum(values["progress-db-4"]))

	// --watch on a terminal: a line per round, also when nothing changed.
	cmd, tty2 := startOnTerminal(t, em.Env, dir, "vault", "sync", "--stack", stack, "--watch", "10s")
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if s := tty2.String(); strings.Contains(s, "checked 1 secret, nothing changed, next in ") {
			return poll.Success()
		}
		return poll.Continue("no round line yet: %q", tty2.String())
	}, poll.WithTimeout(20*time.Second), poll.WithDelay(200*time.Millisecond))
	assert.NilError(t, cmd.Process.Signal(syscall.SIGINT))
	_ = cmd.Wait()
	outputs = append(outputs, tty2.String())
	assert.Check(t, regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\S+ checked 1 secret, nothing changed, next in \d+s\r?$`).MatchString(tty2.String()), "%q", tty2.String())

	for _, out := range outputs {
		for name, v := range values {
			assert.Check(t, !strings.Contains(out, v), "the output leaks the value of %s", name)
		}
	}
}

// runOnTerminal runs the docker CLI with stderr on a pseudo-terminal and
// stdout on a pipe, and returns what each received and the exit code.
func runOnTerminal(t *testing.T, kvEnv []string, dir string, args ...string) (stdout, tty string, code int) {
	t.Helper()
	cmd, term := startOnTerminal(t, kvEnv, dir, args...)
	err := cmd.Wait()
	if err != nil {
		var exit *exec.ExitError
		assert.Assert(t, errors.As(err, &exit), "running docker: %v", err)
		code = exit.ExitCode()
	}
	term.wait(t)
	return cmd.Stdout.(*bytes.Buffer).String(), term.String(), code
}

// terminalOutput collects what a pseudo-terminal shows.
type terminalOutput struct {
	master *os.File
	done   chan struct{} // closed when the reader is done
	buf    lockedBuffer
}

// lockedBuffer is a buffer one goroutine writes while another reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (o *terminalOutput) String() string { return o.buf.String() }

// wait returns once everything the terminal shows is read.
func (o *terminalOutput) wait(t *testing.T) {
	t.Helper()
	select {
	case <-o.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal's output did not end")
	}
}

// startOnTerminal starts the docker CLI as vaultDockerCmd would, with stderr
// on a new pseudo-terminal (160 columns) and stdout on a buffer.
func startOnTerminal(t *testing.T, kvEnv []string, dir string, args ...string) (*exec.Cmd, *terminalOutput) {
	t.Helper()
	master, slave := openPTY(t)
	ic := vaultDockerCmd(kvEnv, dir, args...)
	cmd := exec.Command(ic.Command[0], ic.Command[1:]...)
	cmd.Dir, cmd.Env = ic.Dir, ic.Env
	cmd.Stdout, cmd.Stderr = &bytes.Buffer{}, slave
	assert.NilError(t, cmd.Start())
	// The child holds the terminal now: once it exits, reading the master
	// ends with EIO.
	slave.Close()
	out := &terminalOutput{master: master, done: make(chan struct{})}
	go func() {
		defer close(out.done)
		_, _ = io.Copy(&out.buf, master)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		master.Close()
	})
	return cmd, out
}

// openPTY opens a pseudo-terminal pair (as creack/pty does, with the
// ioctls x/sys/unix already gives).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	assert.NilError(t, err)
	fd := int(master.Fd())
	assert.NilError(t, unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	assert.NilError(t, err)
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	assert.NilError(t, err)
	assert.NilError(t, unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 160}))
	return master, slave
}

// terminalStates is every state the lines of a terminal went through, one
// per line: the text between line starts, with the control sequences out.
func terminalStates(out string) string {
	out = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`).ReplaceAllString(out, "")
	var states []string
	for _, s := range regexp.MustCompile(`[\r\n]+`).Split(out, -1) {
		if s = strings.TrimSpace(s); s != "" {
			states = append(states, s)
		}
	}
	return strings.Join(states, "\n")
}
