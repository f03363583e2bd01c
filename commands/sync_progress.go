package commands

import (
	"io"

	"github.com/docker/cli/cli/command"
)

// syncProgress is where sync shows progress on long waits (each rotated
// service's tasks while --wait waits, a line per --watch round): stderr, as
// docker does, and only on a terminal, where a line rewritten in place reads
// as progress; a CI log or a pipe gets none (the apply log says what
// changed). --quiet silences it. Nil means no progress.
func syncProgress(dockerCLI command.Cli, quiet bool) io.Writer {
	if quiet || !dockerCLI.Err().IsTerminal() {
		return nil
	}
	return dockerCLI.Err()
}
