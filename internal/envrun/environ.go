package envrun

import (
	"bytes"
	"fmt"
	"strings"
)

// Limits are the sizes the kernel accepts for a new process's arguments
// and environment (execve fails with E2BIG past them). SystemLimits gives
// this system's.
type Limits struct {
	// Entry is the most bytes one NAME=value string may take, its
	// terminating NUL included (Linux: MAX_ARG_STRLEN, 128 KiB); 0 for
	// no such limit.
	Entry int
	// Total is the most bytes every argument and environment string may
	// take together, with their NULs and pointers (Linux: a quarter of the
	// stack limit, between 128 KiB and 6 MiB: ARG_MAX); 0 for no limit
	// known.
	Total int
}

// Headroom is kept free of Total for what the child adds before it starts
// compose: the docker CLI passes variables of its own to the plugin it
// runs.
const Headroom = 8 << 10

// Select returns the secrets whose value is to be read from Key Vault
// and, for each variable the environment base already sets, a note (names
// only) saying which value is used: Key Vault's, unless keepExisting
// (--no-override), when the environment's is and Key Vault's is not read.
func Select(secrets []Secret, base []string, keepExisting bool) (read []Secret, notes []string) {
	set := map[string]bool{}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	noted := map[string]bool{}
	for _, s := range secrets {
		if set[s.Var] && !noted[s.Var] {
			noted[s.Var] = true
			if keepExisting {
				notes = append(notes, fmt.Sprintf("%s is set in the environment: its value is used for secret %s, not Key Vault's (--no-override)", s.Var, s.Key))
			} else {
				notes = append(notes, fmt.Sprintf("%s is set in the environment: Key Vault's value is used for secret %s (--no-override keeps the environment's)", s.Var, s.Key))
			}
		}
		if !set[s.Var] || !keepExisting {
			read = append(read, s)
		}
	}
	return read, notes
}

// Environ is the child's environment: base without the variables of
// vals, then each variable of vals with its value. argv (the child's
// program and arguments) counts towards lim.Total. A value that cannot
// travel in an environment (a NUL byte, a string over lim.Entry, a total
// over lim.Total less Headroom) is an error naming its secret, and no
// environment is returned.
func Environ(base []string, vals []Value, argv []string, lim Limits) ([]string, error) {
	ours := map[string]bool{}
	for _, v := range vals {
		ours[v.Var] = true
	}
	env := make([]string, 0, len(base)+len(vals))
	for _, kv := range base {
		if k, _, _ := strings.Cut(kv, "="); !ours[k] {
			env = append(env, kv)
		}
	}
	largest := -1
	for i, v := range vals {
		if bytes.IndexByte(v.Value, 0) >= 0 {
			return nil, fmt.Errorf("secret %s: the value of Key Vault secret %s holds a NUL byte, which cannot travel in an environment variable: store it base64-encoded", v.Key, v.KVName)
		}
		if n := len(v.Var) + 1 + len(v.Value) + 1; lim.Entry > 0 && n > lim.Entry {
			return nil, fmt.Errorf("secret %s: the value of Key Vault secret %s is %d bytes, over the %d bytes one environment variable may hold (%s=value, MAX_ARG_STRLEN): keep it in a file secret (docker vault sync) instead", v.Key, v.KVName, len(v.Value), lim.Entry, v.Var)
		}
		if largest < 0 || len(v.Value) > len(vals[largest].Value) {
			largest = i
		}
	}
	if lim.Total > 0 {
		total := 8 // the NULL pointer closing each list, twice on 32 bits
		for _, s := range argv {
			total += len(s) + 1 + 8
		}
		for _, kv := range env {
			total += len(kv) + 1 + 8
		}
		for _, v := range vals {
			total += len(v.Var) + 1 + len(v.Value) + 1 + 8
		}
		if total > lim.Total-Headroom && largest >= 0 {
			l := vals[largest]
			return nil, fmt.Errorf("the arguments and environment with the Key Vault values would take %d bytes, over the %d bytes this system allows a new process (ARG_MAX, less %d for the docker CLI); the largest value is secret %s's (Key Vault secret %s, %d bytes)", total, lim.Total, Headroom, l.Key, l.KVName, len(l.Value))
		}
	}
	for _, v := range vals {
		env = append(env, v.Var+"="+string(v.Value))
	}
	return env, nil
}
