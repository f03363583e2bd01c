package compose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v3"
)

// Verdict is whether a value is a secret.
type Verdict string

const (
	VerdictSecret    Verdict = "secret"
	VerdictNotSecret Verdict = "not-secret"
	// VerdictFileRef: the value points at a secret file (or names a
	// secret); it is already migrated and must be left alone.
	VerdictFileRef Verdict = "file-ref"
)

// Action is what migrate should do with a finding.
type Action string

const (
	// ActionMigrate: move the value into a compose secret and switch the
	// variable to FileVariable.
	ActionMigrate Action = "migrate"
	// ActionReport: a secret the tool cannot move safely (no file variant,
	// embedded in a larger value, in a Dockerfile or a healthcheck): tell
	// the user why, change nothing.
	ActionReport Action = "report"
	// ActionSkip: not a secret, or already a file reference.
	ActionSkip Action = "skip"
)

// Finding is one variable (or one copy of a secret) and what to do with it.
// Value is never printed: String, GoString and JSON leave it out.
type Finding struct {
	Service  string `json:"service"`
	Variable string `json:"variable"`
	// Image is the service's image as written ("" when it only builds).
	Image  string `json:"image,omitempty"`
	Source Source `json:"source"`
	// Value is the final value (after interpolation and env_file), or the
	// copy found in a healthcheck/command, or an ARG/ENV default.
	Value []byte `json:"-"`
	// Unset: a pass-through whose variable is set nowhere.
	Unset   bool    `json:"unset,omitempty"`
	Verdict Verdict `json:"verdict"`
	Action  Action  `json:"action"`
	// Reason explains the verdict and the action; it never holds the value.
	Reason string `json:"reason,omitempty"`
	// SecretName is the compose secret proposed for the value, shared by
	// every variable that holds the same value.
	SecretName string `json:"secret_name,omitempty"`
	// FileVariable is the variable the image reads the secret from instead
	// (POSTGRES_PASSWORD_FILE, GF_SECURITY_ADMIN_PASSWORD__FILE), and
	// FileVariableKind what its value must be (a path or a secret name).
	FileVariable     string      `json:"file_variable,omitempty"`
	FileVariableKind FileVarKind `json:"file_variable_kind,omitempty"`
	// Embedded: the credential is part of a larger value (URL, DSN,
	// connection string, command line, healthcheck).
	Embedded bool `json:"embedded,omitempty"`
}

func (f Finding) String() string {
	s := f.Service + " " + f.Variable + ": " + string(f.Verdict) + ", " + string(f.Action)
	if f.SecretName != "" {
		s += " as " + f.SecretName
	}
	if f.FileVariable != "" {
		s += " via " + f.FileVariable
	}
	return s + " (" + f.Source.String() + ")"
}

// GoString keeps %#v from printing Value.
func (f Finding) GoString() string { return "compose.Finding{" + f.String() + "}" }

// Secret is one value that becomes one compose secret.
type Secret struct {
	Name  string `json:"name"`
	Value []byte `json:"-"`
	// Users are "service.VARIABLE" (or "service.healthcheck.test", ...).
	Users []string `json:"users"`
	// Migrate: at least one user is migrated, so the secret is declared.
	Migrate bool `json:"migrate"`
}

func (s Secret) String() string {
	return s.Name + " (" + strings.Join(s.Users, ", ") + ")"
}

// GoString keeps %#v from printing Value.
func (s Secret) GoString() string { return "compose.Secret{" + s.String() + "}" }

// Report is the outcome of Detect.
type Report struct {
	ProjectDir string `json:"project_dir"`
	// Findings are ordered by service (in the order services are first
	// defined across the files read), then environment, build args,
	// Dockerfile, healthcheck and command, then position and name.
	Findings []Finding `json:"findings"`
	Secrets  []Secret  `json:"secrets,omitempty"`
	// Warnings are things that could not be checked (a Dockerfile that
	// cannot be read) and x-vault entries that matched nothing.
	Warnings []string `json:"warnings,omitempty"`
}

// DetectOptions adds to what the project's x-vault says, e.g. from
// command-line flags.
type DetectOptions struct {
	Include []string
	Exclude []string
}

// kindRank orders findings of one service.
var kindRank = map[SourceKind]int{
	SourceLiteral: 0, SourceInterpolated: 0, SourcePassThrough: 0, SourceEnvFile: 0, SourceUnknown: 0,
	SourceBuildArg: 1, SourceDockerfile: 2, SourceHealthcheck: 3, SourceCommand: 4,
}

type detector struct {
	p *Project
	// m is what Detect reads of the compose-go model: facts(p.Compose).
	m        *types.Project
	cfg      VaultConfig
	r        *Report
	svcOrder map[string]int
	used     map[string]bool // x-vault entries that matched
	// plain holds each service's non-secret values (user and database
	// names), which a weak password may equal in a command line.
	plain map[string]map[string]bool
}

// Detect finds the secrets a loaded project holds and decides, for each,
// whether migrate can move it. It reads nothing: Load read the files.
func Detect(p *Project, opts DetectOptions) (*Report, error) {
	m := facts(p.Compose)
	cfg, err := ParseVaultConfig(m.Extensions["x-vault"])
	if err != nil {
		return nil, err
	}
	cfg.Include = append(cfg.Include, opts.Include...)
	cfg.Exclude = append(cfg.Exclude, opts.Exclude...)
	d := &detector{p: p, m: m, cfg: cfg, r: &Report{ProjectDir: m.WorkingDir}, used: map[string]bool{}, plain: map[string]map[string]bool{}}

	names := d.orderServices()
	n := 0
	for _, s := range m.Services {
		n += len(s.Environment)
	}
	d.r.Findings = make([]Finding, 0, n)
	layers := make(map[string][]layer, len(names))
	for _, name := range names {
		layers[name] = p.layers(name)
		d.environment(name, m.Services[name], layers[name])
		d.buildArgs(name, m.Services[name], layers[name])
	}
	d.dockerfiles()
	// Copies in commands are found by value, so they need every secret
	// value of the project first.
	known := map[string]bool{}
	for _, f := range d.r.Findings {
		if f.Verdict == VerdictSecret && len(f.Value) >= 4 && !f.Embedded {
			known[string(f.Value)] = true
		}
	}
	for _, name := range names {
		d.commands(name, m.Services[name], layers[name], known)
	}
	// Sorted before naming, so which value gets a contested name does not
	// depend on map order.
	sort.SliceStable(d.r.Findings, func(i, j int) bool { return d.less(d.r.Findings[i], d.r.Findings[j]) })
	d.name()
	d.unusedEntries()
	if len(m.DisabledServices) > 0 {
		off := make([]string, 0, len(m.DisabledServices))
		for name := range m.DisabledServices {
			off = append(off, name)
		}
		sort.Strings(off)
		d.r.Warnings = append(d.r.Warnings, "services not checked (their profiles are not active): "+strings.Join(off, ", ")+"; load with profile \"*\" to check every service")
	}
	return d.r, nil
}

// orderServices sorts services by where they are first defined.
func (d *detector) orderServices() []string {
	type key struct {
		file, line int
		name       string
	}
	keys := make([]key, 0, len(d.m.Services))
	for name := range d.m.Services {
		k := key{file: len(d.p.Files), name: name}
		// The first file, in load order, that names the service.
		for i, f := range d.p.Files {
			if defs := d.p.index(f)[name]; len(defs) > 0 {
				k.file, k.line = i, defs[0].node.Line
				break
			}
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.file != b.file {
			return a.file < b.file
		}
		if a.line != b.line {
			return a.line < b.line
		}
		return a.name < b.name
	})
	d.svcOrder = make(map[string]int, len(keys))
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
		d.svcOrder[k.name] = i
	}
	return names
}

func (d *detector) less(a, b Finding) bool {
	if a.Service != b.Service {
		return d.svcOrder[a.Service] < d.svcOrder[b.Service]
	}
	if kindRank[a.Source.Kind] != kindRank[b.Source.Kind] {
		return kindRank[a.Source.Kind] < kindRank[b.Source.Kind]
	}
	if a.Source.Position.File != b.Source.Position.File {
		return d.fileRank(a.Source.Position.File) < d.fileRank(b.Source.Position.File)
	}
	if a.Source.Position.Line != b.Source.Position.Line {
		return a.Source.Position.Line < b.Source.Position.Line
	}
	return a.Variable < b.Variable
}

func (d *detector) fileRank(path string) int {
	for i, f := range d.p.Files {
		if f.Path == path {
			return i
		}
	}
	for i, f := range d.p.EnvFiles {
		if f.Path == path {
			return len(d.p.Files) + i
		}
	}
	return len(d.p.Files) + len(d.p.EnvFiles)
}

func (d *detector) included(service, variable string) bool {
	return d.match(d.cfg.Include, service, variable)
}

func (d *detector) excluded(service, variable string) bool {
	return d.match(d.cfg.Exclude, service, variable)
}

func (d *detector) match(entries []string, service, variable string) bool {
	hit := false
	for _, e := range entries {
		if matches([]string{e}, service, variable) {
			d.used[e] = true
			hit = true
		}
	}
	return hit
}

// judge applies the rules and x-vault to one variable.
func (d *detector) judge(f *Finding) valueRule {
	rule := classify(f.Variable, string(f.Value))
	switch {
	case d.excluded(f.Service, f.Variable):
		rule = valueRule{verdict: VerdictNotSecret, reason: "excluded by x-vault"}
	case d.included(f.Service, f.Variable):
		if rule.verdict == VerdictSecret {
			rule.reason += "; included by x-vault"
		} else {
			rule = valueRule{verdict: VerdictSecret, reason: "included by x-vault", embedded: rule.embedded}
		}
		rule.weak = false
	}
	f.Verdict, f.Reason, f.Embedded = rule.verdict, rule.reason, rule.embedded
	return rule
}

func (d *detector) environment(name string, svc types.ServiceConfig, layers []layer) {
	env := serviceEnv(layers)
	var envFiles []*EnvFile
	for _, ref := range svc.EnvFiles {
		if ef := d.p.envByPath[ref.Path]; ef != nil {
			envFiles = append(envFiles, ef)
		}
	}
	for variable, v := range svc.Environment {
		f := Finding{Service: name, Variable: variable, Image: svc.Image, Source: d.p.traceEnv(env, envFiles, variable)}
		if v != nil {
			f.Value = []byte(*v)
		} else {
			f.Unset = true
		}
		rule := d.judge(&f)
		d.decide(&f, rule, svc)
		if f.Verdict == VerdictNotSecret && len(f.Value) > 0 {
			if d.plain[name] == nil {
				d.plain[name] = map[string]bool{}
			}
			d.plain[name][string(f.Value)] = true
		}
		d.r.Findings = append(d.r.Findings, f)
	}
}

// imageDesc names the image in reasons.
func imageDesc(svc types.ServiceConfig) string {
	if svc.Image != "" {
		return "image " + NormalizeImage(svc.Image)
	}
	return "the image service " + svc.Name + " builds"
}

// decide turns a verdict into an action.
func (d *detector) decide(f *Finding, rule valueRule, svc types.ServiceConfig) {
	if f.Verdict != VerdictSecret {
		f.Action = ActionSkip
		return
	}
	f.Action = ActionReport
	fs, ok, explicit := d.cfg.fileSupport(f.Service, svc.Image, f.Variable)
	img := imageDesc(svc)
	switch {
	case rule.weak:
		f.Reason += "; not migrated on a guess: list it in x-vault include to migrate it"
	case f.Unset:
		f.Reason += "; no value is set anywhere (pass-through of an unset variable): nothing to move"
	case len(f.Value) == 0:
		f.Reason += "; the value is empty: set it, then migrate"
	case !ok:
		switch {
		case explicit:
			f.Reason += "; x-vault says " + img + " has no file variant for " + f.Variable
		case f.Embedded:
			f.Reason += "; the credential is part of a larger value and " + img + " does not read " + f.Variable + "_FILE: the value stays, the app must take the password on its own"
		default:
			f.Reason += "; " + img + " does not read " + f.Variable + "_FILE; the variable stays"
		}
		if h := builtinHint(svc.Image, f.Variable); h != "" {
			f.Reason += " (" + h + ")"
		}
	default:
		f.Action = ActionMigrate
		f.FileVariable, f.FileVariableKind = fs.Variable, fs.Kind
		how := "reads " + fs.Variable
		if fs.Kind == FileVarName {
			how += " (a secret name, not a path)"
		}
		if fs.Source == "x-vault" {
			how += " per x-vault"
		}
		f.Reason += "; " + img + " " + how
	}
}

func (d *detector) buildArgs(name string, svc types.ServiceConfig, layers []layer) {
	if svc.Build == nil {
		return
	}
	file, node, _ := lastField(layers, "build", "args")
	for arg, v := range svc.Build.Args {
		f := Finding{Service: name, Variable: arg, Image: svc.Image, Source: Source{Kind: SourceBuildArg, Field: "build.args"}}
		if v != nil {
			f.Value = []byte(*v)
		} else {
			f.Unset = true
		}
		if file != nil {
			f.Source.Position = argPosition(file, node, arg)
		}
		if d.judge(&f); f.Verdict != VerdictSecret {
			continue // build args are only listed when they matter
		}
		f.Action = ActionReport
		f.Reason += "; build args are kept in the image history: pass it as a build secret (build.secrets and RUN --mount=type=secret,id=" + secretName(arg) + ")"
		d.r.Findings = append(d.r.Findings, f)
	}
}

// argPosition finds a build.args entry in its map or list node.
func argPosition(f *File, n *yaml.Node, arg string) Position {
	n, _ = deref(n)
	if n == nil {
		return Position{File: f.Path}
	}
	switch n.Kind {
	case yaml.MappingNode:
		for _, p := range mapPairs(n, false) {
			if p.key.Value == arg {
				return nodePos(f, p.value)
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if it, _ := deref(item); it.Kind == yaml.ScalarNode && (it.Value == arg || strings.HasPrefix(it.Value, arg+"=")) {
				return nodePos(f, it)
			}
		}
	}
	return nodePos(f, n)
}

func (d *detector) dockerfiles() {
	for _, df := range d.p.Dockerfiles {
		if df.Err != "" {
			d.r.Warnings = append(d.r.Warnings, fmt.Sprintf("Dockerfile %s of %s not checked: %s", df.Path, strings.Join(df.Services, ", "), df.Err))
			continue
		}
		vars, err := dockerfileVars(df.Content)
		if err != nil {
			d.r.Warnings = append(d.r.Warnings, fmt.Sprintf("Dockerfile %s of %s not checked: %v", df.Path, strings.Join(df.Services, ", "), err))
			continue
		}
		service := df.Services[0]
		for _, v := range vars {
			why := ""
			if buildkitSecretName(v.key) {
				why = "name matches BuildKit's SecretsUsedInArgOrEnv rule"
			}
			if what, _, ok := tokenShape(v.value); ok && v.hasValue {
				why = "value holds " + what
			}
			if why == "" {
				continue
			}
			f := Finding{
				Service:  service,
				Variable: v.key,
				Image:    d.m.Services[service].Image,
				Source:   Source{Kind: SourceDockerfile, Field: v.instr, Position: Position{File: df.Path, Line: v.lines[0], Column: 1}},
				Verdict:  VerdictSecret,
				Action:   ActionReport,
			}
			if df.Inline {
				f.Source.Position.Line += df.Line - 1
				f.Source.Position.Column = 0
			}
			if v.hasValue {
				f.Value = []byte(v.value)
			}
			if d.excluded(service, v.key) {
				f.Verdict, f.Action, f.Reason = VerdictNotSecret, ActionSkip, "excluded by x-vault"
				d.r.Findings = append(d.r.Findings, f)
				continue
			}
			f.Reason = v.instr + " " + why
			if len(v.lines) > 1 {
				f.Reason += fmt.Sprintf(" (set %d times)", len(v.lines))
			}
			if len(df.Services) > 1 {
				f.Reason += "; built by " + strings.Join(df.Services, ", ")
			}
			f.Reason += "; ARG and ENV values are kept in the image and its history: use RUN --mount=type=secret,id=" + secretName(v.key) + " (docker vault build fills it)"
			d.r.Findings = append(d.r.Findings, f)
		}
	}
}

// unusedEntries warns about x-vault include/exclude entries that matched
// nothing: usually a typo that would silently change nothing.
func (d *detector) unusedEntries() {
	for _, list := range [][]string{d.cfg.Include, d.cfg.Exclude} {
		for _, e := range list {
			if !d.used[e] {
				d.r.Warnings = append(d.r.Warnings, "x-vault entry "+e+" matches no variable")
			}
		}
	}
}

// secretName turns a variable name into a compose secret name:
// MYSQL_ROOT_PASSWORD -> mysql_root_password.
func secretName(variable string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(variable) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			under = false
			continue
		}
		if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	s := b.String()
	// A synced swarm secret is named <name>_<8 hex>, at most 64 characters.
	if len(s) > maxSecretName {
		s = s[:maxSecretName]
	}
	s = strings.TrimRight(s, "_")
	if s == "" {
		return "secret"
	}
	return s
}

const maxSecretName = 64 - len("_01234567")

// name gives every secret value one compose secret name, shared by all the
// variables that hold it, and tells each finding who else holds it.
func (d *detector) name() {
	type group struct {
		key      string
		members  []int
		name     string
		migrate  bool
		firstSvc string
	}
	groups := map[string]*group{}
	var order []*group
	for i := range d.r.Findings {
		f := &d.r.Findings[i]
		if f.Verdict != VerdictSecret || f.Source.Kind == SourceHealthcheck || f.Source.Kind == SourceCommand {
			continue
		}
		key := groupKey(f)
		g := groups[key]
		if g == nil {
			g = &group{key: key, firstSvc: f.Service}
			groups[key] = g
			order = append(order, g)
		}
		g.members = append(g.members, i)
		if f.Action == ActionMigrate {
			g.migrate = true
		}
	}

	taken := map[string]bool{}
	for name := range d.m.Secrets {
		taken[name] = true
	}
	for _, g := range order {
		g.name = d.pickName(g.members, g.firstSvc, taken)
		taken[g.name] = true
	}

	// The group of each value, to link embedded credentials and command
	// copies to it; a value-keyed group wins over a reference-keyed one.
	byValue := map[string]*group{}
	for _, g := range order {
		f := d.r.Findings[g.members[0]]
		if v := string(f.Value); v != "" {
			if prev := byValue[v]; prev == nil || (strings.HasPrefix(g.key, "v\x00") && !strings.HasPrefix(prev.key, "v\x00")) {
				byValue[v] = g
			}
		}
	}
	for _, g := range order {
		users := make([]string, 0, len(g.members))
		for _, i := range g.members {
			f := &d.r.Findings[i]
			f.SecretName = g.name
			users = append(users, f.Service+"."+f.Variable)
		}
		for _, i := range g.members {
			f := &d.r.Findings[i]
			if others := without(users, f.Service+"."+f.Variable); len(others) > 0 {
				f.Reason += "; same value as " + list(others)
			}
			if pw, ok := urlPassword(string(f.Value)); ok && f.Embedded {
				if pg := byValue[pw]; pg != nil && pg != g {
					f.Reason += "; the password inside is the value of secret " + pg.name
				}
			}
		}
		d.r.Secrets = append(d.r.Secrets, Secret{Name: g.name, Value: d.r.Findings[g.members[0]].Value, Users: users, Migrate: g.migrate})
	}

	// Copies in commands point at the secret they copy.
	for i := range d.r.Findings {
		f := &d.r.Findings[i]
		if f.Source.Kind != SourceHealthcheck && f.Source.Kind != SourceCommand {
			continue
		}
		if g := byValue[string(f.Value)]; len(f.Value) > 0 && g != nil {
			f.SecretName = g.name
			f.Reason += "; copy of secret " + g.name
			for k := range d.r.Secrets {
				if d.r.Secrets[k].Name == g.name {
					d.r.Secrets[k].Users = append(d.r.Secrets[k].Users, f.Service+"."+f.Variable)
				}
			}
		}
	}
}

// groupKey decides which findings share a secret. Equal values do: a
// password copied into two services is one secret. A value interpolated
// from one .env, --env-file or shell variable (or passed through) is keyed
// by that variable instead: two .env entries that happen to be equal
// (POSTGRES_PW=changeit, PGADMIN_PW=changeit) are two secrets the author
// declared separately. Empty and unset values are separate slots.
func groupKey(f *Finding) string {
	if len(f.Value) == 0 {
		return "s\x00" + f.Service + "\x00" + string(f.Source.Kind) + "\x00" + f.Variable
	}
	src := f.Source
	if len(src.Refs) == 1 && (src.Kind == SourcePassThrough || (src.Kind == SourceInterpolated && src.SingleRef)) {
		switch src.Refs[0].Origin {
		case OriginDotEnv, OriginEnvFile, OriginShell, OriginInclude:
			return "r\x00" + src.Refs[0].Name
		}
	}
	return "v\x00" + string(f.Value)
}

// pickName chooses the name of a group: the most common variable name
// among its members, then the shortest, then the first alphabetically;
// prefixed with the service, then numbered, when already taken.
func (d *detector) pickName(members []int, service string, taken map[string]bool) string {
	count := map[string]int{}
	for _, i := range members {
		count[secretName(d.r.Findings[i].Variable)]++
	}
	best := ""
	for n, c := range count {
		switch {
		case best == "",
			c > count[best],
			c == count[best] && len(n) < len(best),
			c == count[best] && len(n) == len(best) && n < best:
			best = n
		}
	}
	if !taken[best] {
		return best
	}
	if n := secretName(service) + "_" + best; !taken[n] {
		return n
	}
	for i := 2; ; i++ {
		if n := fmt.Sprintf("%s_%d", best, i); !taken[n] {
			return n
		}
	}
}

func without(l []string, s string) []string {
	var out []string
	for _, e := range l {
		if e != s {
			out = append(out, e)
		}
	}
	return out
}

// list shortens a list of users for a reason.
func list(l []string) string {
	if len(l) > 3 {
		return strings.Join(l[:3], ", ") + fmt.Sprintf(" and %d more", len(l)-3)
	}
	return strings.Join(l, ", ")
}
