// Package keyvault is docker vault's access to Azure Key Vault secrets.
//
// Everything outside this package talks to Key Vault through the Store
// interface; only azure*.go imports the Azure SDK. Values travel as []byte so
// callers can clear them, and no type here has a String or Format method that
// prints one.
package keyvault

import (
	"context"
	"time"
)

// SecretProperties describes a secret or one version of it, never its value.
//
// Items of a secrets list (Store.List) carry the secret's base id only: the
// service does not say which version is current there, so Version is empty
// and Updated is the signal that something changed.
type SecretProperties struct {
	Name        string            `json:"name"`
	Version     string            `json:"version,omitempty"`
	Enabled     bool              `json:"enabled"`
	ContentType string            `json:"contentType,omitempty"`
	Created     time.Time         `json:"created,omitzero"`
	Updated     time.Time         `json:"updated,omitzero"`
	NotBefore   time.Time         `json:"notBefore,omitzero"`
	Expires     time.Time         `json:"expires,omitzero"`
	Tags        map[string]string `json:"tags,omitempty"`
	Managed     bool              `json:"managed,omitempty"`
}

// Secret is one version of a secret with its value.
type Secret struct {
	SecretProperties
	Value []byte `json:"-"`
}

// SetOptions are the optional properties of Store.Set.
type SetOptions struct {
	ContentType string
	Tags        map[string]string
}

// Store is the part of Key Vault docker vault uses.
type Store interface {
	// VaultURL is the vault's base URL, e.g. https://myvault.vault.azure.net.
	VaultURL() string
	// Get returns a secret's value at version, or at the latest version
	// when version is empty. A disabled secret is ErrDisabled.
	Get(ctx context.Context, name, version string) (Secret, error)
	// List calls fn for every secret of the vault, page by page, without
	// values. It stops at the first error fn returns.
	List(ctx context.Context, fn func(SecretProperties) error) error
	// Versions lists the versions of one secret, without values.
	Versions(ctx context.Context, name string) ([]SecretProperties, error)
	// Set stores value as a new version of name and returns its properties.
	Set(ctx context.Context, name string, value []byte, opts SetOptions) (SecretProperties, error)
}
