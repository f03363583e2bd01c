package mapping

import (
	"fmt"
	"strings"

	"github.com/docker-vault/docker-vault/internal/keyvault"
)

// CheckKVName fails when name, which the compose secret key maps to, cannot
// name a Key Vault secret, and says how to fix it.
func CheckKVName(key, name string) error {
	if keyvault.ValidSecretName(name) {
		return nil
	}
	return fmt.Errorf("secret %s maps to %q, which is not a valid Key Vault secret name (1-127 letters, digits and '-'): set x-vault.name", key, name)
}

// Claims records which compose secret maps to each Key Vault secret, so
// that a second one is an error rather than a silent overwrite: push would
// store two values in one secret, and sync would give two compose secrets
// one value. Key Vault names are case-insensitive. Secrets pinned to
// different versions of one Key Vault secret do not collide. Make one with
// Claims{}.
type Claims map[string]string

// Claim records that compose secret key maps to Key Vault secret kvName at
// version ("" for the current one), and fails if another already does.
func (c Claims) Claim(key, kvName, version string) error {
	id := strings.ToLower(kvName) + "@" + strings.ToLower(version)
	if other, dup := c[id]; dup {
		return fmt.Errorf("secrets %s and %s both map to Key Vault secret %s: give one an x-vault name", other, key, kvName)
	}
	c[id] = key
	return nil
}
