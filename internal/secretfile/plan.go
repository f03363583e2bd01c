package secretfile

import (
	"fmt"
	"strings"
	"time"

	"github.com/docker-vault/docker-vault/internal/action"
	"github.com/docker-vault/docker-vault/internal/keyvault"
)

// Fetched is what the read of one desired secret's value found. Err is set
// instead when that secret alone cannot be read (deleted, disabled, no
// such version): an error for that secret, not for the sync.
type Fetched struct {
	Version string
	Updated time.Time
	// Settled: the version was pinned, or read after its "updated" second
	// was over (see the package documentation).
	Settled bool
	Err     string
}

// Plan is what a sync does to each desired file, in order.
type Plan struct {
	Changes []Change
	// record is, for each secret whose value was read, what its folder's
	// state records once the file holds it.
	record map[int]entry
}

// String renders the plan one file a line, as swarm.Plan does.
func (p Plan) String() string {
	var b strings.Builder
	for _, c := range p.Changes {
		fmt.Fprintf(&b, "%-9s %s -> %s", c.Action, c.Secret, c.Path)
		if c.Version != "" {
			fmt.Fprintf(&b, " (version %s)", c.Version)
		}
		if c.Reason != "" {
			fmt.Fprintf(&b, ": %s", c.Reason)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (p *Plan) fail(i int, reason string) {
	p.Changes[i].Action, p.Changes[i].Reason = action.Error, reason
}

// NeedsFetch says which desired secrets (by index) must have their value
// read: those that may be written and whose state records no version, a
// version other than the pinned one, or a Key Vault "updated" time other
// than the list's (or one read within its second). vault is the Key Vault
// list keyed by lower case name; source is the vault URL.
func NeedsFetch(desired []Desired, obs Observed, vault map[string]keyvault.SecretProperties, source string) []int {
	var need []int
	for i, d := range desired {
		if c := check(i, d, obs, vault, source); c.Action != action.Error && stale(d, obs, i, vault) {
			need = append(need, i)
		}
	}
	return need
}

// MakePlan is a pure function of the desired files, what observe found,
// the Key Vault list and the values read for NeedsFetch's secrets (by
// index). A secret NeedsFetch named but fetched lacks is planned
// unchanged: its read never finished.
func MakePlan(desired []Desired, obs Observed, vault map[string]keyvault.SecretProperties, fetched map[int]Fetched, source string) Plan {
	plan := Plan{Changes: make([]Change, len(desired)), record: map[int]entry{}}
	for i, d := range desired {
		plan.Changes[i] = check(i, d, obs, vault, source)
		f, read := fetched[i]
		switch {
		case plan.Changes[i].Action == action.Error || !read:
			continue
		case f.Err != "":
			plan.fail(i, f.Err)
			continue
		}
		file := obs.files[i]
		prev, known := obs.states[file.dir][file.base]
		c := &plan.Changes[i]
		c.Version = f.Version
		switch {
		case !file.exists:
			c.Action = action.Create
		case known && strings.EqualFold(prev.Version, f.Version):
			c.Action = action.Unchanged // only properties changed: record the time
		default:
			c.Action = action.Update
		}
		plan.record[i] = entry{Secret: d.Name, Version: f.Version, Updated: f.Updated.Unix(), Unsettled: !f.Settled}
	}
	return plan
}

// check is the Change of a desired secret before any value is read: an
// error when its file may not be written or its Key Vault secret is not
// listed (or disabled), else unchanged at the version its state records.
func check(i int, d Desired, obs Observed, vault map[string]keyvault.SecretProperties, source string) Change {
	c := Change{Secret: d.Name, Path: d.Path, Action: action.Unchanged}
	fail := func(reason string) Change {
		c.Action, c.Reason = action.Error, reason
		return c
	}
	f := obs.files[i]
	if f == nil {
		return fail(obs.reasons[i])
	}
	if reason := checkOwner(d, f, obs.states[f.dir], obs.forced); reason != "" {
		return fail(reason)
	}
	p, ok := vault[strings.ToLower(d.KVName)]
	switch {
	case d.KVName == "":
		return fail("internal error: no Key Vault secret name")
	case d.Version == "" && !ok:
		return fail(fmt.Sprintf("Key Vault secret %q does not exist in %s: create it, map the secret to another with x-vault.name, or mark it local with x-vault: false", d.KVName, source))
	case d.Version == "" && !p.Enabled:
		return fail(fmt.Sprintf("Key Vault secret %q is disabled: enable it, or map the secret to another with x-vault.name", d.KVName))
	}
	c.Version = obs.states[f.dir][f.base].Version
	return c
}

// stale tells whether the file of a secret check let through may not hold
// its current version.
func stale(d Desired, obs Observed, i int, vault map[string]keyvault.SecretProperties) bool {
	f := obs.files[i]
	e, known := obs.states[f.dir][f.base]
	switch {
	case !known || !f.exists || e.Version == "":
		return true
	case d.Version != "":
		return !strings.EqualFold(e.Version, d.Version)
	}
	return e.Updated != vault[strings.ToLower(d.KVName)].Updated.Unix() || e.Unsettled
}

// checkOwner says why Sync may not replace an existing file: it is not a
// regular file, or Sync neither created nor recorded it and the user did
// not force it.
func checkOwner(d Desired, f *file, st map[string]entry, forced map[string]bool) string {
	switch {
	case !f.exists:
		return ""
	case !f.mode.IsRegular():
		return fmt.Sprintf("%s exists and is not a regular file: remove it, or give the secret another file", d.Path)
	}
	if _, recorded := st[f.base]; recorded || forced[f.real] {
		return ""
	}
	return fmt.Sprintf("%s exists and was not written by docker vault; remove it, or pass --force-file %s", d.Path, d.Path)
}
