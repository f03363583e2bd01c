package scan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/internal/fetch"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
)

// MappedSecrets are the Key Vault secrets project maps (its top-level
// secrets that are Key Vault-backed), each once, sorted by name.
func MappedSecrets(project *types.Project) ([]fetch.Request, error) {
	all, err := mapping.MapAll(project)
	if err != nil {
		return nil, err
	}
	var reqs []fetch.Request
	for _, s := range all {
		if !s.Local {
			reqs = append(reqs, fetch.Request{Name: s.KVName, Version: s.Version})
		}
	}
	return uniqueRequests(reqs), nil
}

// AllSecrets are every enabled secret of the vault (the latest version of
// each): --all. Disabled ones cannot be read.
func AllSecrets(ctx context.Context, store keyvault.Store) ([]fetch.Request, error) {
	listed, err := fetch.List(ctx, store)
	if err != nil {
		return nil, err
	}
	var reqs []fetch.Request
	for _, p := range listed {
		if p.Enabled {
			reqs = append(reqs, fetch.Request{Name: p.Name})
		}
	}
	return uniqueRequests(reqs), nil
}

// uniqueRequests drops repeated requests (Key Vault names are
// case-insensitive) and sorts them by name.
func uniqueRequests(reqs []fetch.Request) []fetch.Request {
	slices.SortFunc(reqs, func(a, b fetch.Request) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return slices.CompactFunc(reqs, func(a, b fetch.Request) bool {
		return strings.EqualFold(a.Name, b.Name) && a.Version == b.Version
	})
}

// ReadValues reads the values of reqs, at most parallel at once, into
// Values to search for (the fetched copies are cleared at once; Close the
// Values when done). A secret that is missing or disabled is a note, not
// an error; any other failure stops every read, and a denied read says
// which permission the scan needs.
func ReadValues(ctx context.Context, store keyvault.Store, reqs []fetch.Request, parallel int) (*Values, []string, error) {
	res, err := fetch.Values(ctx, store, reqs, fetch.Options{Parallel: parallel, Stop: func(_ int, err error) error {
		if fetch.Missing(err) {
			return nil
		}
		return vaultPermissionError(err)
	}})
	if err != nil {
		return nil, nil, err
	}
	defer fetch.Clear(res)
	var notes []string
	var vs []Value
	for i, r := range res {
		if r.Err != nil {
			what := "missing"
			if errors.Is(r.Err, keyvault.ErrDisabled) {
				what = "disabled"
			}
			notes = append(notes, fmt.Sprintf("Key Vault secret %s is %s: its value is not searched for", vaultRequestName(reqs[i]), what))
			continue
		}
		vs = append(vs, Value{Name: reqs[i].Name, Version: r.Version, Value: r.Value})
	}
	v := NewValues(vs)
	for _, name := range v.Short {
		notes = append(notes, fmt.Sprintf("Key Vault secret %s is too short to be searched for (a value that short is found anywhere)", name))
	}
	return v, notes, nil
}

// vaultPermissionError says why a denied read stops the scan: --vault reads
// every value it searches for.
func vaultPermissionError(err error) error {
	var kvErr *keyvault.Error
	if errors.Is(err, keyvault.ErrForbidden) && errors.As(err, &kvErr) && kvErr.Permission != "" {
		return fmt.Errorf("scan --vault reads the values it searches for, which needs the %s permission: %w", kvErr.Permission, err)
	}
	return err
}

func vaultRequestName(r fetch.Request) string {
	if r.Version != "" {
		return r.Name + " (version " + r.Version + ")"
	}
	return r.Name
}
