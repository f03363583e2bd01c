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

// Holding returns the managed secrets of d's identity in the vault source,
// newest first, and the one of them a sync that reads no value takes as
// current: the pinned version's, else the newest (its ID is empty when
// there is none).
func (o Observed) Holding(d Desired, source string) (cur Managed, all []Managed) {
	id := d.identity(source)
	all = ours(o.Managed, id)
	if d.Version != "" {
		cur, _ = current(all, id, d.Version)
	} else if len(all) > 0 {
		cur = all[0]
	}
	return cur, all
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
