package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/yamledit"
	"go.yaml.in/yaml/v3"
)

// --to environment: every secret migrate moves is declared
// `NAME: {environment: VAR}`, and compose copies the value of its own
// variable VAR into the container's /run/secrets/NAME; `docker vault run --
// docker compose up` fills VAR from Key Vault (the secret's x-vault name, or
// the derived one) in compose's environment only. Nothing is written to
// disk.
//
// VAR is the secret's name upper-cased, every byte that cannot be in a
// variable name turned into '_' (db_password -> DB_PASSWORD). A name that
// starts with a digit, or is one docker, compose, buildx, Azure's
// credentials or the shell read (DOCKER_*, COMPOSE_*, AZURE_*, PATH, ...),
// gets SECRET_ in front (SECRET_DOCKER_PASSWORD). When the project as
// migrate leaves it uses that variable itself, _SECRET is appended (then
// _SECRET_2, ...), so that filling it changes nothing else. "Uses" means what compose reads from its
// own environment, and what a container could receive from it:
//   - a ${VAR} or $VAR in a compose file or an env file of the project,
//   - a key of an env file (.env, --env-file, include and services'
//     env_file),
//   - a key of a service's environment: or build args: (a key without a
//     value passes compose's variable into the container, or the build),
//   - the environment: source of another secret or config.
// The check is made on the rewritten files: a ${DB_PASSWORD} that migrate
// moves is gone from them, and DB_PASSWORD then names the secret.
//
// Compose refuses to copy a secret into a read_only service ("cannot create
// secret in read-only service: `file` is the sole supported option"), so
// variables of read_only services are reported, not moved, and file
// secrets a read_only service uses stay file secrets.

// reservedPrefixes and reservedVars are the variables docker, compose,
// buildx, the Azure credential chain, the dynamic linker and the shell
// read: a secret's variable never takes one of them.
var (
	reservedPrefixes = []string{"COMPOSE_", "DOCKER_", "BUILDKIT_", "BUILDX_", "AZURE_", "MSI_", "IDENTITY_", "LC_", "LD_", "DYLD_", "XDG_", "SSH_", "GIT_", "OTEL_", "BASH_FUNC_"}
	reservedVars     = map[string]bool{
		"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true, "PWD": true, "OLDPWD": true,
		"TMPDIR": true, "TMP": true, "TEMP": true, "TERM": true, "LANG": true, "LANGUAGE": true, "TZ": true,
		"HOSTNAME": true, "IFS": true, "ENV": true, "BASH_ENV": true, "CDPATH": true, "PS1": true, "PS2": true,
		"PS4": true, "MAIL": true, "DISPLAY": true, "EDITOR": true, "VISUAL": true, "PAGER": true, "SHLVL": true,
		"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true, "ALL_PROXY": true, "FTP_PROXY": true,
		"IDENTITY_ENDPOINT": true, "IMDS_ENDPOINT": true,
	}
)

// reservedVar tells whether name is a variable the tools around compose
// read.
func reservedVar(name string) bool {
	if reservedVars[name] {
		return true
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// variableBase is the variable a secret's name gives before any clash.
func variableBase(secret string) string {
	b := []byte(strings.ToUpper(secret))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	s := string(b)
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "SECRET_" + s
	}
	return s
}

// Variables names the variables of environment-sourced secrets: each
// secret gets variableBase (SECRET_ in front when reserved), or the first
// of BASE_SECRET, BASE_SECRET_2, ... that is not taken (avoided, or another
// secret's).
type Variables struct {
	avoid    map[string]bool
	bySecret map[string]string
	taken    map[string]bool
}

// NewVariables names variables avoiding the given ones.
func NewVariables(avoid map[string]bool) *Variables {
	return &Variables{avoid: avoid, bySecret: map[string]string{}, taken: map[string]bool{}}
}

// For is the variable of secret, the same on every call.
func (v *Variables) For(secret string) string {
	if name, ok := v.bySecret[secret]; ok {
		return name
	}
	base, name := variableBase(secret), ""
	if !reservedVar(base) {
		name = v.pick(base)
	}
	if name == "" {
		// SECRET_ is never reserved: DOCKER_PASSWORD -> SECRET_DOCKER_PASSWORD.
		name = v.pick("SECRET_" + base)
	}
	v.bySecret[secret], v.taken[name] = name, true
	return name
}

// pick is the first of base, base_SECRET, base_SECRET_2, ... that is not
// taken, "" when one is reserved (LC + _SECRET is LC_SECRET, a locale).
func (v *Variables) pick(base string) string {
	name := base
	for n := 1; v.avoid[name] || v.taken[name]; n++ {
		name = base + "_SECRET"
		if n > 1 {
			name += "_" + strconv.Itoa(n)
		}
		if reservedVar(name) {
			return ""
		}
	}
	return name
}

// UsedVariables are the variables the project uses (see above) once the
// compose and env files in rewritten (by path) replace theirs.
func UsedVariables(p *compose.Project, rewritten map[string][]byte) (map[string]bool, error) {
	used := map[string]bool{}
	for _, f := range p.Files {
		content, ok := rewritten[f.Path]
		if !ok {
			content = f.Content
		}
		dec := yaml.NewDecoder(bytes.NewReader(content))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				// Never the parser's message: it may quote a value.
				return nil, fmt.Errorf("%s: cannot read the variables it uses", f.Path)
			}
			for name := range template.ExtractVariables(doc, template.DefaultPattern) {
				used[name] = true
			}
			serviceKeys(doc, used)
		}
	}
	for _, ef := range p.EnvFiles {
		if ef.Missing {
			continue
		}
		content, ok := rewritten[ef.Path]
		if !ok {
			content = ef.Content
		}
		e, err := yamledit.ParseEnvFile(ef.Path, content)
		if err != nil {
			return nil, fmt.Errorf("%s: cannot read the variables it uses", ef.Path)
		}
		for _, k := range e.Keys() {
			used[k] = true
		}
		for name := range template.ExtractVariables(map[string]any{"": string(content)}, template.DefaultPattern) {
			used[name] = true
		}
	}
	if c := p.Compose; c != nil {
		for _, s := range c.Secrets {
			if s.Environment != "" {
				used[s.Environment] = true
			}
		}
		for _, s := range c.Configs {
			if s.Environment != "" {
				used[s.Environment] = true
			}
		}
	}
	return used, nil
}

// serviceKeys adds the keys of every service's environment: and build
// args: in a decoded compose document.
func serviceKeys(doc map[string]any, used map[string]bool) {
	services, _ := doc["services"].(map[string]any)
	for _, s := range services {
		svc, _ := s.(map[string]any)
		build, _ := svc["build"].(map[string]any)
		for _, entries := range []any{svc["environment"], build["args"]} {
			switch m := entries.(type) {
			case map[string]any:
				for k := range m {
					used[k] = true
				}
			case []any:
				for _, e := range m {
					if s, ok := e.(string); ok {
						k, _, _ := strings.Cut(s, "=")
						used[k] = true
					}
				}
			}
		}
	}
}

// clashes are the plan's variables the rewritten project uses, sorted.
func (p *Plan) clashes(proj *compose.Project) ([]string, error) {
	if len(p.Variables) == 0 {
		return nil, nil
	}
	used, err := UsedVariables(proj, p.overlay())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range p.Variables {
		if used[v] {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out, nil
}

// readOnlyServices are the project's read_only services (those of inactive
// profiles too), by name.
func readOnlyServices(p *types.Project) map[string]bool {
	out := map[string]bool{}
	for _, svcs := range []types.Services{p.Services, p.DisabledServices} {
		for name, s := range svcs {
			if s.ReadOnly {
				out[name] = true
			}
		}
	}
	return out
}

// readOnlyCheck is why a finding cannot move into an environment secret:
// its service is read_only, or it comes from an env file a read_only
// service reads too (its line would change for that service as well).
// Compose refuses to copy a secret into a read-only container.
func (pl *planner) readOnlyCheck(f compose.Finding) error {
	if pl.opts.To != ToEnvironment {
		return nil
	}
	ro := readOnlyServices(pl.p.Compose)
	if ro[f.Service] {
		return cannotEdit{fmt.Sprintf("not rewritten: service %s is read_only, and compose cannot copy an environment secret into a read-only container: use --to file, or drop read_only", f.Service)}
	}
	if f.Source.Kind != compose.SourceEnvFile {
		return nil
	}
	names := make([]string, 0, len(ro))
	for n := range ro {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		svc, ok := pl.p.Compose.Services[n]
		if !ok {
			svc = pl.p.Compose.DisabledServices[n]
		}
		if slices.ContainsFunc(svc.EnvFiles, func(ef types.EnvFile) bool { return sameFile(ef.Path, f.Source.Position.File) }) {
			return cannotEdit{fmt.Sprintf("not rewritten: %s is also read by service %s, which is read_only: compose cannot copy an environment secret into a read-only container", f.Source.Position.File, n)}
		}
	}
	return nil
}

// KeepForReadOnly is the reason a file secret stays one under --to
// environment: a read_only service uses it ("" when none does).
func KeepForReadOnly(p *types.Project, secret string) string {
	ro := readOnlyServices(p)
	var users []string
	for _, svcs := range []types.Services{p.Services, p.DisabledServices} {
		for name, s := range svcs {
			if !ro[name] {
				continue
			}
			for _, ref := range s.Secrets {
				if ref.Source == secret {
					users = append(users, name)
				}
			}
		}
	}
	if len(users) == 0 {
		return ""
	}
	sort.Strings(users)
	return fmt.Sprintf("file secret %s stays a file secret: service %s is read_only, and compose cannot copy an environment secret into a read-only container", secret, strings.Join(users, ", "))
}

func sameFile(a, b string) bool { return filepath.Clean(a) == filepath.Clean(b) }
