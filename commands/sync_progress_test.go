//go:build linux

package commands

import (
	"bytes"
	"os"
	"testing"

	"github.com/docker/cli/cli/command"
	"gotest.tools/v3/assert"
)

func TestSyncProgressOnlyOnATerminal(t *testing.T) {
	// The master side of a pseudo-terminal is a terminal as isatty sees it.
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	assert.NilError(t, err)
	defer tty.Close()
	var out bytes.Buffer
	onTTY, err := command.NewDockerCli(command.WithOutputStream(&out), command.WithErrorStream(tty))
	assert.NilError(t, err)
	piped, err := command.NewDockerCli(command.WithCombinedStreams(&out))
	assert.NilError(t, err)

	w := syncProgress(onTTY, false)
	assert.Assert(t, w != nil, "no progress on a terminal")
	assert.Check(t, w == onTTY.Err(), "progress goes to stderr")
	assert.Check(t, syncProgress(onTTY, true) == nil, "--quiet still shows progress")
	assert.Check(t, syncProgress(piped, false) == nil, "progress off a terminal")
}
