// Package kvstore opens the Key Vault emulator (package kvtest) as the
// production keyvault.Store, in the test's own process. Unit tests of the
// packages built on a Store (swarm, secretfile, commands) use it, so they
// run against the one fake vault the project keeps, through the real Azure
// client: paging, errors and one-second "updated" times are the service's.
//
// It is its own package because kvtest cannot import keyvault: keyvault's
// own tests import kvtest.
package kvstore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

// New starts an emulator with opts for the test and returns it with a Store
// on its vault. Without opts.Clock, versions get the times of Ticking:
// each in its own second, long past.
func New(t testing.TB, opts kvtest.Options) (*kvtest.Server, keyvault.Store) {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = Ticking(time.Unix(1700000000, 0))
	}
	s := kvtest.NewServer(t, opts)
	return s, Open(t, s)
}

// Ticking is a clock for kvtest.Options.Clock that starts at start and moves
// one second each time it is read. A version written on it is long settled
// by the test's real time, and the next one has another "updated" second,
// as in a vault written at human pace: a sync that finds nothing changed
// reads no value, and a rotation shows in the list. Tests of writes within
// one second pass a fixed clock instead.
func Ticking(start time.Time) func() time.Time {
	var ticks atomic.Int64
	return func() time.Time { return start.Add(time.Duration(ticks.Add(1)-1) * time.Second) }
}

// Open returns a Store on s's vault. It authenticates with tokens s issues
// directly and reaches s through its Transport, so it leaves the process
// environment alone: tests using it may run in parallel. Tests of sign-in
// itself go through keyvault.Open and s.Env instead.
func Open(t testing.TB, s *kvtest.Server) keyvault.Store {
	t.Helper()
	st, err := keyvault.NewAzureStore(s.VaultURL(), credential{s}, keyvault.AzureOptions{Transport: s.HTTPClient()})
	if err != nil {
		t.Fatalf("failed to open the key vault emulator: %v", err)
	}
	return st
}

// credential hands out the emulator's tokens, as its managed identity
// endpoint would.
type credential struct{ s *kvtest.Server }

func (c credential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	// Well inside the emulator's token lifetime, so the client refreshes
	// before the emulator would refuse the token.
	return azcore.AccessToken{Token: c.s.Token(), ExpiresOn: time.Now().Add(30 * time.Minute)}, nil
}
