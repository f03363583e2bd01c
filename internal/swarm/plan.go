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
	"time"

	"github.com/docker-vault/docker-vault/internal/action"
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
	// LabelVaultSecret is the Key Vault secret name the value came from.
	LabelVaultSecret = "com.docker.vault.vault-secret"
	// LabelUnsettled marks a secret whose Key Vault "updated" second had
	// not yet passed when its value was read: another version written in
	// that same second would list with the same time, so the next sync
	// reads the version again instead of trusting the list.
	LabelUnsettled = "com.docker.vault.unsettled"
	// LabelStack is the label docker stack deploy puts on a stack's
	// services.
	LabelStack = "com.docker.stack.namespace"
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

// Identity is what makes a managed swarm secret "the same secret": its
// compose name, vault URL and Key Vault secret name (case-insensitive, as
// Key Vault names are).
type Identity struct {
	Secret string // compose secret name (LabelSecret)
	Vault  string // canonical vault URL (LabelSource)
	KVName string // Key Vault secret name (LabelVaultSecret)
}

func (i Identity) String() string {
	return fmt.Sprintf("Key Vault secret %s of %s", i.KVName, i.Vault)
}

// Of tells whether m carries this identity. A managed secret made before
// the Key Vault name was labelled has no LabelVaultSecret and belongs to no
// identity: it is never touched (--adopt moves services off it).
func (i Identity) Of(m Managed) bool {
	return m.Secret == i.Secret && strings.EqualFold(strings.TrimSuffix(m.Source, "/"), strings.TrimSuffix(i.Vault, "/")) &&
		m.KVName != "" && strings.EqualFold(m.KVName, i.KVName)
}

// Managed is a swarm secret docker vault made.
type Managed struct {
	ID        string
	Name      string // the swarm name, <secret>_<ver8>
	Secret    string // LabelSecret
	Version   string // LabelVersion
	Source    string // LabelSource
	KVName    string // LabelVaultSecret
	Updated   int64  // LabelUpdated, unix seconds; 0 if absent
	Unsettled bool   // LabelUnsettled
	Created   time.Time
}

// identity is the identity m carries.
func (m Managed) identity() Identity {
	return Identity{Secret: m.Secret, Vault: m.Source, KVName: m.KVName}
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
	Stack   string // LabelStack, empty for a service outside any stack
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
// Err is set instead when the secret alone cannot be read (deleted,
// disabled): an error for that secret, not for the sync.
type Fetched struct {
	Version string
	Updated time.Time
	Size    int
	// Settled: the value was read at least one second after its "updated"
	// second began, so no later version can list with the same time.
	Settled bool
	Err     string
}

// ActionKind is what the plan does with one secret: the vocabulary sync
// shares with secret files (package action).
type ActionKind = action.Kind

const (
	ActionCreate    = action.Create
	ActionUnchanged = action.Unchanged
	ActionRotate    = action.Rotate
	ActionRelabel   = action.Relabel
	ActionPrune     = action.Prune
	ActionError     = action.Error
	// ActionKeep is a prune that Apply did not carry out because a service
	// or a running task still used the old version when it came to it. It
	// is never the secret's current version: `deploy` must not use it.
	ActionKeep = action.Keep
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
	// Unsettled is recorded on the secret (LabelUnsettled): see Fetched.
	Unsettled bool `json:"unsettled,omitempty"`
	// Confirm: the secret's labels are brought up to date (its version
	// settled) though nothing a service sees changes. Not a change.
	Confirm bool `json:"-"`
	// Services to point at the new secret (rotate), by name.
	Services []string `json:"services,omitempty"`
	// Others are services of other stacks still on an older version of the
	// same secret: reported, never updated without AllStacks.
	Others []string `json:"otherServices,omitempty"`
	// Replaces are the ids of older managed or adopted secrets the services move away from.
	Replaces []string `json:"-"`
	Reason   string   `json:"reason,omitempty"`
}

// Plan is the ordered list of actions of one sync.
type Plan struct {
	Actions []Action `json:"actions"`
}

// Confirms counts the actions that only update what a secret's labels
// record (see Action.Confirm).
func (p Plan) Confirms() int {
	n := 0
	for _, a := range p.Actions {
		if a.Confirm {
			n++
		}
	}
	return n
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

// identity is the identity of d's managed secrets in the vault source.
func (d Desired) identity(source string) Identity {
	return Identity{Secret: d.Name, Vault: source, KVName: d.KVName}
}

// current returns the managed secret of id made from version, if any.
func current(managed []Managed, id Identity, version string) (Managed, bool) {
	for _, m := range managed {
		if id.Of(m) && strings.EqualFold(m.Version, version) {
			return m, true
		}
	}
	return Managed{}, false
}

// ours returns the managed secrets of id, newest first.
func ours(managed []Managed, id Identity) []Managed {
	var out []Managed
	for _, m := range managed {
		if id.Of(m) {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

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

func planOne(d Desired, vault map[string]VaultItem, fetched map[string]Fetched, obs Observed, opts PlanOptions) Action {
	a := Action{Secret: d.Name, KVName: d.KVName}
	id := d.identity(opts.Source)
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
	all := ours(obs.Managed, id)
	f, wasFetched := fetched[d.Name]
	if wasFetched && f.Err != "" {
		a.Kind, a.Reason = ActionError, f.Err
		return a
	}
	if !wasFetched {
		// Unchanged as far as the list tells: the newest managed secret
		// (or the pinned one) is current.
		var cur Managed
		if d.Version != "" {
			cur, _ = current(obs.Managed, id, d.Version)
		} else if len(all) > 0 {
			cur = all[0]
		}
		if cur.ID == "" {
			a.Kind, a.Reason = ActionError, "no version was read from Key Vault"
			return a
		}
		a.Kind, a.Name, a.ID, a.Version, a.Unsettled = ActionUnchanged, cur.Name, cur.ID, cur.Version, cur.Unsettled
		a.moveConsumers(d, cur, all, obs, opts)
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
	if uid, taken := obs.Unmanaged[a.Name]; taken {
		a.Kind = ActionError
		a.Reason = fmt.Sprintf("swarm secret %s (%s) exists and is not managed by docker vault; remove or rename it", a.Name, shortID(uid))
		return a
	}
	for _, m := range obs.Managed {
		if m.Name == a.Name {
			a.Kind = ActionError
			a.Reason = fmt.Sprintf("swarm secret %s exists and holds %s, not %s: give the compose secret another `name:`", a.Name, m.identity(), id)
			return a
		}
	}
	if uid, taken := obs.Unmanaged[d.Name]; taken && !opts.Adopt {
		if users := usedBy(obs.Services, uid, opts); len(users) > 0 {
			a.Kind = ActionError
			a.Reason = fmt.Sprintf("swarm secret %s exists, is used by %s and is not managed by docker vault; rerun with --adopt to move them to %s", d.Name, strings.Join(users, ", "), a.Name)
			return a
		}
	}
	a.Kind = ActionCreate
	if len(all) > 0 || (opts.Adopt && obs.Unmanaged[d.Name] != "") {
		a.Kind = ActionRotate
		a.moveConsumers(d, Managed{Name: a.Name}, all, obs, opts)
	}
	return a
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
