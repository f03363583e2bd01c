package secretfile

import (
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/action"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// MakePlan and NeedsFetch are pure: the plan follows from the desired
// files, what observe found, the Key Vault list and the versions read.
func TestMakePlan(t *testing.T) {
	updated := time.Unix(1_700_000_000, 0)
	desired := []Desired{
		{Name: "new", KVName: "new", Path: "/p/s/new"},
		{Name: "same", KVName: "same", Path: "/p/s/same"},
		{Name: "moved", KVName: "moved", Path: "/p/s/moved"},
		{Name: "relisted", KVName: "relisted", Path: "/p/s/relisted"},
		{Name: "foreign", KVName: "foreign", Path: "/p/s/foreign"},
		{Name: "outside", KVName: "outside", Path: "/elsewhere/x"},
		{Name: "missing", KVName: "missing", Path: "/p/s/missing"},
		{Name: "gone", KVName: "gone", Path: "/p/s/gone"},
	}
	at := func(name string, exists bool) *file {
		return &file{real: "/p/s/" + name, dir: "/p/s", base: name, exists: exists}
	}
	obs := Observed{
		files:   []*file{at("new", false), at("same", true), at("moved", true), at("relisted", true), at("foreign", true), nil, at("missing", false), at("gone", false)},
		reasons: []string{"", "", "", "", "", "outside the project", "", ""},
		forced:  map[string]bool{},
		states: map[string]map[string]entry{"/p/s": {
			"same":     {Secret: "same", Version: "v1", Updated: updated.Unix()},
			"moved":    {Secret: "moved", Version: "v1", Updated: updated.Unix()},
			"relisted": {Secret: "relisted", Version: "v1", Updated: updated.Unix()},
		}},
	}
	later := updated.Add(time.Hour)
	vault := map[string]keyvault.SecretProperties{
		"new": {Enabled: true, Updated: updated}, "same": {Enabled: true, Updated: updated},
		"moved": {Enabled: true, Updated: later}, "relisted": {Enabled: true, Updated: later},
		"foreign": {Enabled: true, Updated: updated}, "outside": {Enabled: true}, "gone": {Enabled: true},
	}
	need := NeedsFetch(desired, obs, vault, "https://v")
	assert.Check(t, is.DeepEqual(need, []int{0, 2, 3, 7}))

	fetched := map[int]Fetched{
		0: {Version: "n1", Updated: updated, Settled: true},
		2: {Version: "v2", Updated: later, Settled: true},
		3: {Version: "v1", Updated: later},
		7: {Err: "deleted during the sync"},
	}
	plan := MakePlan(desired, obs, vault, fetched, "https://v")
	assert.Check(t, is.Equal(plan.String(), `create    new -> /p/s/new (version n1)
unchanged same -> /p/s/same (version v1)
update    moved -> /p/s/moved (version v2)
unchanged relisted -> /p/s/relisted (version v1)
error     foreign -> /p/s/foreign: /p/s/foreign exists and was not written by docker vault; remove it, or pass --force-file /p/s/foreign
error     outside -> /elsewhere/x: outside the project
error     missing -> /p/s/missing: Key Vault secret "missing" does not exist in https://v: create it, map the secret to another with x-vault.name, or mark it local with x-vault: false
error     gone -> /p/s/gone: deleted during the sync
`))
	assert.Check(t, is.Equal(plan.Changes[6].Action, action.Error))
	assert.Check(t, is.DeepEqual(plan.record[3], entry{Secret: "relisted", Version: "v1", Updated: later.Unix(), Unsettled: true}))
	assert.Check(t, is.Len(plan.record, 3), "only values read are recorded")
}
