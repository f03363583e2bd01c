//go:build !windows

package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func sh(script string) Cmd {
	return Cmd{Name: "test child", Path: "/bin/sh", Args: []string{"-c", script}}
}

func TestRunStreamsAndEnv(t *testing.T) {
	var out, errOut bytes.Buffer
	c := sh(`cat; echo "$RUNNER_TEST_VAR" >&2`)
	c.Env = []string{"RUNNER_TEST_VAR=from-env"}
	c.Stdin, c.Stdout, c.Stderr = strings.NewReader("from stdin\n"), &out, &errOut
	assert.NilError(t, Run(context.Background(), c))
	assert.Check(t, is.Equal(out.String(), "from stdin\n"))
	assert.Check(t, is.Equal(errOut.String(), "from-env\n"))
}

func TestRunExitCode(t *testing.T) {
	err := Run(context.Background(), sh("exit 3"))
	var ee *ExitError
	assert.Assert(t, errors.As(err, &ee), "%v", err)
	assert.Check(t, is.Equal(ee.Code, 3))
	assert.Check(t, is.Error(err, "test child failed"))
}

func TestRunNotStarted(t *testing.T) {
	err := Run(context.Background(), Cmd{Name: "docker stack deploy", Path: "/nonexistent/docker"})
	assert.Check(t, is.ErrorContains(err, "failed to run docker stack deploy: "))
	var ee *ExitError
	assert.Check(t, !errors.As(err, &ee))
}

// startTrapping runs a child that exits with a code of its own on SIGINT
// (130) or SIGTERM (143), and waits until its traps are set.
func startTrapping(t *testing.T, ctx context.Context) <-chan error {
	t.Helper()
	r, w := io.Pipe()
	c := sh(`trap 'exit 130' INT; trap 'exit 143' TERM; echo ready; while :; do sleep 0.05; done`)
	c.Stdout = w
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, c)
		w.Close()
	}()
	line, err := bufio.NewReader(r).ReadString('\n')
	assert.NilError(t, err)
	assert.Assert(t, is.Equal(line, "ready\n"))
	go io.Copy(io.Discard, r)
	// Run catches signals once the child has started: give it the moment.
	time.Sleep(100 * time.Millisecond)
	return done
}

func waitExit(t *testing.T, done <-chan error) *ExitError {
	t.Helper()
	select {
	case err := <-done:
		var ee *ExitError
		assert.Assert(t, errors.As(err, &ee), "%v", err)
		return ee
	case <-time.After(WaitDelay / 2):
		t.Fatal("the child was not stopped by the signal")
	}
	return nil
}

// A cancelled context (the docker CLI closing the plugin's socket) is a
// SIGINT to the child, whose own exit code is kept.
func TestRunCancelInterrupts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := startTrapping(t, ctx)
	cancel()
	assert.Check(t, is.Equal(waitExit(t, done).Code, 130))
}

// A SIGTERM to the plugin reaches the child, once.
func TestRunForwardsSIGTERM(t *testing.T) {
	// Should the runner not catch it yet, this keeps the test binary alive
	// and the test fails instead.
	safety := make(chan os.Signal, 1)
	signal.Notify(safety, syscall.SIGTERM)
	defer signal.Stop(safety)
	done := startTrapping(t, context.Background())
	assert.NilError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	assert.Check(t, is.Equal(waitExit(t, done).Code, 143))
}

func TestCmdPrintsNoValue(t *testing.T) {
	c := Cmd{Name: "docker compose build", Path: "docker", Args: []string{"compose", "build"}, Env: []string{"TOKEN=SENTINEL-value"}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		assert.Check(t, !strings.Contains(fmt.Sprintf(verb, c), "SENTINEL"), verb)
	}
	b, err := json.Marshal(c)
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(b), "SENTINEL"))
	assert.Check(t, is.Contains(fmt.Sprint(c), "environment [TOKEN]"))
}
