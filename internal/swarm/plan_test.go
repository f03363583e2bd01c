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

// src is the vault of the plan tests.
const src = "https://v.vault.azure.net"

// managed is a managed secret of src whose Key Vault name is derived from
// its compose name.
func managed(id, secret, version string, updated time.Time, age int) Managed {
	return Managed{ID: id, Name: VersionedName(secret, version), Secret: secret, Version: version,
		Source: src, KVName: strings.ReplaceAll(secret, "_", "-"),
		Updated: updated.Unix(), Created: t1.Add(time.Duration(age) * time.Minute)}
}

func TestPlanCreate(t *testing.T) {
	desired := []Desired{{Name: "db_password", KVName: "db-password"}}
	vault := map[string]VaultItem{"db-password": {Enabled: true, Updated: t1}}
	obs := Observed{Unmanaged: map[string]string{}}

	need := NeedsFetch(desired, vault, obs, src)
	assert.Check(t, is.Len(need, 1))

	plan := MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: v1, Updated: t1, Size: 16}}, obs, PlanOptions{Source: src, Keep: 1})
	assert.Equal(t, plan.String(), "create    db_password -> db_password_aaaaaaaa\n")
	assert.Equal(t, plan.Changes(), 1)
}

func TestPlanUnchangedNeedsNoFetch(t *testing.T) {
	desired := []Desired{{Name: "db_password", KVName: "db-password"}}
	vault := map[string]VaultItem{"db-password": {Enabled: true, Updated: t1}}
	obs := Observed{Managed: []Managed{managed("id1", "db_password", v1, t1, 0)}}

	assert.Check(t, is.Len(NeedsFetch(desired, vault, obs, src), 0))
	plan := MakePlan(desired, vault, nil, obs, PlanOptions{Source: src, Keep: 1})
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
	assert.Check(t, is.Len(NeedsFetch(desired, vault, obs, src), 1), "updated time moved: the value must be read")

	plan := MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: v3, Updated: t2, Size: 16}}, obs, PlanOptions{Source: src, Keep: 1})
	assert.Equal(t, plan.String(), strings.TrimLeft(`
rotate    db_password -> db_password_cccccccc (services: app_db, app_web)
prune     db_password -> db_password_aaaaaaaa
`, "\n"))
	assert.DeepEqual(t, plan.Actions[0].Replaces, []string{"id1", "id2"})

	plan = MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: v3, Updated: t2, Size: 16}}, obs, PlanOptions{Source: src, Keep: 0})
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
	plan := MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: v1, Updated: t2, Size: 16}}, obs, PlanOptions{Source: src, Keep: 1})
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
	assert.Check(t, is.Len(NeedsFetch(desired, vault, obs, src), 0))
	plan := MakePlan(desired, vault, nil, obs, PlanOptions{Source: src, Keep: 1})
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
		"taken": {Version: v1, Updated: t1, Size: 16},
		"used":  {Version: v1, Updated: t1, Size: 16},
		"big":   {Version: v1, Updated: t1, Size: MaxSecretSize + 1},
	}
	plan := MakePlan(desired, vault, fetched, obs, PlanOptions{Source: src, Keep: 1})
	assert.Equal(t, plan.String(), strings.TrimLeft(`
error     missing: Key Vault secret "missing" does not exist in https://v.vault.azure.net: create it, or map the secret to another with x-vault.name
error     off: Key Vault secret "off" is disabled
error     taken -> taken_aaaaaaaa: swarm secret taken_aaaaaaaa (u1) exists and is not managed by docker vault; remove or rename it
error     used -> used_aaaaaaaa: swarm secret used exists, is used by web and is not managed by docker vault; rerun with --adopt to move them to used_aaaaaaaa
error     big: value is 512001 bytes, over the swarm limit of 512000
`, "\n"))
	assert.Check(t, is.Len(plan.Errors(), 5))

	plan = MakePlan(desired[3:4], vault, fetched, obs, PlanOptions{Source: src, Keep: 1, Adopt: true})
	assert.Equal(t, plan.String(), "rotate    used -> used_aaaaaaaa (services: web)\n")
	assert.DeepEqual(t, plan.Actions[0].Replaces, []string{"u2"})
}

func TestPlanPinnedVersion(t *testing.T) {
	desired := []Desired{{Name: "api_key", KVName: "api-key", Version: v1}}
	obs := Observed{Managed: []Managed{managed("id1", "api_key", v1, t1, 0)}}
	// Pinned and synced: neither the list nor a GET matters.
	assert.Check(t, is.Len(NeedsFetch(desired, nil, obs, src), 0))
	plan := MakePlan(desired, nil, nil, obs, PlanOptions{Source: src, Keep: 1})
	assert.Equal(t, plan.String(), "unchanged api_key -> api_key_aaaaaaaa\n")

	desired[0].Version = v2
	assert.Check(t, is.Len(NeedsFetch(desired, nil, obs, src), 1))
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

// Two stacks map the same compose name to different Key Vault secrets (or
// vaults): each sync sees only the managed secrets of its own identity, so
// it never moves the other stack's services nor prunes its versions.
func TestPlanIdentityKeepsStacksApart(t *testing.T) {
	theirs := managed("b1", "db_password", v2, t2, 1)
	theirs.KVName = "b-db-password"
	otherVault := managed("c1", "db_password", v3, t2, 2)
	otherVault.Source = "https://other.vault.azure.net"
	legacy := managed("l1", "db_password", v3, t2, 3)
	legacy.KVName = "" // made before the Key Vault name was labelled
	obs := Observed{
		Managed: []Managed{managed("a1", "db_password", v1, t1, 0), theirs, otherVault, legacy},
		Services: []Service{
			{ID: "s1", Name: "a_web", Stack: "a", Secrets: []SecretRef{{SecretID: "a1"}}},
			{ID: "s2", Name: "b_web", Stack: "b", Secrets: []SecretRef{{SecretID: "b1"}}},
			{ID: "s3", Name: "c_web", Stack: "a", Secrets: []SecretRef{{SecretID: "c1"}}},
		},
	}
	desired := []Desired{{Name: "db_password", KVName: "db-password"}}
	vault := map[string]VaultItem{"db-password": {Enabled: true, Updated: t1}}

	// Ours is current: nothing to read, nobody to move, nothing to prune,
	// although newer managed secrets of the same compose name exist.
	assert.Check(t, is.Len(NeedsFetch(desired, vault, obs, src), 0))
	plan := MakePlan(desired, vault, nil, obs, PlanOptions{Source: src, Keep: 0, Stack: "a"})
	assert.Equal(t, plan.String(), "unchanged db_password -> db_password_aaaaaaaa\n")

	// Rotating ours moves only the services on ours.
	vault["db-password"] = VaultItem{Enabled: true, Updated: t2}
	plan = MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: "dddddddd4", Updated: t2, Size: 16, Settled: true}}, obs, PlanOptions{Source: src, Keep: 0, Stack: "a"})
	assert.Equal(t, plan.String(), strings.TrimLeft(`
rotate    db_password -> db_password_dddddddd (services: a_web)
prune     db_password -> db_password_aaaaaaaa
`, "\n"))
	assert.DeepEqual(t, plan.Actions[0].Replaces, []string{"a1"})

	// A version whose name another identity already holds is an error,
	// never a reuse of someone else's value.
	plan = MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: v2, Updated: t2, Size: 16, Settled: true}}, obs, PlanOptions{Source: src, Stack: "a"})
	assert.Check(t, is.Equal(plan.Actions[0].Kind, ActionError))
	assert.Check(t, is.Contains(plan.Actions[0].Reason, "exists and holds Key Vault secret b-db-password of https://v.vault.azure.net"))
}

func TestPlanMovesOnlyItsOwnStack(t *testing.T) {
	desired := []Desired{{Name: "db_password", KVName: "db-password"}}
	vault := map[string]VaultItem{"db-password": {Enabled: true, Updated: t2}}
	obs := Observed{
		Managed: []Managed{managed("id1", "db_password", v1, t1, 0)},
		Services: []Service{
			{ID: "s1", Name: "a_web", Stack: "a", Secrets: []SecretRef{{SecretID: "id1"}}},
			{ID: "s2", Name: "c_web", Stack: "c", Secrets: []SecretRef{{SecretID: "id1"}}},
			{ID: "s3", Name: "handmade", Secrets: []SecretRef{{SecretID: "id1"}}},
		},
	}
	fetched := map[string]Fetched{"db_password": {Version: v2, Updated: t2, Size: 16, Settled: true}}
	plan := MakePlan(desired, vault, fetched, obs, PlanOptions{Source: src, Keep: 0, Stack: "a"})
	assert.Equal(t, plan.String(), strings.TrimLeft(`
rotate    db_password -> db_password_bbbbbbbb (services: a_web): c_web, handmade, outside stack "a", still on an older version: not updated (--all-stacks updates them)
prune     db_password -> db_password_aaaaaaaa
`, "\n"))
	assert.DeepEqual(t, plan.Actions[0].Others, []string{"c_web", "handmade"})

	plan = MakePlan(desired, vault, fetched, obs, PlanOptions{Source: src, Keep: 0, Stack: "a", AllStacks: true})
	assert.DeepEqual(t, plan.Actions[0].Services, []string{"a_web", "c_web", "handmade"})
	assert.Check(t, is.Len(plan.Actions[0].Others, 0))
}

// A version read within its own "updated" second is recorded unsettled, and
// the next sync reads the version again even though the list time is the
// same; once settled, the list alone decides again.
func TestPlanUnsettledVersionIsReadAgain(t *testing.T) {
	desired := []Desired{{Name: "db_password", KVName: "db-password"}}
	vault := map[string]VaultItem{"db-password": {Enabled: true, Updated: t1}}
	plan := MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: v1, Updated: t1, Size: 16}}, Observed{}, PlanOptions{Source: src})
	assert.Check(t, plan.Actions[0].Unsettled)

	m := managed("id1", "db_password", v1, t1, 0)
	m.Unsettled = true
	obs := Observed{Managed: []Managed{m}}
	assert.Check(t, is.Len(NeedsFetch(desired, vault, obs, src), 1), "an unsettled version must be read again")

	// Same second, another version: a rotation.
	plan = MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: v2, Updated: t1, Size: 16, Settled: true}}, obs, PlanOptions{Source: src, Keep: 1})
	assert.Equal(t, plan.String(), "rotate    db_password -> db_password_bbbbbbbb\n")
	// The same version, now settled: relabelled, and no read next time.
	plan = MakePlan(desired, vault, map[string]Fetched{"db_password": {Version: v1, Updated: t1, Size: 16, Settled: true}}, obs, PlanOptions{Source: src})
	assert.Equal(t, plan.String(), "unchanged db_password -> db_password_aaaaaaaa\n")
	assert.Check(t, plan.Actions[0].Confirm)
	assert.Check(t, is.Equal(plan.Changes(), 0), "confirming a version changes nothing a service sees")
	m.Unsettled = false
	assert.Check(t, is.Len(NeedsFetch(desired, vault, Observed{Managed: []Managed{m}}, src), 0))
}

// A secret that fails keeps all its versions: its current one is unknown.
func TestPlanFailedSecretIsNotPruned(t *testing.T) {
	desired := []Desired{{Name: "db_password", KVName: "db-password"}, {Name: "api", KVName: "api"}}
	vault := map[string]VaultItem{"db-password": {Enabled: false, Updated: t2}, "api": {Enabled: true, Updated: t2}}
	obs := Observed{Managed: []Managed{managed("id1", "db_password", v1, t1, 0), managed("id2", "db_password", v2, t1, 1)}}
	plan := MakePlan(desired, vault, map[string]Fetched{"api": {Err: `Key Vault secret "api" is disabled`}}, obs, PlanOptions{Source: src, Keep: 0})
	assert.Equal(t, plan.String(), strings.TrimLeft(`
error     db_password: Key Vault secret "db-password" is disabled
error     api: Key Vault secret "api" is disabled
`, "\n"))
}

// An empty value is an error for that secret, said in the plan, not the
// engine's "secret data must be larger than 0" when it is created.
func TestPlanEmptyValue(t *testing.T) {
	desired := []Desired{{Name: "db_password", KVName: "db-password"}, {Name: "api", KVName: "api"}}
	vault := map[string]VaultItem{"db-password": {Enabled: true, Updated: t2}, "api": {Enabled: true, Updated: t2}}
	obs := Observed{Managed: []Managed{managed("id1", "db_password", v1, t1, 0)}, Unmanaged: map[string]string{}}
	fetched := map[string]Fetched{
		"db_password": {Version: v2, Updated: t2, Size: 0, Settled: true},
		"api":         {Version: v1, Updated: t2, Size: 3, Settled: true},
	}
	plan := MakePlan(desired, vault, fetched, obs, PlanOptions{Source: src, Keep: 0})
	assert.Equal(t, plan.String(), strings.TrimLeft(`
error     db_password: Key Vault secret "db-password" is empty: swarm secrets cannot be empty
create    api -> api_aaaaaaaa
`, "\n"))
}
