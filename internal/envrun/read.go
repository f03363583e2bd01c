package envrun

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/docker-vault/docker-vault/internal/fetch"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/safefmt"
)

// Value is the value of one variable, read from Key Vault. It prints
// (every verb, see safefmt) and marshals to JSON without its value.
type Value struct {
	Var     string
	Key     string // the (first) compose secret it fills
	KVName  string
	Version string // the version read
	Value   []byte
}

func (v Value) String() string {
	return fmt.Sprintf("%s (secret %s, Key Vault secret %s version %s)", v.Var, v.Key, v.KVName, v.Version)
}
func (v Value) GoString() string              { return "envrun.Value{" + v.String() + "}" }
func (v Value) Format(f fmt.State, verb rune) { safefmt.Format(f, verb, v) }

func (v Value) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Var     string `json:"var"`
		Key     string `json:"secret"`
		KVName  string `json:"vaultSecret"`
		Version string `json:"version"`
	}{v.Var, v.Key, v.KVName, v.Version})
}

// Read reads the value of every secret's Key Vault secret, concurrently,
// at most parallel at once, each Key Vault secret (and version) once. A
// secret that is not there (deleted, disabled, no such version) fails the
// whole read naming the compose secret, as does any other failure: the
// child must not start on half of its values. On error no value is kept.
func Read(ctx context.Context, store keyvault.Store, secrets []Secret, parallel int) ([]Value, error) {
	var reqs []fetch.Request
	var first []Secret // the secret behind each request
	index := map[string]int{}
	reqOf := make([]int, len(secrets))
	for i, s := range secrets {
		id := strings.ToLower(s.KVName) + "@" + strings.ToLower(s.Version)
		n, ok := index[id]
		if !ok {
			n = len(reqs)
			index[id] = n
			reqs = append(reqs, fetch.Request{Name: s.KVName, Version: s.Version})
			first = append(first, s)
		}
		reqOf[i] = n
	}
	res, err := fetch.Values(ctx, store, reqs, fetch.Options{Parallel: parallel, Stop: func(i int, err error) error {
		s := first[i]
		if fetch.Missing(err) {
			return fmt.Errorf("secret %s: %w (create it with `docker vault set %s`, or map the secret to another Key Vault secret with x-vault.name)", s.Key, err, s.KVName)
		}
		return fmt.Errorf("secret %s: %w", s.Key, err)
	}})
	if err != nil {
		return nil, err
	}
	out := make([]Value, 0, len(secrets))
	seen := map[string]bool{}
	for i, s := range secrets {
		if seen[s.Var] {
			continue // checkVars made sure it is the same Key Vault secret
		}
		seen[s.Var] = true
		r := res[reqOf[i]]
		out = append(out, Value{Var: s.Var, Key: s.Key, KVName: s.KVName, Version: r.Version, Value: r.Value})
	}
	return out, nil
}

// Clear zeroes every value.
func Clear(vals []Value) {
	for i := range vals {
		clear(vals[i].Value)
	}
}
