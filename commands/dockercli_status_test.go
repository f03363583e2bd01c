package commands

import (
	"errors"
	"testing"

	"github.com/docker/cli/cli"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/internal/runner"
)

// A child's exit code becomes the plugin's; a child a signal killed has
// none (-1), which would make the plugin's status -1: it is 1, and says so.
func TestChildStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		pass   bool // passStatus, run's wording
		code   int
		status string
	}{
		{err: &runner.ExitError{Name: "docker", Code: 7}, code: 7, status: "docker failed"},
		{err: &runner.ExitError{Name: "docker", Code: -1}, code: 1, status: "docker was killed by a signal"},
		{err: &runner.ExitError{Name: "sh", Code: 7}, pass: true, code: 7, status: "sh exited with status 7"},
		{err: &runner.ExitError{Name: "sh", Code: -1}, pass: true, code: 1, status: "sh was killed by a signal"},
	} {
		f := childStatus
		if tc.pass {
			f = passStatus
		}
		var se cli.StatusError
		assert.Assert(t, errors.As(f(tc.err), &se))
		assert.Check(t, is.Equal(se.StatusCode, tc.code))
		assert.Check(t, is.Equal(se.Status, tc.status))
	}
	other := errors.New("failed to run docker")
	assert.Check(t, is.Equal(childStatus(other), other))
	assert.Check(t, is.Equal(passStatus(other), other))
}
