// Package status tells, for every Key Vault-backed secret of a project,
// whether Docker holds the current Key Vault version: `docker vault status`,
// a drift and expiry report usable as a monitoring check.
//
// It reads no value. What a sync that finds nothing to do reads is enough:
// the Key Vault list (names, enabled, "updated", exp and nbf of each secret)
// and, on the Docker side, the swarm secrets with their com.docker.vault.*
// labels (the version each was made from and that version's "updated"
// time) and the state files of secret files (the same record). A secret
// whose Key Vault "updated" time is the one Docker recorded is current; one
// whose time moved has changed since (a new version, or only its
// properties: either way the next sync reads it). Services are listed only
// when a sync would list them (swarm.MayMove), and services and tasks again
// only when a sync would prune (swarm.SecretUsers).
//
// The list does not return versions, so the Key Vault version is known
// where Docker recorded it and it is still current, or where the project
// pins one; a changed secret's new version is not shown, since finding it
// would cost a request per secret.
//
// The work is split as sync's: Check observes (Key Vault first, so an
// unreachable vault reads nothing else), Build is a pure function of what
// was observed, reusing the sync plans (swarm.MakePlan, secretfile.MakePlan
// and their NeedsFetch) with no value read.
package status

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker-vault/docker-vault/internal/fetch"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/secretfile"
	"github.com/docker-vault/docker-vault/internal/swarm"
	"github.com/docker-vault/docker-vault/internal/syncer"
)

// VaultState is the Key Vault secret's state in the list.
type VaultState string

const (
	VaultEnabled  VaultState = "enabled"
	VaultDisabled VaultState = "disabled"
	VaultMissing  VaultState = "missing"
)

// State is what Docker holds, against Key Vault.
type State string

const (
	// InSync: Docker holds the current Key Vault version and every
	// service uses it.
	InSync State = "in-sync"
	// Stale: Key Vault changed since Docker's version was made, or
	// services still use an older managed version, or a file holds
	// another version than the pinned one.
	Stale State = "stale"
	// Missing: Docker holds no version yet (no managed swarm secret, no
	// file, a file without a recorded version).
	Missing State = "missing"
	// Unmanaged: a swarm secret of the same name that docker vault did
	// not make is in use (or is all there is), or a file docker vault did
	// not write is where the secret's file goes.
	Unmanaged State = "unmanaged"
	// Orphaned: Docker is current, but managed versions beyond --keep
	// that nothing uses are left: the next sync removes them.
	Orphaned State = "orphaned"
	// Error: sync refuses the secret (a file path outside the project, a
	// file shared by two secrets...); Detail says why.
	Error State = "error"
	// Unknown: the Key Vault secret is missing or disabled, so there is
	// nothing to compare Docker with.
	Unknown State = "unknown"
)

// Expiry is a warning on the Key Vault secret's exp or nbf.
type Expiry string

const (
	ExpiryNone  Expiry = ""
	Expiring    Expiry = "expiring"      // exp within the warning window
	Expired     Expiry = "expired"       // exp is past
	NotYetValid Expiry = "not-yet-valid" // nbf is in the future
)

// dateTimeShort is how notes write times.
const dateTimeShort = "2006-01-02 15:04 MST"

// Row is the status of one Key Vault-backed compose secret. It never holds
// a value.
type Row struct {
	Secret string       // compose secret key
	Kind   mapping.Kind // external (swarm) or file
	// Target is where Docker holds it: the swarm secret's base name, or
	// the file's path.
	Target string
	KVName string
	Vault  VaultState
	// Version is the Key Vault version, where it is known: the pinned
	// one, or the one Docker holds while Key Vault has not changed since.
	Version string
	Pinned  bool
	// Updated, Expires and NotBefore are the Key Vault list's (the
	// current version's); exp and nbf are left zero for a pinned version,
	// which the list does not describe.
	Updated   time.Time
	Expires   time.Time
	NotBefore time.Time
	Expiry    Expiry
	State     State
	// Holds is the Key Vault version Docker holds (the newest managed
	// swarm secret's, or the file's recorded one), and Current the swarm
	// secret holding it.
	Holds   string
	Current string
	// Services use an older managed version, in the stack in scope;
	// Others, of other stacks (or none), do too.
	Services []string
	Others   []string
	// Orphans are the managed versions the next sync removes.
	Orphans []string
	// Unconfirmed: Docker's version was read within its Key Vault
	// "updated" second, so another version written in that second would
	// list the same; the next sync reads it again to be sure.
	Unconfirmed bool
	// Notes explain the state, one clause each.
	Notes []string
}

// Drift tells whether the row needs attention: Docker is not in sync, the
// Key Vault secret is missing or disabled, or its exp or nbf warns.
func (r Row) Drift() bool {
	return r.State != InSync || r.Vault != VaultEnabled || r.Expiry != ExpiryNone
}

// Detail is the row's notes on one line.
func (r Row) Detail() string { return strings.Join(r.Notes, "; ") }

func (r *Row) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// rank orders states by gravity: error and unknown, then missing and
// unmanaged, then stale, then orphaned, over in sync.
var rank = map[State]int{InSync: 0, Orphaned: 1, Stale: 2, Unmanaged: 3, Missing: 3, Error: 4, Unknown: 4}

// raise sets the state unless a graver one is set.
func (r *Row) raise(s State) {
	if rank[s] > rank[r.State] {
		r.State = s
	}
}

// Options tune Check and Build.
type Options struct {
	// Stack is the stack whose services a sync moves (the project name by
	// default): services of other stacks on an older version are Others.
	Stack string
	// Keep is sync's --keep: previous versions beyond it are orphans.
	Keep int
	// ExpiryWarning: an exp closer than this warns.
	ExpiryWarning time.Duration
	// Now is the time exp and nbf are compared with; time.Now when zero.
	Now time.Time
	// ProjectDir is the absolute project directory (file secrets).
	ProjectDir string
	// NonRoot is secretfile.NonRootServices of the project: the mode a
	// missing file would be created with, which decides whether its folder
	// is refused, as in a sync.
	NonRoot map[string]bool
}

// Input is everything Build compares: the project's mapped secrets, the
// Key Vault list and Docker's side as Check observed it.
type Input struct {
	Secrets []mapping.Secret
	// Vault is the Key Vault list keyed by lower-case name (fetch.List).
	Vault  map[string]keyvault.SecretProperties
	Source string // the vault URL
	// Swarm holds the swarm secrets, and Services when a sync would list
	// them (swarm.MayMove).
	Swarm swarm.Observed
	// Users names who uses each version a sync would prune
	// (swarm.SecretUsers); a version absent from it is an orphan.
	Users map[string]string
	// Files is secretfile.Observe of the project's file secrets.
	Files secretfile.Observed
	Options
}

// Engine is the part of the Engine API status reads (a subset of what a
// sync uses; only list calls are made).
type Engine = swarm.Engine

// Check observes what status compares and builds the rows. Key Vault is
// listed first: when its first page cannot be read (the vault is
// unreachable, sign-in or permission fails), nothing else is read. Once it
// answers, Docker's side (one swarm secret list when the project has
// external secrets, the files' state) is read while the other pages come
// in; services and tasks after, only when a sync would list them.
func Check(ctx context.Context, eng Engine, store keyvault.Store, secrets []mapping.Secret, opts Options) ([]Row, error) {
	in := Input{Secrets: secrets, Source: store.VaultURL(), Options: opts}
	desired, files := syncer.Split(secrets, opts.NonRoot)
	var docker error
	var started atomic.Bool
	done := make(chan struct{})
	observe := sync.OnceFunc(func() {
		started.Store(true)
		go func() {
			defer close(done)
			if len(files) > 0 {
				if in.Files, docker = secretfile.Observe(opts.ProjectDir, files); docker != nil {
					return
				}
			}
			if len(desired) > 0 {
				in.Swarm, docker = swarm.ObserveSecrets(ctx, eng)
			}
		}()
	})
	listed, err := fetch.List(ctx, onFirstItem{Store: store, first: observe})
	if err != nil {
		if started.Load() { // the vault answered a page, then failed
			<-done
		}
		return nil, err
	}
	observe() // an empty vault
	<-done
	if docker != nil {
		return nil, docker
	}
	in.Vault = listed
	if len(desired) > 0 {
		items := swarm.VaultItems(listed)
		po := in.planOptions()
		facts := planEach(desired, items, in.Swarm, po)
		move := false
		for i, f := range facts {
			read := map[string]swarm.Fetched{}
			if f.need {
				read[desired[i].Name] = swarm.Fetched{}
			}
			move = move || swarm.MayMove(desired[i:i+1], f.sub, read, po)
		}
		if move {
			if in.Swarm.Services, err = swarm.ObserveServices(ctx, eng); err != nil {
				return nil, err
			}
		}
		var ids []string
		for _, f := range facts {
			for _, a := range f.plan.Actions {
				if a.Kind == swarm.ActionPrune {
					ids = append(ids, a.ID)
				}
			}
		}
		if len(ids) > 0 {
			if in.Users, err = swarm.SecretUsers(ctx, eng, ids); err != nil {
				return nil, err
			}
		}
	}
	return Build(in), nil
}

// onFirstItem is a Store whose List calls first when the first secret
// arrives: the vault has answered.
type onFirstItem struct {
	keyvault.Store
	first func()
}

func (s onFirstItem) List(ctx context.Context, fn func(keyvault.SecretProperties) error) error {
	return s.Store.List(ctx, func(p keyvault.SecretProperties) error {
		s.first()
		return fn(p)
	})
}

// facts is what a sync that reads no value plans for one external secret.
type facts struct {
	sub      swarm.Observed  // the swarm, as far as the secret's managed versions go
	cur      swarm.Managed   // the version a sync takes as current, if any
	versions []swarm.Managed // its managed versions, newest first
	need     bool            // a sync would read its value
	plan     swarm.Plan
}

// planEach plans each desired secret on its own, against the managed
// secrets labelled with its name only. That is the plan of them all
// together (a managed secret holds one identity, and an identity one
// name; with no value read nothing else is compared), in time linear in
// the size of the swarm rather than its square, which for 500 secrets is
// the difference between a millisecond and tens.
func planEach(desired []swarm.Desired, items map[string]swarm.VaultItem, obs swarm.Observed, po swarm.PlanOptions) []facts {
	byName := map[string][]swarm.Managed{}
	for _, m := range obs.Managed {
		byName[m.Secret] = append(byName[m.Secret], m)
	}
	out := make([]facts, len(desired))
	for i, d := range desired {
		one := desired[i : i+1]
		f := &out[i]
		f.sub = swarm.Observed{Managed: byName[d.Name], Unmanaged: obs.Unmanaged, Services: obs.Services}
		f.cur, f.versions = f.sub.Holding(d, po.Source)
		f.need = len(swarm.NeedsFetch(one, items, f.sub, po.Source)) > 0
		f.plan = swarm.MakePlan(one, items, nil, f.sub, po)
	}
	return out
}

func (in Input) planOptions() swarm.PlanOptions {
	return swarm.PlanOptions{Source: in.Source, Keep: in.Keep, Stack: in.Stack}
}

// Build is the status of every Key Vault-backed secret of in.Secrets, in
// their order: a pure function of what Check observed.
func Build(in Input) []Row {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	desired, files := syncer.Split(in.Secrets, in.NonRoot)
	b := builder{in: in, fileNeed: map[int]bool{}}
	if len(desired) > 0 {
		b.facts = planEach(desired, swarm.VaultItems(in.Vault), in.Swarm, in.planOptions())
	}
	if len(files) > 0 {
		b.filePlan = secretfile.MakePlan(files, in.Files, in.Vault, nil, in.Source)
		for _, i := range secretfile.NeedsFetch(files, in.Files, in.Vault, in.Source) {
			b.fileNeed[i] = true
		}
	}
	rows := []Row{}
	ext, file := 0, 0
	for _, s := range in.Secrets {
		if s.Local || (s.Kind != mapping.External && s.Kind != mapping.File) {
			continue
		}
		r := b.vaultSide(s)
		if s.Kind == mapping.External {
			b.swarmSide(&r, desired[ext], b.facts[ext])
			ext++
		} else {
			b.fileSide(&r, files[file], file)
			file++
		}
		rows = append(rows, r)
	}
	return rows
}

type builder struct {
	in       Input
	facts    []facts // of the external secrets, in order
	filePlan secretfile.Plan
	fileNeed map[int]bool
}

// vaultSide fills in the Key Vault columns and the expiry warning.
func (b *builder) vaultSide(s mapping.Secret) Row {
	r := Row{Secret: s.Key, Kind: s.Kind, KVName: s.KVName, State: InSync, Version: s.Version, Pinned: s.Version != ""}
	p, ok := b.in.Vault[strings.ToLower(s.KVName)]
	switch {
	case !ok:
		r.Vault = VaultMissing
		r.note("Key Vault secret %q does not exist in %s", s.KVName, b.in.Source)
		return r
	case !p.Enabled:
		r.Vault = VaultDisabled
		r.note("Key Vault secret %q is disabled", s.KVName)
	default:
		r.Vault = VaultEnabled
	}
	r.Updated = p.Updated
	if r.Pinned {
		return r // exp and nbf in the list are the latest version's, not the pinned one's
	}
	r.Expires, r.NotBefore = p.Expires, p.NotBefore
	now := b.in.Now
	switch {
	case !r.Expires.IsZero() && !r.Expires.After(now):
		r.Expiry = Expired
		r.note("expired %s", r.Expires.UTC().Format(dateTimeShort))
	case !r.NotBefore.IsZero() && r.NotBefore.After(now):
		r.Expiry = NotYetValid
		r.note("not valid before %s", r.NotBefore.UTC().Format(dateTimeShort))
	case !r.Expires.IsZero() && r.Expires.Sub(now) <= b.in.ExpiryWarning:
		r.Expiry = Expiring
		r.note("expires %s (in %s)", r.Expires.UTC().Format(dateTimeShort), approx(r.Expires.Sub(now)))
	}
	return r
}

// approx is a duration in days, or hours under two days.
func approx(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	if d >= 2*time.Hour {
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	}
	return "less than 2 hours"
}

// usable tells whether the Key Vault side can be compared with Docker: a
// pinned version is compared whatever the list says of the latest one.
func usable(r *Row) bool {
	return r.Pinned || r.Vault == VaultEnabled
}

// swarmSide compares an external secret's managed swarm secrets with Key
// Vault, from the plan a sync that reads no value would make.
func (b *builder) swarmSide(r *Row, d swarm.Desired, f facts) {
	r.Target = d.Name
	cur, versions := f.cur, f.versions
	if cur.ID != "" {
		r.Current, r.Holds = cur.Name, cur.Version
	}
	if !usable(r) {
		r.State = Unknown
		if cur.ID != "" {
			r.note("Docker holds %s (version %s)", cur.Name, short(cur.Version))
		}
		return
	}
	unmanagedID, unmanaged := b.in.Swarm.Unmanaged[d.Name]
	var unmanagedUsers []string
	if unmanaged {
		unmanagedUsers = usersOf(b.in.Swarm.Services, unmanagedID)
	}
	if cur.ID == "" {
		switch {
		case unmanaged:
			r.raise(Unmanaged)
			r.note("swarm secret %s is not managed by docker vault%s", d.Name, usedBy(unmanagedUsers))
		case r.Pinned && len(versions) > 0:
			r.raise(Stale)
			r.note("pinned version %s is not in the swarm yet (it holds %s)", short(d.Version), versions[0].Name)
		default:
			r.raise(Missing)
			r.note("no swarm secret holds it yet")
		}
		servicesOnOld(r, f.plan)
		return
	}
	// A pinned version found in the swarm is not read again (f.need is
	// false): nothing to compare.
	r.sinceHeld(f.need, cur.Version, cur.Updated, cur.Unsettled, b.in.Vault[strings.ToLower(d.KVName)].Updated, "synced")
	servicesOnOld(r, f.plan)
	if unmanaged && len(unmanagedUsers) > 0 {
		r.raise(Unmanaged)
		r.note("swarm secret %s, not managed by docker vault, is used by %s", d.Name, strings.Join(unmanagedUsers, ", "))
	}
	for _, a := range f.plan.Actions {
		if a.Kind != swarm.ActionPrune {
			continue
		}
		if user := b.in.Users[a.ID]; user == "" {
			r.Orphans = append(r.Orphans, a.Name)
		}
	}
	if len(r.Orphans) > 0 {
		r.raise(Orphaned)
		r.note("orphaned managed versions (the next sync removes them): %s", strings.Join(r.Orphans, ", "))
	}
}

// servicesOnOld reports the services still on an older managed version:
// those the sync's plan would move (in scope) and the others.
func servicesOnOld(r *Row, plan swarm.Plan) {
	for _, a := range plan.Actions {
		if a.Kind == swarm.ActionPrune {
			continue
		}
		r.Services, r.Others = a.Services, a.Others
		break
	}
	if len(r.Services) > 0 {
		r.raise(Stale)
		r.note("services on an older version: %s", strings.Join(r.Services, ", "))
	}
	if len(r.Others) > 0 {
		r.raise(Stale)
		r.note("services of other stacks on an older version: %s (sync --all-stacks updates them)", strings.Join(r.Others, ", "))
	}
}

// usersOf names the services (of any stack) that reference the secret id.
func usersOf(services []swarm.Service, id string) []string {
	var out []string
	for _, s := range services {
		for _, ref := range s.Secrets {
			if ref.SecretID == id {
				out = append(out, s.Name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

func usedBy(users []string) string {
	if len(users) == 0 {
		return ""
	}
	return " (used by " + strings.Join(users, ", ") + ")"
}

// fileSide compares a secret file's recorded version with Key Vault, from
// the plan a sync that reads no value would make.
func (b *builder) fileSide(r *Row, d secretfile.Desired, i int) {
	r.Target = d.Path
	rec, ok := b.in.Files.Recorded(i)
	if ok && rec.Exists {
		r.Holds = rec.Version
	}
	if !usable(r) {
		r.State = Unknown
		if r.Holds != "" {
			r.note("the file holds version %s", short(r.Holds))
		}
		return
	}
	c := b.filePlan.Changes[i]
	switch {
	case !ok:
		r.raise(Error)
		r.note("%s", c.Reason)
		return
	case c.Reason != "" && rec.Exists && !rec.Known:
		r.raise(Unmanaged)
		r.note("%s", c.Reason)
		return
	case c.Reason != "":
		r.raise(Error)
		r.note("%s", c.Reason)
		return
	case !rec.Exists:
		r.raise(Missing)
		r.note("the file does not exist yet")
		return
	case rec.Version == "":
		r.raise(Missing)
		r.note("no version is recorded for the file")
		return
	}
	if r.Pinned && b.fileNeed[i] {
		r.raise(Stale)
		r.note("the file holds version %s, not the pinned %s", short(rec.Version), short(d.Version))
		return
	}
	r.sinceHeld(b.fileNeed[i], rec.Version, rec.Updated, rec.Unsettled, b.in.Vault[strings.ToLower(d.KVName)].Updated, "written")
}

// sinceHeld compares the version Docker holds (held, recorded with its Key
// Vault "updated" time and whether it was read within that second) with
// the list's "updated" time, as a sync decides whether to read the value
// (need): unchanged, unconfirmed, or stale since it was synced or written
// (done).
func (r *Row) sinceHeld(need bool, held string, updated int64, unsettled bool, listed time.Time, done string) {
	switch {
	case !need:
		if !r.Pinned {
			r.Version = held
		}
	case updated == listed.Unix() && unsettled:
		r.Version, r.Unconfirmed = held, true
		r.note("version read within its Key Vault update second: the next sync confirms it")
	default:
		r.raise(Stale)
		r.note("Key Vault secret changed %s, after version %s was %s", listed.UTC().Format(dateTimeShort), short(held), done)
	}
}

func short(v string) string {
	if len(v) > 8 {
		return v[:8]
	}
	return v
}

// Summary counts the rows that drift and those that warn of expiry.
type Summary struct {
	Total, Drift, Expiry int
}

// Summarize counts rows.
func Summarize(rows []Row) Summary {
	s := Summary{Total: len(rows)}
	for _, r := range rows {
		if r.State != InSync || r.Vault != VaultEnabled {
			s.Drift++
		}
		if r.Expiry != ExpiryNone {
			s.Expiry++
		}
	}
	return s
}

// String says it on one line.
func (s Summary) String() string {
	if s.Drift == 0 && s.Expiry == 0 {
		return fmt.Sprintf("all %d secrets are in sync", s.Total)
	}
	var parts []string
	if s.Drift > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d secrets drift from Key Vault", s.Drift, s.Total))
	}
	if s.Expiry > 0 {
		parts = append(parts, fmt.Sprintf("%d expiry %s", s.Expiry, plural(s.Expiry, "warning", "warnings")))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// String renders rows one a line, for tests and logs: secret, Key Vault
// state and version, expiry, Docker state, notes.
func String(rows []Row) string {
	var sb strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&sb, "%s %s vault=%s", r.Secret, r.Kind, r.Vault)
		if r.Version != "" {
			fmt.Fprintf(&sb, "@%s", short(r.Version))
		}
		if r.Expiry != ExpiryNone {
			fmt.Fprintf(&sb, " %s", r.Expiry)
		}
		fmt.Fprintf(&sb, " docker=%s", r.State)
		if d := r.Detail(); d != "" {
			fmt.Fprintf(&sb, ": %s", d)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}
