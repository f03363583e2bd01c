// Package runner runs the child processes docker vault starts (the docker
// CLI for `buildx build`, `compose build`, `stack deploy`): the one copy of
// how a child is started, interrupted and judged.
//
// The docker CLI asks a plugin to stop by closing its socket, which cancels
// the command's context, or, on a terminal, by the SIGINT the terminal sends
// the whole foreground process group. Either way the child is asked to stop
// the way a user would ask it, once, so that it can cancel its build or its
// deploy cleanly, and the plugin waits for it and reports its exit code;
// only a child that ignores the request is killed, after WaitDelay.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// WaitDelay is how long a child has to exit once interrupted, and how long
// its output may stay open after it exited (a process it left behind can
// hold the pipe of a masking filter), before it is killed or the pipe closed.
const WaitDelay = 10 * time.Second

// Cmd is a child process to run.
type Cmd struct {
	Name string   // what messages call it: "docker stack deploy"
	Path string   // the program
	Args []string // its arguments, after Path
	// Env is the child's whole environment (nil: the plugin's own). It is
	// the only place a value may travel: never Args.
	Env    []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// ExitError is a child that ran and exited with a non-zero code. The
// command maps it to its own exit status (cli.StatusError).
type ExitError struct {
	Name string
	Code int // the child's exit code; -1 when a signal killed it
}

func (e *ExitError) Error() string { return e.Name + " failed" }

// Run runs c to its end. A child that exits non-zero is an *ExitError; a
// child that cannot be started, or whose I/O fails, is another error naming
// c.Name. When ctx is cancelled, or the plugin gets SIGINT or SIGTERM, the
// child gets that signal (SIGINT for ctx) once, and is killed if it has not
// exited WaitDelay later.
func Run(ctx context.Context, c Cmd) error {
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Env = c.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	if in, ok := c.Stdin.(interface{ FD() uintptr }); ok && in.FD() == os.Stdin.Fd() {
		// The docker CLI's stream over the plugin's own stdin is handed on
		// as the file itself. Through a pipe, exec keeps a goroutine
		// reading it and waits for that goroutine after the child exits:
		// on a terminal, until the user presses a key.
		cmd.Stdin = os.Stdin
	}
	cmd.WaitDelay = WaitDelay
	var once sync.Once
	// interrupt sends sig unless a signal was sent already: a second one
	// would be the user's second Ctrl-C to the child, which docker takes
	// as "stop now".
	interrupt := func(sig os.Signal) (err error) {
		first := false
		once.Do(func() {
			first = true
			err = cmd.Process.Signal(sig)
		})
		switch {
		case !first:
			return nil // asked already: the WaitDelay kill still holds
		case err != nil && !errors.Is(err, os.ErrProcessDone):
			// A platform without the signal (Windows): the hard way.
			return cmd.Process.Kill()
		}
		return err
	}
	cmd.Cancel = func() error { return interrupt(os.Interrupt) }
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("failed to run %s: %w", c.Name, err)
	}
	stop := forwardSignals(func(sig os.Signal) { _ = interrupt(sig) })
	err := cmd.Wait()
	stop()
	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState.Success() {
		return nil // the child is done; what it left behind is not
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Name: c.Name, Code: ee.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("failed to run %s: %w", c.Name, err)
	}
	return nil
}

// forwardSignals passes the first SIGINT or SIGTERM the plugin gets to the
// child until stop is called. A SIGINT its terminal sent reached the child
// as well (same process group) and is not sent again; a SIGINT from kill(1)
// while the plugin runs in the terminal's foreground is taken for one. After the first
// signal the plugin no longer catches them: a second one ends the plugin as
// it would without a child, and the child has had its request.
func forwardSignals(send func(os.Signal)) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case sig := <-ch:
			signal.Stop(ch)
			if sig == os.Interrupt && terminalSignalsReachChild() {
				return
			}
			send(sig)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		wg.Wait()
	}
}
