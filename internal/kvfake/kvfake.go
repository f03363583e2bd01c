// Package kvfake is an in-memory keyvault.Store for unit tests of the
// packages built on it. Tests of the Azure implementation use the emulator
// (keyvault/kvtest) instead.
package kvfake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault"
)

// Store is a fake vault. Lists, Gets and Sets count the calls.
type Store struct {
	mu       sync.Mutex
	URL      string
	secrets  map[string][]keyvault.Secret // lower-case name -> versions, oldest first
	disabled map[string]bool
	Lists    int
	Gets     int
	Sets     int
	clock    time.Time
	frozen   bool
}

// Freeze makes every later Set happen at t, so tests can write several
// versions within one second, as Key Vault's one-second "updated" times
// allow.
func (s *Store) Freeze(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock, s.frozen = t, true
}

// New returns an empty fake vault.
func New() *Store {
	return &Store{URL: "https://fake.vault.azure.net", secrets: map[string][]keyvault.Secret{}, disabled: map[string]bool{},
		clock: time.Unix(1700000000, 0)}
}

// Put adds a version of name and returns its version id.
func (s *Store) Put(name, value string) string {
	p, _ := s.Set(context.Background(), name, []byte(value), keyvault.SetOptions{})
	return p.Version
}

// Disable disables a secret.
func (s *Store) Disable(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disabled[strings.ToLower(name)] = true
}

// ResetCounts zeroes the call counters.
func (s *Store) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Lists, s.Gets, s.Sets = 0, 0, 0
}

func (s *Store) VaultURL() string { return s.URL }

func (s *Store) Get(_ context.Context, name, version string) (keyvault.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Gets++
	vs := s.secrets[strings.ToLower(name)]
	if len(vs) == 0 {
		return keyvault.Secret{}, keyvault.ErrNotFound
	}
	if s.disabled[strings.ToLower(name)] {
		return keyvault.Secret{}, keyvault.ErrDisabled
	}
	if version == "" {
		v := vs[len(vs)-1]
		v.Value = append([]byte(nil), v.Value...)
		return v, nil
	}
	for _, v := range vs {
		if strings.EqualFold(v.Version, version) {
			v.Value = append([]byte(nil), v.Value...)
			return v, nil
		}
	}
	return keyvault.Secret{}, keyvault.ErrNotFound
}

func (s *Store) List(_ context.Context, fn func(keyvault.SecretProperties) error) error {
	s.mu.Lock()
	s.Lists++
	var props []keyvault.SecretProperties
	for k, vs := range s.secrets {
		p := vs[len(vs)-1].SecretProperties
		p.Version = ""
		p.Enabled = !s.disabled[k]
		props = append(props, p)
	}
	s.mu.Unlock()
	for _, p := range props {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) Versions(_ context.Context, name string) ([]keyvault.SecretProperties, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []keyvault.SecretProperties
	for _, v := range s.secrets[strings.ToLower(name)] {
		out = append(out, v.SecretProperties)
	}
	return out, nil
}

func (s *Store) Set(_ context.Context, name string, value []byte, opts keyvault.SetOptions) (keyvault.SecretProperties, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Sets++
	if !s.frozen {
		s.clock = s.clock.Add(time.Second)
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	k := strings.ToLower(name)
	if vs := s.secrets[k]; len(vs) > 0 {
		name = vs[0].Name
	}
	sec := keyvault.Secret{
		SecretProperties: keyvault.SecretProperties{Name: name, Version: hex.EncodeToString(b), Enabled: true,
			ContentType: opts.ContentType, Created: s.clock, Updated: s.clock},
		Value: append([]byte(nil), value...),
	}
	s.secrets[k] = append(s.secrets[k], sec)
	return sec.SecretProperties, nil
}
