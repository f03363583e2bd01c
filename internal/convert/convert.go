// Package convert takes a project from file secrets to Key Vault, the step
// after `migrate --to file`: it finds the project's `file:` secrets whose
// values may go to Key Vault (Sources), reads their values (ReadValue), and
// rewrites their definitions into external ones (Plan) for `migrate --to
// external`. `docker vault push` stores the values of Sources; migrate
// pushes them with the rest of its plan.
//
// Which file secrets: every one not marked `x-vault: false`. A file secret
// without an x-vault of its own is local for sync (sync never writes it,
// see internal/mapping), but pushing only reads it: the value goes to the
// Key Vault secret its x-vault names, or the derived name. `migrate --to
// file` leaves the secrets it writes unmarked, so this is what lets a
// project migrated to files move on to Key Vault.
package convert

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/safefmt"
)

// MaxValueSize is the largest value Key Vault stores: 25 KB.
const MaxValueSize = 25 * 1024

// Source is a file secret whose value can go to Key Vault. It never holds
// the value.
type Source struct {
	Secret string `json:"secret"`      // the key under top-level secrets:
	KVName string `json:"vaultSecret"` // its Key Vault secret: x-vault name or derived
	Path   string `json:"path"`        // the file, absolute
	// Version is the version its x-vault pins, if any: its value then
	// comes from that version, and a push would store one no one reads.
	Version string `json:"version,omitempty"`
	// Marked: the secret is Key Vault-backed already (x-vault, or files:
	// true), so sync writes its file.
	Marked bool `json:"marked,omitempty"`
}

// Sources returns the project's file secrets not marked `x-vault: false`,
// by key; with names, only those, in that order, and a name that is not
// such a secret is an error. Two secrets mapping to one Key Vault secret,
// with each other or with another Key Vault-backed secret of the project,
// are an error: one value would overwrite the other.
func Sources(p *types.Project, names []string) ([]Source, error) {
	all, err := mapping.MapAll(p)
	if err != nil {
		return nil, err
	}
	byKey := map[string]Source{}
	// bad holds the secrets that cannot be pushed, with why: an error
	// only when they are asked for (all of them, or by name).
	bad := map[string]error{}
	var keys []string
	claims := mapping.Claims{}
	for _, s := range all {
		if !s.Local && s.Kind == mapping.External {
			if err := claims.Claim(s.Key, s.KVName, s.Version); err != nil {
				return nil, err
			}
		}
		if s.Kind != mapping.File {
			continue
		}
		name, version, err := mapping.KeyVaultName(s.Key, p.Secrets[s.Key])
		if errors.Is(err, mapping.ErrLocal) {
			continue
		}
		keys = append(keys, s.Key)
		if err == nil {
			err = claims.Claim(s.Key, name, version)
		}
		if err != nil {
			bad[s.Key] = err
			continue
		}
		byKey[s.Key] = Source{Secret: s.Key, KVName: name, Path: s.Path, Version: version, Marked: !s.Local}
	}
	if len(names) == 0 {
		out := make([]Source, 0, len(keys))
		for _, k := range keys {
			if err := bad[k]; err != nil {
				return nil, err
			}
			out = append(out, byKey[k])
		}
		return out, nil
	}
	var out []Source
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if err := bad[n]; err != nil {
			return nil, err
		}
		src, ok := byKey[n]
		if !ok {
			return nil, notASource(p, n)
		}
		out = append(out, src)
	}
	return out, nil
}

// notASource says why name is not a file secret whose value can be pushed.
func notASource(p *types.Project, name string) error {
	sc, ok := p.Secrets[name]
	switch {
	case !ok:
		known := slices.Sorted(func(yield func(string) bool) {
			for k, s := range p.Secrets {
				if s.File != "" && !yield(k) {
					return
				}
			}
		})
		if len(known) == 0 {
			return fmt.Errorf("the project declares no secret %s, and no file: secret at all", name)
		}
		return fmt.Errorf("the project declares no secret %s (its file: secrets: %s)", name, strings.Join(known, ", "))
	case sc.File == "":
		return fmt.Errorf("secret %s is not a file: secret: push stores the values of file: secrets (use `docker vault set NAME` for one value)", name)
	default:
		return fmt.Errorf("secret %s is marked x-vault: false (local): remove the mark to store its value in Key Vault", name)
	}
}

// ReadValue reads the value of a source's file. The file must be a
// regular file (a FIFO or a device would block or never end), and the
// value must be one Key Vault can hold (CheckValue). Errors name the
// secret and the file, never the value.
func ReadValue(src Source) ([]byte, error) {
	// Stat first and open without blocking: opening a FIFO for reading
	// waits for a writer.
	if st, err := os.Stat(src.Path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("secret %s: %s is not a regular file", src.Secret, src.Path)
	}
	f, err := os.OpenFile(src.Path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", src.Secret, pathError(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", src.Secret, pathError(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("secret %s: %s is not a regular file", src.Secret, src.Path)
	}
	if st.Size() > MaxValueSize {
		return nil, fmt.Errorf("secret %s: %s holds %d bytes, more than Key Vault stores (%d)", src.Secret, src.Path, st.Size(), MaxValueSize)
	}
	v, err := io.ReadAll(io.LimitReader(f, MaxValueSize+1))
	if err != nil {
		clear(v)
		return nil, fmt.Errorf("secret %s: %w", src.Secret, pathError(err))
	}
	if err := CheckValue(v); err != nil {
		clear(v)
		return nil, fmt.Errorf("secret %s: %s %w", src.Secret, src.Path, err)
	}
	return v, nil
}

// pathError keeps an *os.PathError's operation, path and cause: none of
// them can hold a value.
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %w", pe.Op, pe.Path, pe.Err)
	}
	return err
}

// CheckValue refuses a value Key Vault cannot hold as it is: empty, over
// MaxValueSize, or not UTF-8 (the service stores text, and a JSON encoder
// would silently replace invalid bytes). Its error completes a sentence
// whose subject is the value's origin ("stdin ..."), and never quotes the
// value.
func CheckValue(v []byte) error {
	switch {
	case len(v) == 0:
		return errors.New("is empty: Key Vault needs a value")
	case len(v) > MaxValueSize:
		return fmt.Errorf("holds more than %d bytes, more than Key Vault stores", MaxValueSize)
	case !utf8.Valid(v):
		return errors.New("is not UTF-8 text, and Key Vault stores text: encode it (for example with base64) and decode it where it is used")
	}
	return nil
}

// Value is a source with its value, for a caller that stores it.
type Value struct {
	Source
	// Push: the value is to be stored in Key Vault. Not for a secret
	// pinned to a version, nor for a Key Vault-backed one whose file sync
	// has not written: their values are in Key Vault.
	Push  bool   `json:"push,omitempty"`
	Value []byte `json:"-"`
}

func (v Value) String() string                { return "value of secret " + v.Secret + " from " + v.Path }
func (v Value) GoString() string              { return "convert.Value{" + v.String() + "}" }
func (v Value) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, v) }
