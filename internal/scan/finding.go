// Package scan finds secrets where they leak: compose projects (environment,
// .env and env files, build args, x- blocks, commands, healthchecks,
// labels), Dockerfiles, images (config, history and, with values to look
// for, layers), and copies of Key Vault values anywhere it reads. It judges
// with compose's rules (compose.Detect for a project, compose.Judge for one
// name and value): there is no second copy of them here. A Finding never
// holds a value.
package scan

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// Severity is how bad a finding is, in SARIF's words.
type Severity string

const (
	// SeverityError: a secret value is held where it leaks.
	SeverityError Severity = "error"
	// SeverityWarning: only the value's shape says secret (high entropy),
	// or the value is a copy whose origin is unsure.
	SeverityWarning Severity = "warning"
)

// Rule ids. Each names where a value is held; Rules describes them.
const (
	RuleEnvironment  = "environment"   // a service's environment: literal in a compose file
	RuleEnvFile      = "env-file"      // a .env, --env-file or env_file entry
	RuleBuildArg     = "build-arg"     // a service's build.args
	RuleExtension    = "extension"     // an x- block of a compose file
	RuleCommand      = "command"       // a service's command or entrypoint
	RuleHealthcheck  = "healthcheck"   // a service's healthcheck.test
	RuleLabel        = "label"         // a service's labels or deploy.labels
	RuleDockerfile   = "dockerfile"    // a Dockerfile ARG or ENV
	RuleImageEnv     = "image-env"     // an image config's Env
	RuleImageLabel   = "image-label"   // an image config's Labels
	RuleImageHistory = "image-history" // an ARG value baked into the image's history
	RuleImageLayer   = "image-layer"   // a Key Vault value in a file of a layer
	RuleVaultValue   = "vault-value"   // a Key Vault value in a scanned file
)

// Rule is one kind of finding as SARIF and --help describe it.
type Rule struct {
	ID    string
	Name  string // SARIF's name: PascalCase
	Short string // one line
	Help  string // how to fix it, in words (markdown)
}

// Rules lists every rule, in the order reports list them.
var Rules = []Rule{
	{RuleEnvironment, "SecretInEnvironment", "Secret held in a service's environment",
		"Move the value into a compose secret: `docker vault migrate` rewrites the service to read it from `/run/secrets/NAME` (through `VAR_FILE` where the image reads one, else an entrypoint wrapper), and `docker vault push` stores it in Key Vault."},
	{RuleEnvFile, "SecretInEnvFile", "Secret held in a .env or env file",
		"Remove the value from the env file: `docker vault migrate` moves it into a compose secret, and `docker vault run -- docker compose up` or `docker vault up` fills it from Key Vault without a file."},
	{RuleBuildArg, "SecretInBuildArg", "Secret passed as a build argument",
		"Build arguments are kept in the image's history. Use a build secret instead (`build.secrets` in compose, `RUN --mount=type=secret` in the Dockerfile), filled from Key Vault by `docker vault build`."},
	{RuleExtension, "SecretInExtension", "Secret held in an x- block of a compose file",
		"Values in `x-` blocks are committed with the compose file. Move the value into a compose secret and reference the secret instead."},
	{RuleCommand, "SecretInCommand", "Secret on a service's command line",
		"A command line is visible in `docker inspect` and `ps`. Make the program read the secret from `/run/secrets/NAME` (a `--password-file` style flag, or `$(cat /run/secrets/NAME)` in a shell form)."},
	{RuleHealthcheck, "SecretInHealthcheck", "Secret in a service's healthcheck",
		"A healthcheck is visible in `docker inspect`. Read the secret from `/run/secrets/NAME` inside the check (`$(cat /run/secrets/NAME)` in a CMD-SHELL test)."},
	{RuleLabel, "SecretInLabel", "Secret copied into a label",
		"Labels are visible to anyone who can list containers or services. Remove the value from the label."},
	{RuleDockerfile, "SecretInDockerfile", "Secret held in a Dockerfile ARG or ENV",
		"ARG and ENV values are kept in the image's config and history. Remove the ARG/ENV and read the secret in the RUN that needs it: `RUN --mount=type=secret,id=NAME` makes it `/run/secrets/NAME` for that step only; `docker vault build` fills it from Key Vault."},
	{RuleImageEnv, "SecretInImageEnv", "Secret in an image's environment",
		"The value is in the image config, readable by anyone who can pull the image. Rebuild without the ENV (use a build secret), rotate the value, and pass it at run time as a secret."},
	{RuleImageLabel, "SecretInImageLabel", "Secret in an image label",
		"The value is in the image config. Rebuild without it and rotate the value."},
	{RuleImageHistory, "SecretInImageHistory", "Secret baked into an image's history",
		"A build argument used by a RUN step is recorded in the image history. Rebuild with `RUN --mount=type=secret` instead of the ARG, and rotate the value."},
	{RuleImageLayer, "KeyVaultValueInImageLayer", "A Key Vault secret's value is in a file of an image layer",
		"The current value of a Key Vault secret is stored in the image. Rebuild without it (a build secret is never written to a layer), delete the image, and rotate the secret."},
	{RuleVaultValue, "KeyVaultValueInFile", "A Key Vault secret's value is in a file",
		"The current value of a Key Vault secret is in a file of the tree. Remove it, reference the secret instead, and rotate it if the file was ever committed."},
}

// RuleByID returns the rule with id.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// Finding is one secret held where it leaks. It never holds the value.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// File is the file holding the value, slash-separated and relative to
	// the root of the scan (the repository root where there is one), or
	// "" for an image finding outside a layer file.
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`   // 1-based; 0 when unknown
	Column int    `json:"column,omitempty"` // 1-based, in bytes; 0 when unknown
	// Image is the image reference as given to --image.
	Image string `json:"image,omitempty"`
	// Layer is the diff id of the layer holding Path (image-layer), or
	// the history entry ("history 3: RUN ...", masked) for image-history.
	Layer string `json:"layer,omitempty"`
	// Path is the file inside a layer (image-layer); a name that holds a
	// value is masked.
	Path string `json:"path,omitempty"`
	// Service is the compose service (the first one, when a .env line is
	// used by several: Services lists them all).
	Service  string   `json:"service,omitempty"`
	Services []string `json:"services,omitempty"`
	// Variable is the variable, build arg, label or x- key holding it.
	Variable string `json:"variable,omitempty"`
	// Secret is the Key Vault secret whose value was found (vault-value,
	// image-layer), or the compose secret migrate proposes.
	Secret string `json:"secret,omitempty"`
	// Encoding is the form a Key Vault value was found in (redact.Encodings).
	Encoding string `json:"encoding,omitempty"`
	// Message says why it is a secret; it never holds the value.
	Message string `json:"message"`
	// Fix says what to do instead (for a Dockerfile: the RUN
	// --mount=type=secret to use, with its line).
	Fix string `json:"fix"`
	// Fingerprint identifies the finding across runs and line moves: a
	// hash of where it is and what names it (Key), never of the value.
	Fingerprint string `json:"fingerprint"`
	// Suppressed says why the finding does not count: a
	// `# docker-vault:ignore` comment, an x-vault exclude entry, the
	// baseline. Suppressed findings are listed only with --all.
	Suppressed string `json:"suppressed,omitempty"`
}

// Location is where a finding is, as a table shows it: file:line:column,
// or image[:layer path].
func (f Finding) Location() string {
	if f.File != "" {
		s := f.File
		if f.Line > 0 {
			s += ":" + strconv.Itoa(f.Line)
			if f.Column > 0 {
				s += ":" + strconv.Itoa(f.Column)
			}
		}
		return s
	}
	s := f.Image
	if f.Path != "" {
		s += ":" + f.Path
	} else if f.Layer != "" {
		s += " (" + f.Layer + ")"
	}
	return s
}

// key is what the fingerprint hashes: the rule and the names of the
// place, not the line (lines move when a file is edited above them) and
// never the value.
func (f Finding) key() string {
	return strings.Join([]string{f.Rule, f.File, f.Image, f.Path, f.Service, f.Variable, f.Secret, f.Encoding}, "\x00")
}

// SetFingerprints gives every finding its fingerprint: the hash of its key
// and, for findings that share a key (two copies of one value in a file),
// its rank among them in order.
func SetFingerprints(fs []Finding) {
	seen := map[string]int{}
	for i := range fs {
		k := fs[i].key()
		n := seen[k]
		seen[k] = n + 1
		if n > 0 {
			k += "\x00" + strconv.Itoa(n)
		}
		sum := sha256.Sum256([]byte(k))
		fs[i].Fingerprint = hex.EncodeToString(sum[:16])
	}
}

// FileError is a file that could not be read: named, skipped, and the
// scan exits 1 at the end.
type FileError struct {
	File string `json:"file"`
	Err  string `json:"error"` // never holds a value
}

// Result is what one scan found.
type Result struct {
	Findings []Finding
	Errors   []FileError
	// Notes say what was read and how (the base of an image and how it
	// was determined, binary files skipped); never a value.
	Notes []string
	// Files is the number of files read; Bytes their size.
	Files int
	Bytes int64
	// Images is the number of images read.
	Images int
}

// Add appends o to r.
func (r *Result) Add(o *Result) {
	if o == nil {
		return
	}
	r.Findings = append(r.Findings, o.Findings...)
	r.Errors = append(r.Errors, o.Errors...)
	r.Notes = append(r.Notes, o.Notes...)
	r.Files += o.Files
	r.Bytes += o.Bytes
	r.Images += o.Images
}

// maskNames masks every Key Vault value in the names a result prints: a
// file or folder can be named with a value, and the finding that found the
// value in it must not print it in its location. Without values (nil)
// there is nothing to mask.
func (r *Result) maskNames(v *Values) {
	if v == nil {
		return
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		f.File, f.Path = v.Mask(f.File), v.Mask(f.Path)
	}
	for i := range r.Errors {
		r.Errors[i].File, r.Errors[i].Err = v.Mask(r.Errors[i].File), v.Mask(r.Errors[i].Err)
	}
	for i := range r.Notes {
		r.Notes[i] = v.Mask(r.Notes[i])
	}
}
