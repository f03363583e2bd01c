package build

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"sort"
	"strings"

	"github.com/docker-vault/docker-vault/internal/runner"
)

// VersionsArg is the build arg docker vault sets to the Key Vault versions
// of the secrets it fills (id=version pairs, never a value or a hash of
// one). A Dockerfile that declares it before a RUN using a secret makes
// that step re-run when a secret rotates, instead of being served from
// cache:
//
//	ARG DOCKER_VAULT_VERSIONS
//	RUN --mount=type=secret,id=token ./fetch-deps
const VersionsArg = "DOCKER_VAULT_VERSIONS"

// envPrefix names the environment variables that carry values to buildx.
const envPrefix = "DOCKER_VAULT_SECRET_"

// Secret is a value for one secret id.
type Secret struct {
	ID      string
	KVName  string // the Key Vault secret it was read from
	Version string // Key Vault version, for VersionsArg
	Value   []byte
	// Previous marks an earlier version of the secret than the build
	// used: a value the leak check searches for (a layer served from cache
	// holds the value of the build that made it), never one given to
	// buildx.
	Previous bool
}

// Invocation is a prepared `docker buildx build`.
type Invocation struct {
	Args []string // after the docker binary: global options, buildx, build, ...
	Env  []string // the child's whole environment; the only place values go
}

// Prepare assembles the buildx command line and environment. userArgs are
// the user's buildx build flags and context, passed through unchanged;
// every secret becomes `--secret id=ID,env=DOCKER_VAULT_SECRET_N` with its
// value only in the environment. versionsArg adds the VersionsArg build arg.
func Prepare(globalArgs, userArgs []string, secrets []Secret, baseEnv []string, versionsArg bool) (Invocation, error) {
	inv := Invocation{}
	inv.Args = append(inv.Args, globalArgs...)
	inv.Args = append(inv.Args, "buildx", "build")
	for _, kv := range baseEnv {
		// A value left in the environment by a parent docker vault must
		// not be handed on under a name this run does not control.
		if !strings.HasPrefix(kv, envPrefix) {
			inv.Env = append(inv.Env, kv)
		}
	}
	var versions []string
	for i, s := range secrets {
		if s.Previous {
			return Invocation{}, fmt.Errorf("secret %s: a previous version is for the leak check, never for the build", s.ID)
		}
		env := fmt.Sprintf("%s%d", envPrefix, i)
		kv, err := EnvEntry(env, s)
		if err != nil {
			return Invocation{}, err
		}
		inv.Args = append(inv.Args, "--secret", "id="+s.ID+",env="+env)
		inv.Env = append(inv.Env, kv)
		if s.Version != "" {
			versions = append(versions, s.ID+"="+s.Version)
		}
	}
	if versionsArg {
		sort.Strings(versions)
		inv.Args = append(inv.Args, "--build-arg", VersionsArg+"="+strings.Join(versions, ","))
	}
	// The user's flags last, and the context with them, unchanged.
	inv.Args = append(inv.Args, userArgs...)
	return inv, nil
}

// EnvEntry is the NAME=value environment entry that carries a secret to a
// child process. A value with a NUL byte cannot travel in the environment,
// and is an error rather than a temporary file.
func EnvEntry(name string, s Secret) (string, error) {
	if bytes.IndexByte(s.Value, 0) >= 0 {
		return "", fmt.Errorf("secret %s: the value holds a NUL byte, which cannot travel in an environment variable; store it base64-encoded in Key Vault and decode it in the RUN step", s.ID)
	}
	return name + "=" + string(s.Value), nil
}

// UserSecretIDs returns the ids the user's own --secret flags provide: those
// are left to the user.
func UserSecretIDs(userArgs []string) map[string]bool {
	ids := map[string]bool{}
	for i := 0; i < len(userArgs); i++ {
		var spec string
		switch a := userArgs[i]; {
		case a == "--secret" && i+1 < len(userArgs):
			spec = userArgs[i+1]
			i++
		case strings.HasPrefix(a, "--secret="):
			spec = strings.TrimPrefix(a, "--secret=")
		default:
			continue
		}
		// Parsed as buildx parses it: CSV fields, keys in any case.
		fields, err := csv.NewReader(strings.NewReader(spec)).Read()
		if err != nil {
			fields = strings.Split(spec, ",")
		}
		for _, field := range fields {
			if k, v, ok := strings.Cut(field, "="); ok && strings.EqualFold(k, "id") {
				ids[v] = true
			}
		}
	}
	return ids
}

// RunFunc runs a child process: runner.Run, or a test's fake.
type RunFunc func(ctx context.Context, c runner.Cmd) error
