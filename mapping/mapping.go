// Package mapping ties a compose project's secrets to Key Vault secrets.
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
// `x-vault: {url: https://NAME.vault.azure.net}` names the vault.
package mapping

import (
	"fmt"
	"path/filepath"
	"regexp"
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
	Key       string   `json:"secret"`         // key under top-level secrets:
	Kind      Kind     `json:"kind"`           // external or file
	Name      string   `json:"name"`           // swarm name (`name:` or the key) for external secrets
	Path      string   `json:"path,omitempty"` // absolute file path for file secrets
	KVName    string   `json:"vaultSecret"`    // Key Vault secret name
	Version   string   `json:"version,omitempty"`
	Consumers []string `json:"services,omitempty"`
}

var kvName = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)

// ValidKVName tells whether s can name a Key Vault secret.
func ValidKVName(s string) bool { return kvName.MatchString(s) }

// DeriveKVName is the Key Vault name a compose secret maps to without an
// x-vault name: '_' and '.' become '-'.
func DeriveKVName(key string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(key)
}

// VaultURL returns the project's top-level x-vault url, if any.
func VaultURL(p *types.Project) (string, error) {
	ext, ok := p.Extensions[Extension]
	if !ok {
		return "", nil
	}
	m, ok := ext.(map[string]any)
	if !ok {
		return "", fmt.Errorf("top-level %s must be a mapping with a url", Extension)
	}
	u, ok := m["url"]
	if !ok {
		return "", nil
	}
	s, ok := u.(string)
	if !ok {
		return "", fmt.Errorf("top-level %s.url must be a string", Extension)
	}
	return s, nil
}

// Secrets maps every top-level secret of kind external or file (others,
// such as `environment:` secrets, are left out). It fails when two secrets
// map to the same Key Vault secret at the same version, or when a name
// cannot be a Key Vault name.
func Secrets(p *types.Project) ([]Secret, error) {
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
	var out []Secret
	seen := map[string]string{}
	for _, k := range keys {
		sc := p.Secrets[k]
		s := Secret{Key: k, Name: k, KVName: DeriveKVName(k), Consumers: consumers[k]}
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
		default:
			continue
		}
		if err := readExtension(k, sc.Extensions[Extension], &s); err != nil {
			return nil, err
		}
		if !ValidKVName(s.KVName) {
			return nil, fmt.Errorf("secret %s maps to %q, which is not a valid Key Vault secret name (1-127 letters, digits and '-'): set x-vault.name", k, s.KVName)
		}
		id := strings.ToLower(s.KVName) + "@" + strings.ToLower(s.Version)
		if other, dup := seen[id]; dup {
			return nil, fmt.Errorf("secrets %s and %s both map to Key Vault secret %s: give one an x-vault name", other, k, s.KVName)
		}
		seen[id] = k
		out = append(out, s)
	}
	return out, nil
}

// KeyVaultName is the Key Vault secret (and pinned version) a top-level
// compose secret maps to, whatever its kind.
func KeyVaultName(key string, sc types.SecretConfig) (name, version string, err error) {
	s := Secret{Key: key, KVName: DeriveKVName(key)}
	if err := readExtension(key, sc.Extensions[Extension], &s); err != nil {
		return "", "", err
	}
	if !ValidKVName(s.KVName) {
		return "", "", fmt.Errorf("secret %s maps to %q, which is not a valid Key Vault secret name (1-127 letters, digits and '-'): set x-vault.name", key, s.KVName)
	}
	return s.KVName, s.Version, nil
}

func readExtension(key string, ext any, s *Secret) error {
	switch v := ext.(type) {
	case nil:
		return nil
	case string:
		s.KVName = v
		return nil
	case map[string]any:
		for field, val := range v {
			str, ok := val.(string)
			if !ok {
				return fmt.Errorf("secret %s: %s.%s must be a string", key, Extension, field)
			}
			switch field {
			case "name":
				s.KVName = str
			case "version":
				s.Version = str
			default:
				return fmt.Errorf("secret %s: unknown field %s.%s (want name, version)", key, Extension, field)
			}
		}
		return nil
	default:
		return fmt.Errorf("secret %s: %s must be a Key Vault secret name or a mapping with name and version", key, Extension)
	}
}
