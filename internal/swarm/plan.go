// Package swarm keeps swarm secrets equal to their Key Vault values.
//
// Swarm secrets are immutable, so a Key Vault version becomes its own swarm
// secret, named <name>_<first 8 hex of the version> and labelled with the
// full version. Rotating is: create the new secret, point every service that
// uses an older one at it (same target, uid, gid and mode), and remove old
// ones once no service and no running task uses them.
//
// A swarm is shared by many stacks, so a sync owns only what it can prove it
// made for this very secret: a managed secret's identity is its compose
// name, its vault URL and its Key Vault secret name, all three in labels
// (Identity). Managed secrets of another identity are never rotated, pruned
// or reused, even when their compose name is the same. Services are moved
// only within the sync's own stack (PlanOptions.Stack); a service of another
// stack on an older version of the same identity is reported, not updated,
// unless PlanOptions.AllStacks.
//
// The work is split the docker/compose way: Observe reads Docker, Plan is a
// pure function of desired and observed state, Apply carries a Plan out.
package swarm

import (
	"fmt"
	"sort"
	"strings"
)

// MaxSecretSize is the swarm's limit on a secret's data (500 KB, as the
// docker CLI enforces in `docker secret create`).
const MaxSecretSize = 500 * 1024

// NeedsFetch says which desired secrets must have their value read: those
// with no managed secret yet, a pinned version not synced yet, an unsettled
// newest version, or whose Key Vault "updated" time differs from the one
// recorded on the newest managed secret. Everything else is known to be
// unchanged from the list alone. source is the vault URL.
func NeedsFetch(desired []Desired, vault map[string]VaultItem, obs Observed, source string) []Desired {
	var out []Desired
	for _, d := range desired {
		id := d.identity(source)
		if d.Version != "" {
			if _, ok := current(obs.Managed, id, d.Version); !ok {
				out = append(out, d)
			}
			continue
		}
		item, ok := vault[strings.ToLower(d.KVName)]
		if !ok || !item.Enabled {
			continue // reported by Plan
		}
		all := ours(obs.Managed, id)
		if len(all) == 0 || all[0].Unsettled || all[0].Updated != item.Updated.Unix() {
			out = append(out, d)
		}
	}
	return out
}

// PlanOptions tune Plan.
type PlanOptions struct {
	// Source is the vault URL: part of every secret's identity, and of
	// labels and messages.
	Source string
	Keep   int  // previous versions kept per secret
	Adopt  bool // rotate services off unmanaged secrets of the same name
	// Stack is the stack whose services the sync moves; AllStacks moves
	// the services of every stack (and of none).
	Stack     string
	AllStacks bool
}

// inScope tells whether the sync may update s.
func (o PlanOptions) inScope(s Service) bool {
	return o.AllStacks || s.Stack == o.Stack
}

// Plan computes what a sync does. vault is the Key Vault list keyed by lower
// case name; fetched holds the versions read for NeedsFetch's secrets.
func MakePlan(desired []Desired, vault map[string]VaultItem, fetched map[string]Fetched, obs Observed, opts PlanOptions) Plan {
	var plan Plan
	keepIDs := map[string]bool{}
	var ok []Desired
	for _, d := range desired {
		a := planOne(d, vault, fetched, obs, opts)
		plan.Actions = append(plan.Actions, a)
		if a.ID != "" {
			keepIDs[a.ID] = true
		}
		if a.Kind != ActionError {
			// A secret that failed keeps every version it has: its
			// current one is not known.
			ok = append(ok, d)
		}
	}
	plan.Actions = append(plan.Actions, planPrune(ok, obs, opts, keepIDs)...)
	return plan
}

// planOne plans one desired secret. What it can know depends on whether
// its value was read: from the list alone (planUnfetched) or from the
// version read (planFetched).
func planOne(d Desired, vault map[string]VaultItem, fetched map[string]Fetched, obs Observed, opts PlanOptions) Action {
	a := Action{Secret: d.Name, KVName: d.KVName}
	item, listed := vault[strings.ToLower(d.KVName)]
	if d.Version == "" {
		switch {
		case !listed:
			a.Kind, a.Reason = ActionError, fmt.Sprintf("Key Vault secret %q does not exist in %s: create it, or map the secret to another with x-vault.name", d.KVName, opts.Source)
			return a
		case !item.Enabled:
			a.Kind, a.Reason = ActionError, fmt.Sprintf("Key Vault secret %q is disabled", d.KVName)
			return a
		}
	}
	f, wasFetched := fetched[d.Name]
	if !wasFetched {
		return planUnfetched(a, d, obs, opts)
	}
	return planFetched(a, d, f, obs, opts)
}

// planUnfetched plans a secret that is unchanged as far as the list tells:
// the newest managed secret (or the pinned one) is current.
func planUnfetched(a Action, d Desired, obs Observed, opts PlanOptions) Action {
	cur, all := obs.Holding(d, opts.Source)
	if cur.ID == "" {
		a.Kind, a.Reason = ActionError, "no version was read from Key Vault"
		return a
	}
	a.Kind, a.Name, a.ID, a.Version, a.Unsettled = ActionUnchanged, cur.Name, cur.ID, cur.Version, cur.Unsettled
	a.moveConsumers(d, cur, all, obs, opts)
	return a
}

// planFetched plans a secret from the version read: kept when a managed
// secret already holds that version, else created (or rotated to) unless
// its swarm name is taken.
func planFetched(a Action, d Desired, f Fetched, obs Observed, opts PlanOptions) Action {
	if f.Err != "" {
		a.Kind, a.Reason = ActionError, f.Err
		return a
	}
	if f.Size == 0 {
		// The engine refuses empty secret data ("secret data must be
		// larger than 0"). A file secret may be empty: only swarm's
		// are refused.
		a.Kind, a.Reason = ActionError, fmt.Sprintf("Key Vault secret %q is empty: swarm secrets cannot be empty", d.KVName)
		return a
	}
	if f.Size > MaxSecretSize {
		a.Kind, a.Reason = ActionError, fmt.Sprintf("value is %d bytes, over the swarm limit of %d", f.Size, MaxSecretSize)
		return a
	}
	id := d.identity(opts.Source)
	all := ours(obs.Managed, id)
	a.Version, a.Updated, a.Unsettled = f.Version, f.Updated.Unix(), !f.Settled
	a.Name = VersionedName(d.Name, f.Version)
	if cur, ok := current(obs.Managed, id, f.Version); ok {
		a.ID = cur.ID
		a.Kind = ActionUnchanged
		switch {
		case d.Version != "":
		case cur.Updated != a.Updated:
			// Only the properties changed (tags, content type...): record
			// the new time so the next sync need not read the value again.
			a.Kind, a.Reason = ActionRelabel, "Key Vault properties changed, value did not"
		case cur.Unsettled != a.Unsettled:
			a.Confirm = true
		}
		a.moveConsumers(d, cur, all, obs, opts)
		return a
	}
	if reason := nameTaken(a.Name, d, id, obs, opts); reason != "" {
		a.Kind, a.Reason = ActionError, reason
		return a
	}
	a.Kind = ActionCreate
	if len(all) > 0 || (opts.Adopt && obs.Unmanaged[d.Name] != "") {
		a.Kind = ActionRotate
		a.moveConsumers(d, Managed{Name: a.Name}, all, obs, opts)
	}
	return a
}

// nameTaken says why the new swarm secret name cannot be created: a swarm
// secret of that name exists that docker vault did not make, or that holds
// another identity, or the unmanaged secret of d's name is in use and
// --adopt was not given. Empty when the name is free.
func nameTaken(name string, d Desired, id Identity, obs Observed, opts PlanOptions) string {
	if uid, taken := obs.Unmanaged[name]; taken {
		return fmt.Sprintf("swarm secret %s (%s) exists and is not managed by docker vault; remove or rename it", name, shortID(uid))
	}
	for _, m := range obs.Managed {
		if m.Name == name {
			return fmt.Sprintf("swarm secret %s exists and holds %s, not %s: give the compose secret another `name:`", name, m.identity(), id)
		}
	}
	if uid, taken := obs.Unmanaged[d.Name]; taken && !opts.Adopt {
		if users := usedBy(obs.Services, uid, opts); len(users) > 0 {
			return fmt.Sprintf("swarm secret %s exists, is used by %s and is not managed by docker vault; rerun with --adopt to move them to %s", d.Name, strings.Join(users, ", "), name)
		}
	}
	return ""
}

// moveConsumers sets the services that reference an older managed secret of
// d's identity (or, with Adopt, the unmanaged secret of d's name) instead of
// cur: those in scope are moved (a rotation), the others are reported.
func (a *Action) moveConsumers(d Desired, cur Managed, all []Managed, obs Observed, opts PlanOptions) {
	old := map[string]bool{}
	for _, m := range all {
		if m.ID != cur.ID {
			old[m.ID] = true
		}
	}
	if uid := obs.Unmanaged[d.Name]; opts.Adopt && uid != "" {
		old[uid] = true
	}
	seen := map[string]bool{}
	stacks := map[string]bool{}
	for _, s := range obs.Services {
		for _, r := range s.Secrets {
			if !old[r.SecretID] || seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			if opts.inScope(s) {
				a.Services = append(a.Services, s.Name)
			} else {
				a.Others = append(a.Others, s.Name)
				stacks[s.Stack] = true
			}
		}
	}
	sort.Strings(a.Services)
	sort.Strings(a.Others)
	if len(a.Services) > 0 {
		for id := range old {
			a.Replaces = append(a.Replaces, id)
		}
		sort.Strings(a.Replaces)
		if a.Kind == ActionUnchanged || a.Kind == ActionRelabel {
			a.Kind, a.Reason = ActionRotate, "services still use an older version"
		}
	}
	if len(a.Others) > 0 {
		note := fmt.Sprintf("%s, outside stack %q, still on an older version: not updated (%s)",
			strings.Join(a.Others, ", "), opts.Stack, otherStacksHint(stacks))
		if a.Reason == "" {
			a.Reason = note
		} else {
			a.Reason += "; " + note
		}
	}
}

// otherStacksHint says which flag would update services of other stacks.
func otherStacksHint(stacks map[string]bool) string {
	if len(stacks) == 1 {
		for s := range stacks {
			if s != "" {
				return "--stack " + s + " or --all-stacks updates them"
			}
		}
	}
	return "--all-stacks updates them"
}

// usedBy names the services in scope that reference the secret id.
func usedBy(services []Service, id string, opts PlanOptions) []string {
	var names []string
	for _, s := range services {
		if !opts.inScope(s) {
			continue
		}
		for _, r := range s.Secrets {
			if r.SecretID == id {
				names = append(names, s.Name)
				break
			}
		}
	}
	return names
}

// planPrune removes managed versions beyond the Keep newest previous ones.
func planPrune(desired []Desired, obs Observed, opts PlanOptions, keep map[string]bool) []Action {
	var out []Action
	for _, d := range desired {
		previous := 0
		for _, m := range ours(obs.Managed, d.identity(opts.Source)) {
			if keep[m.ID] {
				continue
			}
			previous++
			if previous <= opts.Keep {
				continue
			}
			// Services that still use it are moved off by this plan's
			// rotation; Apply checks again, right before removing, that
			// no service (of any stack) and no task uses it any more.
			out = append(out, Action{Kind: ActionPrune, Secret: d.Name, KVName: d.KVName, Name: m.Name, ID: m.ID, Version: m.Version})
		}
	}
	return out
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
