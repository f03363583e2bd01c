package compose

import (
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/internal/imageinfo"
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
	// ActionMigrate: move the value into a compose secret; the variable
	// reaches the process as Finding.Via says (FileVariable, or the
	// entrypoint wrapper).
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
	// Via is how a migrated variable still reaches the process: through
	// FileVariable, or through the entrypoint wrapper migrate writes,
	// which exports the variable from the secret file.
	Via Via `json:"via,omitempty"`
	// Weak: only the value's shape (high entropy) says secret.
	Weak bool `json:"weak,omitempty"`
	// Fix says what to write instead, where the tool cannot: for a
	// Dockerfile ARG or ENV, the RUN --mount=type=secret to use, with the
	// line of each RUN that reads the variable.
	Fix string `json:"fix,omitempty"`
}

// Via is how a migrated variable reaches the process.
type Via string

const (
	// ViaFileVariable: the image reads FileVariable (VAR_FILE).
	ViaFileVariable Via = "file-variable"
	// ViaEntrypoint: the service's start is wrapped in /bin/sh, which
	// exports VAR from /run/secrets/<secret> and execs the image's
	// entrypoint.
	ViaEntrypoint Via = "entrypoint"
)

// ImageInfo is what the engine said of a service's image.
type ImageInfo struct {
	// Image is nil when it could not be read; Err says why.
	Image *imageinfo.Image
	Err   error
}

func (f Finding) String() string {
	s := f.Service + " " + f.Variable + ": " + string(f.Verdict) + ", " + string(f.Action)
	if f.SecretName != "" {
		s += " as " + f.SecretName
	}
	switch {
	case f.FileVariable != "":
		s += " via " + f.FileVariable
	case f.Via == ViaEntrypoint:
		s += " via the entrypoint wrapper"
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
	// Images are the images Detect judged by (DetectOptions.Images).
	Images map[string]ImageInfo `json:"-"`
}

// DetectOptions adds to what the project's x-vault says, e.g. from
// command-line flags.
type DetectOptions struct {
	Include []string
	Exclude []string
	// Images are the services' images as the engine has them, by service
	// name. A read image decides what a variable is read from (its
	// entrypoint scripts' conventions) and whether the entrypoint wrapper
	// can run (/bin/sh); the built-in table only stands in for an image
	// that could not be read or is missing here. nil Images (no reader):
	// the table alone decides and nothing is wrapped.
	Images map[string]ImageInfo
	// NoWrap keeps variables the image cannot read from a file in place
	// (reported) instead of wrapping the service's entrypoint.
	NoWrap bool
	// Extensions also reports the secrets held in x- blocks (scan sets
	// it; migrate does not: it moves nothing out of them).
	Extensions bool
}

// kindRank orders findings of one service.
var kindRank = map[SourceKind]int{
	SourceLiteral: 0, SourceInterpolated: 0, SourcePassThrough: 0, SourceEnvFile: 0, SourceUnknown: 0,
	SourceBuildArg: 1, SourceDockerfile: 2, SourceHealthcheck: 3, SourceCommand: 4, SourceLabel: 5, SourceExtension: 6,
}

type detector struct {
	p *Project
	// m is compose-go's model of the project.
	m        *types.Project
	cfg      VaultConfig
	opts     DetectOptions
	r        *Report
	svcOrder map[string]int
	used     map[string]bool // x-vault entries that matched
	// plain holds each service's non-secret values (user and database
	// names), which a weak password may equal in a command line.
	plain map[string]map[string]bool
	// pending are the environment findings judged, not yet decided.
	pending []pendingEnv
	// copyOf maps a copy (copyKey) to the group key of the secret it
	// copies, so that it shares that secret's name.
	copyOf map[string]string
}

// Detect finds the secrets a loaded project holds and decides, for each,
// whether migrate can move it. It reads nothing: Load read the files.
func Detect(p *Project, opts DetectOptions) (*Report, error) {
	m := p.Compose
	cfg, err := ParseVaultConfig(m.Extensions["x-vault"])
	if err != nil {
		return nil, err
	}
	// cfg keeps x-vault's own include and exclude lists, opts the command
	// line's: reasons and warnings name which one decided.
	d := &detector{p: p, m: m, cfg: cfg, opts: opts, r: &Report{ProjectDir: m.WorkingDir, Images: opts.Images}, used: map[string]bool{}, plain: map[string]map[string]bool{}, copyOf: map[string]string{}}

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
	}
	// Copies are found by value, so they need every secret value of the
	// project first.
	origins := d.copies()
	d.decideEnvironment()
	for _, name := range names {
		d.buildArgs(name, m.Services[name], layers[name], origins)
	}
	d.dockerfiles()
	known := map[string]bool{}
	for _, f := range d.r.Findings {
		if f.Verdict == VerdictSecret && len(f.Value) >= 4 && !f.Embedded {
			known[string(f.Value)] = true
		}
	}
	for _, name := range names {
		d.commands(name, m.Services[name], layers[name], known)
		d.labels(name, m.Services[name], layers[name], origins)
	}
	if opts.Extensions {
		// Last: a value every other source already found is not reported
		// again where an anchor in an x- block holds it.
		d.extensions()
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
		// Top-level x- blocks, of no service, come after the services.
		if a.Service == "" || b.Service == "" {
			return b.Service == ""
		}
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
