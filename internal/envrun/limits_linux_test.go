package envrun

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestSystemLimits(t *testing.T) {
	lim := SystemLimits()
	assert.Check(t, is.Equal(lim.Entry, 131072))
	assert.Check(t, lim.Total >= 128<<10 && lim.Total <= 6<<20, "%d", lim.Total)
}
