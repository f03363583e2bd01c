// Package swarm keeps swarm secrets equal to their Key Vault values.
//
// Swarm secrets are immutable, so a Key Vault version becomes its own swarm
// secret, named <name>_<first 8 hex of the version> and labelled with the
// full version. Rotating is: create the new secret, point every service that
// uses an older one at it (same target, uid, gid and mode), and remove old
// ones once no service and no running task uses them.
//
// The work is split the docker/compose way: Observe reads Docker, Plan is a
// pure function of desired and observed state, Apply carries a Plan out.
package swarm

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Labels of a managed swarm secret. No hash of a value is ever stored: a
// digest of a low-entropy password is as good as the password.
const (
	LabelManaged = "com.docker.vault.managed"
	LabelSecret  = "com.docker.vault.secret"
	LabelVersion = "com.docker.vault.version"
	LabelSource  = "com.docker.vault.source"
	// LabelUpdated holds the Key Vault "updated" time (unix seconds) of the
	// version the secret was made from. The Key Vault list does not return
	// versions, only this time: equal times mean no GET is needed.
	LabelUpdated = "com.docker.vault.updated"
)

// MaxSecretSize is the swarm's limit on a secret's data (500 KB, as the
// docker CLI enforces in `docker secret create`).
const MaxSecretSize = 500 * 1024

// Desired is one secret the project declares as a swarm (external) secret.
type Desired struct {
	// Name is the swarm secret's base name: the compose secret's `name:`,
	// or its key.
	Name string
	// KVName is the Key Vault secret it maps to.
	KVName string
	// Version pins a Key Vault version; empty means the latest.
	Version string
	// Consumers are the compose services that use it, for the plan's text.
	Consumers []string
}

// VaultItem is what the Key Vault list says of one secret.
type VaultItem struct {
	Enabled bool
	Updated time.Time
}

// Managed is a swarm secret docker vault made.
type Managed struct {
	ID      string
	Name    string // the swarm name, <secret>_<ver8>
	Secret  string // LabelSecret
	Version string // LabelVersion
	Source  string // LabelSource
	Updated int64  // LabelUpdated, unix seconds; 0 if absent
	Created time.Time
}

// SecretRef is a service's reference to a swarm secret.
type SecretRef struct {
	SecretID   string
	SecretName string
}

// Service is a swarm service and the secrets its spec references.
type Service struct {
	ID      string
	Name    string
	Secrets []SecretRef
}

// Observed is Docker's side.
type Observed struct {
	Managed []Managed
	// Unmanaged maps the names of swarm secrets without the managed label
	// to their ids.
	Unmanaged map[string]string
	// Services is nil when it was not needed (nothing to rotate or prune).
	Services []Service
}

// Fetched is the Key Vault version (and value) read for a desired secret.
type Fetched struct {
	Version string
	Updated time.Time
	Size    int
}

// ActionKind is what the plan does with one secret.
type ActionKind string

const (
	ActionCreate    ActionKind = "create"
	ActionUnchanged ActionKind = "unchanged"
	ActionRotate    ActionKind = "rotate"
	ActionRelabel   ActionKind = "relabel"
	ActionPrune     ActionKind = "prune"
	ActionError     ActionKind = "error"
	// ActionKeep is a prune that Apply did not carry out because a service
	// or a running task still used the old version when it came to it. It
	// is never the secret's current version: `deploy` must not use it.
	ActionKeep ActionKind = "keep"
)

// Action is one step of a Plan.
type Action struct {
	Kind    ActionKind `json:"action"`
	Secret  string     `json:"secret"`
	KVName  string     `json:"vaultSecret,omitempty"`
	Name    string     `json:"swarmSecret,omitempty"` // the swarm secret created, kept, relabelled or pruned
	ID      string     `json:"id,omitempty"`          // the existing swarm secret's id, where there is one
	Version string     `json:"version,omitempty"`
	Updated int64      `json:"-"`
	// Services to point at the new secret (rotate), by name.
	Services []string `json:"services,omitempty"`
	// Replaces are the ids of older managed or adopted secrets the services move away from.
	Replaces []string `json:"-"`
	Reason   string   `json:"reason,omitempty"`
}

// Plan is the ordered list of actions of one sync.
type Plan struct {
	Actions []Action `json:"actions"`
}

// Changes counts the actions that change Docker.
func (p Plan) Changes() int {
	n := 0
	for _, a := range p.Actions {
		switch a.Kind {
		case ActionCreate, ActionRotate, ActionRelabel, ActionPrune:
			n++
		}
	}
	return n
}

// Errors returns the error actions.
func (p Plan) Errors() []Action {
	var errs []Action
	for _, a := range p.Actions {
		if a.Kind == ActionError {
			errs = append(errs, a)
		}
	}
	return errs
}

// Current maps each desired secret (by Desired.Name) to the swarm secret
// holding its current version: what `deploy` names in the stack. Pruned and
// kept versions are never current.
func (p Plan) Current() map[string]string {
	cur := map[string]string{}
	for _, a := range p.Actions {
		switch a.Kind {
		case ActionCreate, ActionUnchanged, ActionRotate, ActionRelabel:
			if _, seen := cur[a.Secret]; !seen && a.Name != "" {
				cur[a.Secret] = a.Name
			}
		}
	}
	return cur
}

// String renders the plan one action a line, as tests and --dry-run show it.
func (p Plan) String() string {
	var b strings.Builder
	for _, a := range p.Actions {
		fmt.Fprintf(&b, "%-9s %s", a.Kind, a.Secret)
		if a.Name != "" {
			fmt.Fprintf(&b, " -> %s", a.Name)
		}
		if len(a.Services) > 0 {
			fmt.Fprintf(&b, " (services: %s)", strings.Join(a.Services, ", "))
		}
		if a.Reason != "" {
			fmt.Fprintf(&b, ": %s", a.Reason)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// VersionedName is the swarm name of a Key Vault version of a secret.
func VersionedName(name, version string) string {
	v := version
	if len(v) > 8 {
		v = v[:8]
	}
	return name + "_" + strings.ToLower(v)
}

// current returns the managed secret of name made from version, if any.
func current(managed []Managed, name, version string) (Managed, bool) {
	for _, m := range managed {
		if m.Secret == name && strings.EqualFold(m.Version, version) {
			return m, true
		}
	}
	return Managed{}, false
}

// byName returns the managed secrets of name, newest first.
func byName(managed []Managed, name string) []Managed {
	var out []Managed
	for _, m := range managed {
		if m.Secret == name {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// NeedsFetch says which desired secrets must have their value read: those
// with no managed secret yet, a pinned version not synced yet, or whose Key
// Vault "updated" time differs from the one recorded on the newest managed
// secret. Everything else is known to be unchanged from the list alone.
func NeedsFetch(desired []Desired, vault map[string]VaultItem, obs Observed) []Desired {
	var out []Desired
	for _, d := range desired {
		if d.Version != "" {
			if _, ok := current(obs.Managed, d.Name, d.Version); !ok {
				out = append(out, d)
			}
			continue
		}
		item, ok := vault[strings.ToLower(d.KVName)]
		if !ok || !item.Enabled {
			continue // reported by Plan
		}
		all := byName(obs.Managed, d.Name)
		if len(all) == 0 || all[0].Updated != item.Updated.Unix() {
			out = append(out, d)
		}
	}
	return out
}

// PlanOptions tune Plan.
type PlanOptions struct {
	Source string // the vault URL, for labels and messages
	Keep   int    // previous versions kept per secret
	Adopt  bool   // rotate services off unmanaged secrets of the same name
}

// Plan computes what a sync does. vault is the Key Vault list keyed by lower
// case name; fetched holds the versions read for NeedsFetch's secrets.
func MakePlan(desired []Desired, vault map[string]VaultItem, fetched map[string]Fetched, obs Observed, opts PlanOptions) Plan {
	var plan Plan
	keepIDs := map[string]bool{}
	for _, d := range desired {
		a := planOne(d, vault, fetched, obs, opts)
		plan.Actions = append(plan.Actions, a)
		if a.ID != "" {
			keepIDs[a.ID] = true
		}
	}
	plan.Actions = append(plan.Actions, planPrune(desired, obs, opts, keepIDs)...)
	return plan
}

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
	all := byName(obs.Managed, d.Name)
	f, wasFetched := fetched[d.Name]
	if !wasFetched {
		// Unchanged as far as the list tells: the newest managed secret
		// (or the pinned one) is current.
		var cur Managed
		if d.Version != "" {
			cur, _ = current(obs.Managed, d.Name, d.Version)
		} else if len(all) > 0 {
			cur = all[0]
		}
		if cur.ID == "" {
			a.Kind, a.Reason = ActionError, "no version was read from Key Vault"
			return a
		}
		a.Kind, a.Name, a.ID, a.Version = ActionUnchanged, cur.Name, cur.ID, cur.Version
		a.Services, a.Replaces = staleConsumers(d, cur, all, obs, opts)
		if len(a.Services) > 0 {
			a.Kind, a.Reason = ActionRotate, "services still use an older version"
		}
		return a
	}
	if f.Size > MaxSecretSize {
		a.Kind, a.Reason = ActionError, fmt.Sprintf("value is %d bytes, over the swarm limit of %d", f.Size, MaxSecretSize)
		return a
	}
	a.Version, a.Updated = f.Version, f.Updated.Unix()
	a.Name = VersionedName(d.Name, f.Version)
	if cur, ok := current(obs.Managed, d.Name, f.Version); ok {
		a.ID = cur.ID
		a.Kind = ActionUnchanged
		if cur.Updated != a.Updated && d.Version == "" {
			// Only the properties changed (tags, content type...): record
			// the new time so the next sync need not read the value again.
			a.Kind, a.Reason = ActionRelabel, "Key Vault properties changed, value did not"
		}
		if svcs, repl := staleConsumers(d, cur, all, obs, opts); len(svcs) > 0 {
			a.Kind, a.Services, a.Replaces, a.Reason = ActionRotate, svcs, repl, "services still use an older version"
		}
		return a
	}
	if id, taken := obs.Unmanaged[a.Name]; taken {
		a.Kind, a.ID = ActionError, ""
		a.Reason = fmt.Sprintf("swarm secret %s (%s) exists and is not managed by docker vault; remove or rename it", a.Name, shortID(id))
		return a
	}
	if _, taken := obs.Unmanaged[d.Name]; taken && !opts.Adopt && usedBy(obs.Services, obs.Unmanaged[d.Name]) != nil {
		a.Kind = ActionError
		a.Reason = fmt.Sprintf("swarm secret %s exists, is used by services and is not managed by docker vault; rerun with --adopt to move them to %s", d.Name, a.Name)
		return a
	}
	a.Kind = ActionCreate
	if len(all) > 0 || (opts.Adopt && obs.Unmanaged[d.Name] != "") {
		a.Kind = ActionRotate
		a.Services, a.Replaces = staleConsumers(d, Managed{Name: a.Name}, all, obs, opts)
	}
	return a
}

// staleConsumers lists the services that reference an older managed (or,
// with Adopt, the unmanaged) secret of d instead of cur.
func staleConsumers(d Desired, cur Managed, all []Managed, obs Observed, opts PlanOptions) (services, replaces []string) {
	old := map[string]bool{}
	for _, m := range all {
		if m.ID != cur.ID {
			old[m.ID] = true
		}
	}
	if id := obs.Unmanaged[d.Name]; opts.Adopt && id != "" {
		old[id] = true
	}
	seen := map[string]bool{}
	for _, s := range obs.Services {
		for _, r := range s.Secrets {
			if old[r.SecretID] && !seen[s.Name] {
				seen[s.Name] = true
				services = append(services, s.Name)
			}
		}
	}
	for id := range old {
		replaces = append(replaces, id)
	}
	sort.Strings(services)
	sort.Strings(replaces)
	return services, replaces
}

func usedBy(services []Service, id string) []string {
	var names []string
	for _, s := range services {
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
		for _, m := range byName(obs.Managed, d.Name) {
			if keep[m.ID] {
				continue
			}
			previous++
			if previous <= opts.Keep {
				continue
			}
			// Services that still use it are moved off by this plan's
			// rotation; Apply checks again, right before removing, that
			// no service and no task uses it any more.
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
