package status

import (
	"fmt"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/swarm"
)

// BenchmarkBuild500 is the pure part of status on 500 synced secrets: what
// it adds to the Key Vault list and the engine list it waits for.
func BenchmarkBuild500(b *testing.B) {
	const n = 500
	in := Input{Vault: map[string]keyvault.SecretProperties{}, Swarm: swarm.Observed{Unmanaged: map[string]string{}}}
	for i := range n {
		key, kv := fmt.Sprintf("s%03d", i), fmt.Sprintf("kv-%03d", i)
		in.Secrets = append(in.Secrets, external(key, kv))
		in.Vault[kv] = kvItem(kv)
		in.Swarm.Managed = append(in.Swarm.Managed, managed(key, kv, 1, updated, time.Hour))
	}
	for b.Loop() {
		rows := build(in)
		if s := Summarize(rows); s.Drift != 0 {
			b.Fatal(s)
		}
	}
}
