package swarm

import (
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

var (
	t1 = time.Unix(1700000000, 0)
	t2 = time.Unix(1700000500, 0)
)

const (
	v1 = "aaaaaaaa11111111111111111111111a"
	v2 = "bbbbbbbb22222222222222222222222b"
	v3 = "cccccccc33333333333333333333333c"
)

func managed(id, secret, version string, updated time.Time, age int) Managed {
	return Managed{ID: id, Name: VersionedName(secret, version), Secret: secret, Version: version,
		Updated: updated.Unix(), Created: t1.Add(time.Duration(age) * time.Minute)}
}

func TestPlanCreate(t *testing.T) {
	desired := []Desired{{Name: "db_password", KVName: "db-password"}}
	vault := map[string]VaultItem{"db-password": {Enabled: true, Updated: t1}}
	obs := Observed{Unmanaged: map[string]string{}}

	need := NeedsFetch(desired, vault, obs)
	assert.Check(t, is.Len(need, 1))

	plan := MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: v1, Updated: t1}}, obs, PlanOptions{Keep: 1})
	assert.Equal(t, plan.String(), "create    db_password -> db_password_aaaaaaaa\n")
	assert.Equal(t, plan.Changes(), 1)
}

func TestPlanUnchangedNeedsNoFetch(t *testing.T) {
	desired := []Desired{{Name: "db_password", KVName: "db-password"}}
	vault := map[string]VaultItem{"db-password": {Enabled: true, Updated: t1}}
	obs := Observed{Managed: []Managed{managed("id1", "db_password", v1, t1, 0)}}

	assert.Check(t, is.Len(NeedsFetch(desired, vault, obs), 0))
	plan := MakePlan(desired, vault, nil, obs, PlanOptions{Keep: 1})
	assert.Equal(t, plan.String(), "unchanged db_password -> db_password_aaaaaaaa\n")
	assert.Equal(t, plan.Changes(), 0)
}

func TestPlanRotate(t *testing.T) {
	desired := []Desired{{Name: "db_password", KVName: "db-password"}}
	vault := map[string]VaultItem{"db-password": {Enabled: true, Updated: t2}}
	obs := Observed{
		Managed: []Managed{
			managed("id1", "db_password", v1, t1, 0),
			managed("id2", "db_password", v2, t1, 1),
		},
		Services: []Service{
			{ID: "s1", Name: "app_web", Secrets: []SecretRef{{SecretID: "id2"}}},
			{ID: "s2", Name: "app_db", Secrets: []SecretRef{{SecretID: "id2"}, {SecretID: "other"}}},
			{ID: "s3", Name: "unrelated", Secrets: []SecretRef{{SecretID: "other"}}},
		},
	}
	assert.Check(t, is.Len(NeedsFetch(desired, vault, obs), 1), "updated time moved: the value must be read")

	plan := MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: v3, Updated: t2}}, obs, PlanOptions{Keep: 1})
	assert.Equal(t, plan.String(), strings.TrimLeft(`
rotate    db_password -> db_password_cccccccc (services: app_db, app_web)
prune     db_password -> db_password_aaaaaaaa
`, "\n"))
	assert.DeepEqual(t, plan.Actions[0].Replaces, []string{"id1", "id2"})

	plan = MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: v3, Updated: t2}}, obs, PlanOptions{Keep: 0})
	assert.Equal(t, plan.String(), strings.TrimLeft(`
rotate    db_password -> db_password_cccccccc (services: app_db, app_web)
prune     db_password -> db_password_bbbbbbbb
prune     db_password -> db_password_aaaaaaaa
`, "\n"))
}

func TestPlanRelabelWhenOnlyPropertiesChanged(t *testing.T) {
	desired := []Desired{{Name: "db_password", KVName: "db-password"}}
	vault := map[string]VaultItem{"db-password": {Enabled: true, Updated: t2}}
	obs := Observed{Managed: []Managed{managed("id1", "db_password", v1, t1, 0)}}
	plan := MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: v1, Updated: t2}}, obs, PlanOptions{Keep: 1})
	assert.Equal(t, plan.String(), "relabel   db_password -> db_password_aaaaaaaa: Key Vault properties changed, value did not\n")
}

func TestPlanServiceLeftOnOldVersionIsRotated(t *testing.T) {
	// A previous sync created the new secret but failed before updating
	// the service: the next sync, with nothing to read, finishes the job.
	desired := []Desired{{Name: "db_password", KVName: "db-password"}}
	vault := map[string]VaultItem{"db-password": {Enabled: true, Updated: t2}}
	obs := Observed{
		Managed: []Managed{
			managed("id1", "db_password", v1, t1, 0),
			managed("id2", "db_password", v2, t2, 1),
		},
		Services: []Service{{ID: "s1", Name: "web", Secrets: []SecretRef{{SecretID: "id1"}}}},
	}
	assert.Check(t, is.Len(NeedsFetch(desired, vault, obs), 0))
	plan := MakePlan(desired, vault, nil, obs, PlanOptions{Keep: 1})
	assert.Equal(t, plan.String(), "rotate    db_password -> db_password_bbbbbbbb (services: web): services still use an older version\n")
}

func TestPlanErrors(t *testing.T) {
	desired := []Desired{
		{Name: "missing", KVName: "missing"},
		{Name: "off", KVName: "off"},
		{Name: "taken", KVName: "taken"},
		{Name: "used", KVName: "used"},
		{Name: "big", KVName: "big"},
	}
	vault := map[string]VaultItem{
		"off":   {Enabled: false, Updated: t1},
		"taken": {Enabled: true, Updated: t1},
		"used":  {Enabled: true, Updated: t1},
		"big":   {Enabled: true, Updated: t1},
	}
	obs := Observed{
		Unmanaged: map[string]string{"taken_aaaaaaaa": "u1", "used": "u2"},
		Services:  []Service{{ID: "s1", Name: "web", Secrets: []SecretRef{{SecretID: "u2"}}}},
	}
	fetched := map[string]Fetched{
		"taken": {Version: v1, Updated: t1},
		"used":  {Version: v1, Updated: t1},
		"big":   {Version: v1, Updated: t1, Size: MaxSecretSize + 1},
	}
	plan := MakePlan(desired, vault, fetched, obs, PlanOptions{Keep: 1, Source: "https://v.vault.azure.net"})
	assert.Equal(t, plan.String(), strings.TrimLeft(`
error     missing: Key Vault secret "missing" does not exist in https://v.vault.azure.net: create it, or map the secret to another with x-vault.name
error     off: Key Vault secret "off" is disabled
error     taken -> taken_aaaaaaaa: swarm secret taken_aaaaaaaa (u1) exists and is not managed by docker vault; remove or rename it
error     used -> used_aaaaaaaa: swarm secret used exists, is used by services and is not managed by docker vault; rerun with --adopt to move them to used_aaaaaaaa
error     big: value is 512001 bytes, over the swarm limit of 512000
`, "\n"))
	assert.Check(t, is.Len(plan.Errors(), 5))

	plan = MakePlan(desired[3:4], vault, fetched, obs, PlanOptions{Keep: 1, Adopt: true})
	assert.Equal(t, plan.String(), "rotate    used -> used_aaaaaaaa (services: web)\n")
	assert.DeepEqual(t, plan.Actions[0].Replaces, []string{"u2"})
}

func TestPlanPinnedVersion(t *testing.T) {
	desired := []Desired{{Name: "api_key", KVName: "api-key", Version: v1}}
	obs := Observed{Managed: []Managed{managed("id1", "api_key", v1, t1, 0)}}
	// Pinned and synced: neither the list nor a GET matters.
	assert.Check(t, is.Len(NeedsFetch(desired, nil, obs), 0))
	plan := MakePlan(desired, nil, nil, obs, PlanOptions{Keep: 1})
	assert.Equal(t, plan.String(), "unchanged api_key -> api_key_aaaaaaaa\n")

	desired[0].Version = v2
	assert.Check(t, is.Len(NeedsFetch(desired, nil, obs), 1))
}

func TestCheckDesired(t *testing.T) {
	assert.Check(t, is.ErrorContains(checkDesired([]Desired{{Name: "a", KVName: "x"}, {Name: "b", KVName: "X"}}),
		"secrets a and b both map to Key Vault secret X"))
	assert.Check(t, is.ErrorContains(checkDesired([]Desired{{Name: "a", KVName: "bad_name"}}), "not a valid Key Vault secret name"))
	assert.Check(t, is.ErrorContains(checkDesired([]Desired{{Name: strings.Repeat("a", 60), KVName: "x"}}), "not a valid swarm secret name"))
	assert.NilError(t, checkDesired([]Desired{{Name: "a", KVName: "x", Version: v1}, {Name: "b", KVName: "x", Version: v2}}))
}

func TestPlanCurrentSkipsPrunedAndKeptVersions(t *testing.T) {
	plan := Plan{Actions: []Action{
		{Kind: ActionRotate, Secret: "db", Name: "db_cccccccc"},
		{Kind: ActionUnchanged, Secret: "api", Name: "api_aaaaaaaa"},
		{Kind: ActionError, Secret: "gone", Reason: "missing"},
		{Kind: ActionPrune, Secret: "db", Name: "db_aaaaaaaa"},
		// What Apply makes of a prune whose version a task still mounts.
		{Kind: ActionKeep, Secret: "db", Name: "db_bbbbbbbb"},
	}}
	assert.DeepEqual(t, plan.Current(), map[string]string{"db": "db_cccccccc", "api": "api_aaaaaaaa"})
	assert.Equal(t, plan.Changes(), 2, "a kept version is not a change")
}
