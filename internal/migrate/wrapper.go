package migrate

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/imageinfo"
	"github.com/docker-vault/docker-vault/internal/yamledit"
	"go.yaml.in/yaml/v3"
)

// The entrypoint wrapper. An image that reads a secret only from its
// environment still loses the literal: the value becomes a compose secret,
// and the service's start is wrapped in /bin/sh, which exports the variable
// from /run/secrets/<secret> and execs what the container would have run:
//
//	entrypoint: ["/bin/sh", "-c", SCRIPT, "sh", <the wrapped entrypoint...>]
//	command: <the image's CMD, when the service had no command: of its own>
//
// compose clears the image's CMD once a service sets entrypoint:, so the
// wrapper restores it as command: unless the service sets entrypoint: or
// command: itself (then compose already ran without the image's CMD, or
// with the service's command). The wrapped entrypoint is the service's own
// entrypoint: when it sets one, else the image's.
//
// The service records what the wrapper was made from, so that a later
// migrate recognises it (a new variable extends it, never wraps it twice)
// and sees when the image changed since:
//
//	x-vault: {wrapper: {image: <ID>, from: image|service, entrypoint: [...], command: [...], variables: {VAR: secret}}}

// wrapperKey is the service-level extension holding the annotation.
const wrapperKey = "x-vault"

// secretFileName is a secret name that is a plain file name under
// /run/secrets, safe in the script without quoting.
var secretFileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// WrapperScript is the script the wrapper runs for vars (variable ->
// secret): each variable is read from its secret file byte for byte and
// exported, then the wrapped command is exec'd with its arguments.
//
// A command substitution strips trailing newlines, so the file is followed
// by a sentinel x that is cut off after; `set -e` makes a missing or
// unreadable file stop the container (the assignment's status is cat's)
// rather than start it with an empty password. The value is never
// expanded again: ${V%x} in an assignment is not split or globbed.
func WrapperScript(vars map[string]string) string { return wrapperScriptIn("/run/secrets", vars) }

// wrapperScriptIn is WrapperScript reading the files from dir, for tests.
func wrapperScriptIn(dir string, vars map[string]string) string {
	names := make([]string, 0, len(vars))
	for v := range vars {
		names = append(names, v)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("set -e; ")
	for _, v := range names {
		fmt.Fprintf(&b, "%s=$(cat %s/%s && printf x); %s=${%s%%x}; export %s; ", v, dir, vars[v], v, v, v)
	}
	b.WriteString(`exec "$@"`)
	return b.String()
}

// wrapperLine is one variable's part of a wrapper script.
var wrapperLine = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=\$\(cat /run/secrets/([A-Za-z0-9][A-Za-z0-9._-]*) && printf x\); ([A-Za-z_][A-Za-z0-9_]*)=\$\{([A-Za-z_][A-Za-z0-9_]*)%x\}; export ([A-Za-z_][A-Za-z0-9_]*); `)

// parseWrapperScript reads the variables (variable -> secret) a script
// WrapperScript wrote exports; ok is false for any other script.
func parseWrapperScript(script string) (map[string]string, bool) {
	rest, ok := strings.CutPrefix(script, "set -e; ")
	if !ok {
		return nil, false
	}
	vars := map[string]string{}
	for rest != `exec "$@"` {
		m := wrapperLine.FindStringSubmatch(rest)
		if m == nil || m[3] != m[1] || m[4] != m[1] || m[5] != m[1] {
			return nil, false
		}
		vars[m[1]] = m[2]
		rest = rest[len(m[0]):]
	}
	return vars, true
}

// wrapper is what a service's wrapper is made from.
type wrapper struct {
	Image string
	// FromService: the wrapped entrypoint is the service's own.
	FromService bool
	Entrypoint  []string
	// Command is the image's CMD the wrapper restores; nil when it
	// restores none.
	Command   []string
	Variables map[string]string
}

// entrypoint is the service's entrypoint: for w.
func (w *wrapper) entrypoint() []string {
	return append([]string{"/bin/sh", "-c", WrapperScript(w.Variables), "sh"}, w.Entrypoint...)
}

// annotation reads the wrapper a service records, nil when it has none.
func annotation(svc types.ServiceConfig) *wrapper {
	x, ok := svc.Extensions[wrapperKey].(map[string]any)
	if !ok {
		return nil
	}
	m, ok := x["wrapper"].(map[string]any)
	if !ok {
		return nil
	}
	w := &wrapper{Variables: map[string]string{}}
	w.Image, _ = m["image"].(string)
	w.FromService = m["from"] == "service"
	w.Entrypoint = stringList(m["entrypoint"])
	if _, ok := m["command"]; ok {
		w.Command = stringList(m["command"])
		if w.Command == nil {
			w.Command = []string{}
		}
	}
	vars, _ := m["variables"].(map[string]any)
	for k, v := range vars {
		if s, ok := v.(string); ok {
			w.Variables[k] = s
		}
	}
	return w
}

func stringList(v any) []string {
	l, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(l))
	for _, it := range l {
		s, _ := it.(string)
		out = append(out, s)
	}
	return out
}

// dollar writes s for a compose file: compose and docker stack deploy both
// interpolate, and $$ is a literal $.
func dollar(s string) string { return strings.ReplaceAll(s, "$", "$$") }

func dollars(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = dollar(s)
	}
	return out
}

// node is the annotation as written.
func (w *wrapper) node() *yaml.Node {
	vars := yamledit.Map()
	names := make([]string, 0, len(w.Variables))
	for v := range w.Variables {
		names = append(names, v)
	}
	sort.Strings(names)
	for _, v := range names {
		vars.Content = append(vars.Content, yamledit.Str(v, false), yamledit.Str(w.Variables[v], false))
	}
	from := "image"
	if w.FromService {
		from = "service"
	}
	kv := []any{"image", yamledit.Str(w.Image, true), "from", from, "entrypoint", yamledit.Seq(dollars(w.Entrypoint), true)}
	if w.Command != nil {
		kv = append(kv, "command", yamledit.Seq(dollars(w.Command), true))
	}
	kv = append(kv, "variables", vars)
	return yamledit.Map("wrapper", yamledit.Map(kv...))
}

// wrapState is a service's wrapper as the project has it, and as it must
// be.
type wrapState struct {
	current *wrapper
	// wrapped: the service's entrypoint: is current's wrapper.
	wrapped bool
	want    *wrapper
	// setCommand: command: must be want.Command (nil: removed).
	setCommand bool
}

// wrapperOf works out the wrapper a service needs for vars (added to what
// its annotation records), with its image img.
func wrapperOf(svc types.ServiceConfig, img *imageinfo.Image, vars map[string]string) *wrapState {
	st := &wrapState{current: annotation(svc)}
	want := &wrapper{Image: img.ID, Variables: map[string]string{}}
	if st.current != nil {
		for k, v := range st.current.Variables {
			want.Variables[k] = v
		}
		st.wrapped = len(svc.Entrypoint) >= 4 && slices.Equal(svc.Entrypoint[:4], st.current.entrypoint()[:4])
	}
	// A wrapper whose annotation was edited or lost is still a wrapper:
	// recognised by its script, never wrapped twice. The variables it
	// exports stay.
	scripted := false
	if !st.wrapped && len(svc.Entrypoint) >= 4 && svc.Entrypoint[0] == "/bin/sh" && svc.Entrypoint[1] == "-c" && svc.Entrypoint[3] == "sh" {
		if sv, ok := parseWrapperScript(svc.Entrypoint[2]); ok {
			scripted = true
			for k, v := range sv {
				want.Variables[k] = v
			}
		}
	}
	for k, v := range vars {
		want.Variables[k] = v
	}
	switch {
	case scripted:
		want.FromService = st.current == nil || st.current.FromService
		if want.FromService {
			want.Entrypoint = slices.Clone(svc.Entrypoint[4:])
		} else {
			want.Entrypoint = slices.Clone(img.Entrypoint)
		}
	case st.wrapped:
		want.FromService = st.current.FromService
		if want.FromService {
			want.Entrypoint = slices.Clone(svc.Entrypoint[4:])
		} else {
			want.Entrypoint = slices.Clone(img.Entrypoint)
		}
	case svc.Entrypoint != nil:
		want.FromService, want.Entrypoint = true, slices.Clone(svc.Entrypoint)
	default:
		want.Entrypoint = slices.Clone(img.Entrypoint)
	}
	if !want.FromService {
		// The service's command: is its own unless it is the one the
		// wrapper restored.
		restored := (st.wrapped || scripted) && st.current != nil && st.current.Command != nil && slices.Equal(svc.Command, st.current.Command)
		if svc.Command == nil || restored {
			st.setCommand = true
			if len(img.Cmd) > 0 {
				want.Command = slices.Clone(img.Cmd)
			}
		}
	}
	if want.Entrypoint == nil {
		want.Entrypoint = []string{}
	}
	st.want = want
	return st
}

// upToDate reports whether the service already runs want's wrapper.
func (st *wrapState) upToDate(svc types.ServiceConfig) bool {
	c, w := st.current, st.want
	if c == nil || !st.wrapped || c.Image != w.Image || c.FromService != w.FromService ||
		!slices.Equal(c.Entrypoint, w.Entrypoint) || !slices.Equal(c.Command, w.Command) || (c.Command == nil) != (w.Command == nil) ||
		len(c.Variables) != len(w.Variables) {
		return false
	}
	for k, v := range w.Variables {
		if c.Variables[k] != v {
			return false
		}
	}
	if !slices.Equal([]string(svc.Entrypoint), w.entrypoint()) {
		return false
	}
	return !st.setCommand || slices.Equal([]string(svc.Command), w.Command) && (svc.Command == nil) == (w.Command == nil)
}

// canWrap says why a service's variable cannot be exported by a wrapper,
// or nil.
func (pl *planner) canWrap(f compose.Finding) (*imageinfo.Image, error) {
	info, ok := pl.r.Images[f.Service]
	switch {
	case !ok || (info.Image == nil && info.Err == nil):
		return nil, cannotEdit{fmt.Sprintf("not wrapped: the image of service %s was not read, and the wrapper needs its entrypoint", f.Service)}
	case info.Image == nil:
		return nil, cannotEdit{fmt.Sprintf("not wrapped: the image of service %s cannot be read: %v", f.Service, info.Err)}
	case !info.Image.Shell:
		return nil, cannotEdit{fmt.Sprintf("not wrapped: image %s has no /bin/sh to run the wrapper (distroless or scratch?); the variable stays", f.Image)}
	case !compose.ShellName(f.Variable):
		return nil, cannotEdit{fmt.Sprintf("not wrapped: %s is not a shell variable name, which the wrapper cannot export", f.Variable)}
	case !secretFileName.MatchString(f.SecretName):
		return nil, cannotEdit{fmt.Sprintf("not wrapped: secret name %q is not a plain file name", f.SecretName)}
	}
	// Checked before any edit, so that a refusal leaves the finding
	// untouched (in a batch, a half-made finding restarts the whole plan).
	if err := pl.ownXVault(f.Service); err != nil {
		return nil, err
	}
	svc := pl.p.Compose.Services[f.Service]
	if err := startsSomething(f, wrapperOf(svc, info.Image, map[string]string{f.Variable: f.SecretName}), svc); err != nil {
		return nil, err
	}
	return info.Image, nil
}

// wrapFile is the compose file a service's wrapper is written in: the last
// file of the project that defines the service (later files override
// earlier ones' entrypoint:), an included one when the service is there.
func (pl *planner) wrapFile(service string) (*yamledit.Doc, error) {
	for i := len(pl.p.Files) - 1; i >= 0; i-- {
		f := pl.p.Files[i]
		if f.Role != compose.RoleMain && f.Role != compose.RoleInclude {
			continue
		}
		d, err := pl.doc(f.Path)
		if err != nil || d.Node("services", service) == nil {
			continue
		}
		return d, nil
	}
	return nil, cannotEdit{fmt.Sprintf("not wrapped: service %s is not defined in a compose file of the project (extends?)", service)}
}

// ownXVault refuses a service with an x-vault of its own (other than the
// wrapper's record), which the wrapper's record would replace.
func (pl *planner) ownXVault(service string) error {
	x, ok := pl.p.Compose.Services[service].Extensions[wrapperKey]
	if !ok {
		return nil
	}
	m, isMap := x.(map[string]any)
	for k := range m {
		if k != "wrapper" {
			isMap = false
		}
	}
	if !isMap {
		return cannotEdit{fmt.Sprintf("not wrapped: service %s has an %s of its own, where migrate records the wrapper: move it", service, wrapperKey)}
	}
	return nil
}

// writeWrapper writes the wrapper of st into the service.
func (pl *planner) writeWrapper(service string, st *wrapState) error {
	if err := pl.ownXVault(service); err != nil {
		return err
	}
	d, err := pl.wrapFile(service)
	if err != nil {
		return err
	}
	if err := d.SetServiceKey(service, "entrypoint", yamledit.Seq(dollars(st.want.entrypoint()), true)); err != nil {
		return notRewritten(err)
	}
	if st.setCommand {
		var cmd *yaml.Node
		if st.want.Command != nil {
			cmd = yamledit.Seq(dollars(st.want.Command), true)
		}
		if err := d.SetServiceKey(service, "command", cmd); err != nil {
			return notRewritten(err)
		}
	}
	if err := d.SetServiceKey(service, wrapperKey, st.want.node()); err != nil {
		return notRewritten(err)
	}
	return nil
}

// wrap adds variable (exported from secret) to the service's wrapper,
// writing it whole again. canWrap has checked it can be.
func (pl *planner) wrap(f compose.Finding, img *imageinfo.Image) error {
	vars := pl.wrapVars[f.Service]
	if vars == nil {
		vars = map[string]string{}
		pl.wrapVars[f.Service] = vars
	}
	vars[f.Variable] = f.SecretName
	return pl.writeWrapper(f.Service, wrapperOf(pl.p.Compose.Services[f.Service], img, vars))
}

// startsSomething refuses a wrapper that would exec nothing: exec "$@" of
// no words exits 0, a service that never runs.
func startsSomething(f compose.Finding, st *wrapState, svc types.ServiceConfig) error {
	if st.starts(svc) == 0 {
		return cannotEdit{fmt.Sprintf("not wrapped: neither image %s nor service %s names a program to start (no entrypoint, no cmd, no command:)", f.Image, f.Service)}
	}
	return nil
}

// starts is the number of words the wrapper execs: the wrapped entrypoint
// and the command the service will run.
func (st *wrapState) starts(svc types.ServiceConfig) int {
	if st.setCommand {
		return len(st.want.Entrypoint) + len(st.want.Command)
	}
	return len(st.want.Entrypoint) + len(svc.Command)
}

// refreshWrappers brings the wrappers the project had before up to date
// with their images (those of services given a new variable are already),
// and returns the services whose wrapper was out of date.
func (pl *planner) refreshWrappers() ([]string, []string) {
	var stale, warnings []string
	names := make([]string, 0, len(pl.p.Compose.Services))
	for name := range pl.p.Compose.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		svc := pl.p.Compose.Services[name]
		if annotation(svc) == nil || pl.wrapVars[name] != nil {
			continue
		}
		info := pl.r.Images[name]
		if info.Image == nil {
			continue // nothing to compare with
		}
		if !info.Image.Shell {
			stale = append(stale, name)
			warnings = append(warnings, fmt.Sprintf("service %s: its entrypoint wrapper needs /bin/sh, which image %s no longer has: the service will not start", name, svc.Image))
			continue
		}
		st := wrapperOf(svc, info.Image, nil)
		if st.upToDate(svc) {
			continue
		}
		stale = append(stale, name)
		if err := pl.writeWrapper(name, st); err != nil {
			warnings = append(warnings, fmt.Sprintf("service %s: the entrypoint wrapper is out of date and cannot be refreshed: %v", name, err))
		}
	}
	return stale, warnings
}
