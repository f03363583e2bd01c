// Package mapping is the x-vault model: it ties a compose project's secrets
// to Key Vault secrets, and reads the project's top-level x-vault (Config)
// for every command, so one parser and one name and collision rule
// (CheckKVName, Claims) serve sync, deploy, ls, build, migrate and scan.
//
// The mapping lives in the compose file. A top-level secret may carry an
// x-vault extension naming its Key Vault secret and optionally a version:
//
//	secrets:
//	  db_password:
//	    external: true
//	    x-vault:
//	      name: prod-db-password   # or the short form `x-vault: prod-db-password`
//	      version: 0123abcd...     # optional: pin a version
//
// Without one, the Key Vault name is derived from the secret's key:
// db_password -> db-password ('_' and '.' become '-'). A top-level
// `x-vault: {url: https://NAME.vault.azure.net}` names the vault; see Config
// for its other keys.
//
// # Local secrets
//
// An external secret is Key Vault-backed unless it says otherwise. A file
// secret is Key Vault-backed only when it says so, because a file is often
// the only copy of its value (a certificate kept by hand, a password that
// `migrate --to file` wrote) and a Key Vault secret that merely happens to
// have the derived name (another project's) must not overwrite it. A file
// secret is backed when
//
//   - it carries its own x-vault: a name (`x-vault: NAME`), a mapping
//     (`x-vault: {name: NAME, version: V}`), or `x-vault: true` (the derived
//     name); or
//   - the project's top-level x-vault says `files: true`, which backs every
//     file secret that has no x-vault of its own.
//
// Any other file secret is local. `x-vault: false` marks a secret local
// whatever its kind and whatever the top level says. For an external secret
// it means a swarm secret managed by hand: sync and deploy leave it alone,
// and deploy uses its name as the compose file writes it.
//
// Secrets still returns local secrets (with Local set), so that ls can list
// them; callers skip them for Key Vault work. A local secret has no Key Vault
// name (KVName is empty), so it needs no valid one and takes no part in the
// collision check.
package mapping

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Extension is the name of the compose extension docker vault reads.
const Extension = "x-vault"

// Kind is how Docker holds a secret.
type Kind string

const (
	// External secrets are swarm secrets (`external: true`).
	External Kind = "external"
	// File secrets are files on the host (`file: ./secrets/x`).
	File Kind = "file"
)

// Secret is one top-level compose secret and its Key Vault secret.
type Secret struct {
	Key  string `json:"secret"`         // key under top-level secrets:
	Kind Kind   `json:"kind"`           // external or file; empty for other sources (environment:, content:)
	Name string `json:"name"`           // swarm name (`name:` or the key) for external secrets
	Path string `json:"path,omitempty"` // absolute file path for file secrets
	// Local is set for a secret that is not Key Vault-backed (see the
	// package documentation); KVName and Version are then empty.
	Local     bool     `json:"local,omitempty"`
	KVName    string   `json:"vaultSecret,omitempty"` // Key Vault secret name
	Version   string   `json:"version,omitempty"`
	Consumers []string `json:"services,omitempty"`
}

// DeriveKVName is the Key Vault name a compose secret maps to without an
// x-vault name: '_' and '.' become '-'.
func DeriveKVName(key string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(key)
}

// VaultURL returns the project's top-level x-vault url, if any.
func VaultURL(p *types.Project) (string, error) {
	c, err := ReadConfig(p)
	return c.URL, err
}

// Secrets maps every top-level secret of kind external or file (others,
// such as `environment:` secrets, are left out), local ones included. It
// fails when two Key Vault-backed secrets map to the same Key Vault secret
// at the same version, or when a name cannot be a Key Vault name.
func Secrets(p *types.Project) ([]Secret, error) {
	all, err := MapAll(p)
	if err != nil {
		return nil, err
	}
	var out []Secret
	claims := Claims{}
	for _, s := range all {
		if s.Kind == "" {
			continue
		}
		if !s.Local {
			if err := claims.Claim(s.Key, s.KVName, s.Version); err != nil {
				return nil, err
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// MapAll maps every top-level secret of the project, whatever its source
// (Kind is empty for sources other than external and file), sorted by key.
// Unlike Secrets it does not look for collisions: ls shows the compose
// secrets that share a Key Vault secret side by side.
func MapAll(p *types.Project) ([]Secret, error) {
	cfg, err := ReadConfig(p)
	if err != nil {
		return nil, err
	}
	consumers := map[string][]string{}
	for _, svc := range p.Services {
		for _, ref := range svc.Secrets {
			consumers[ref.Source] = append(consumers[ref.Source], svc.Name)
		}
	}
	keys := make([]string, 0, len(p.Secrets))
	for k := range p.Secrets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Secret, 0, len(keys))
	for _, k := range keys {
		sc := p.Secrets[k]
		s := Secret{Key: k, Name: k, Consumers: consumers[k]}
		sort.Strings(s.Consumers)
		switch {
		case bool(sc.External):
			s.Kind = External
			if sc.Name != "" {
				s.Name = sc.Name
			}
		case sc.File != "":
			s.Kind = File
			s.Path = sc.File
			if !filepath.IsAbs(s.Path) {
				s.Path = filepath.Join(p.WorkingDir, s.Path)
			}
		}
		m, err := readExtension(k, sc.Extensions[Extension])
		if err != nil {
			return nil, err
		}
		switch {
		case m.local:
			s.Local = true
		case s.Kind == File && !m.marked && !cfg.Files:
			s.Local = true
		default:
			s.KVName, s.Version = m.name, m.version
			if !m.named {
				s.KVName = DeriveKVName(k)
			}
			if err := CheckKVName(k, s.KVName); err != nil {
				return nil, err
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// ErrLocal is returned by KeyVaultName for a secret marked `x-vault: false`.
var ErrLocal = errors.New("marked x-vault: false")

// KeyVaultName is the Key Vault secret (and pinned version) a top-level
// compose secret maps to, whatever its kind and whether or not it is marked:
// for a caller that already knows it wants the secret from Key Vault (build
// --compose and its `environment:` secrets). A secret marked `x-vault:
// false` is an error matching ErrLocal.
func KeyVaultName(key string, sc types.SecretConfig) (name, version string, err error) {
	m, err := readExtension(key, sc.Extensions[Extension])
	if err != nil {
		return "", "", err
	}
	if m.local {
		return "", "", fmt.Errorf("secret %s is %w, so it has no Key Vault secret: remove the x-vault: false, or give the secret another source", key, ErrLocal)
	}
	if !m.named {
		m.name = DeriveKVName(key)
	}
	if err := CheckKVName(key, m.name); err != nil {
		return "", "", err
	}
	return m.name, m.version, nil
}

// marking is what a secret's own x-vault says.
type marking struct {
	marked  bool // it has an x-vault that backs it
	local   bool // x-vault: false
	named   bool // it gives a name (which may be invalid, even empty)
	name    string
	version string
}

func readExtension(key string, ext any) (marking, error) {
	switch v := ext.(type) {
	case nil:
		return marking{}, nil
	case bool:
		return marking{marked: v, local: !v}, nil
	case string:
		return marking{marked: true, named: true, name: v}, nil
	case map[string]any:
		m := marking{marked: true}
		for field, val := range v {
			str, ok := val.(string)
			if !ok {
				return m, fmt.Errorf("secret %s: %s.%s must be a string", key, Extension, field)
			}
			switch field {
			case "name":
				m.named, m.name = true, str
			case "version":
				m.version = str
			default:
				return m, fmt.Errorf("secret %s: unknown field %s.%s (want name, version)", key, Extension, field)
			}
		}
		return m, nil
	default:
		return marking{}, fmt.Errorf("secret %s: %s must be a Key Vault secret name, a mapping with name and version, true or false", key, Extension)
	}
}
