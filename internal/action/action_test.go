package action

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// The words are what sync prints and scripts read from its JSON.
func TestWords(t *testing.T) {
	var got []string
	for _, k := range []Kind{Create, Unchanged, Update, Rotate, Relabel, Prune, Keep, Error} {
		got = append(got, string(k))
	}
	assert.Check(t, is.DeepEqual(got, []string{"create", "unchanged", "update", "rotate", "relabel", "prune", "keep", "error"}))
	var changes []Kind
	for _, k := range []Kind{Create, Unchanged, Update, Rotate, Relabel, Prune, Keep, Error} {
		if k.Changes() {
			changes = append(changes, k)
		}
	}
	assert.Check(t, is.DeepEqual(changes, []Kind{Create, Update, Rotate, Relabel, Prune}))
}

func TestPartial(t *testing.T) {
	failed := []string{"b: gone", "c: disabled"}
	assert.Check(t, is.Equal(Partial(failed, 2, false), "nothing was synced: b: gone; c: disabled"))
	assert.Check(t, is.Equal(Partial(failed, 3, false), "2 of 3 secrets failed, the others were synced: b: gone; c: disabled"))
	assert.Check(t, is.Equal(Partial(failed, 3, true), "2 of 3 secrets would fail, the others would be synced: b: gone; c: disabled"))
}
