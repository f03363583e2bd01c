package scan

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/docker-vault/docker-vault/compose"
)

// ProjectOptions says which compose project to scan and how.
type ProjectOptions struct {
	// Load is how the CLI loads the project; scan wants every profile
	// (Profiles: []string{"*"}).
	Load compose.LoadOptions
	// Root is the directory paths in findings are relative to: the
	// repository root (RepoRoot). Empty: RepoRoot of the working directory.
	Root string
	// Values are the Key Vault values to look for in every file the
	// project read; nil: none.
	Values *Values
	// Project is the project Load already gave (the CLI read it for the
	// secrets --vault maps); nil: ScanProject loads it.
	Project *compose.Project
}

// ScanProject loads a compose project as compose does and reports every
// secret Detect finds in it, where its value is held: the compose file,
// the .env or env file line an interpolated value comes from, the
// Dockerfile. With Values, it also finds the Key Vault values in every
// file the project read.
func ScanProject(ctx context.Context, opts ProjectOptions) (*Result, error) {
	root := opts.Root
	if root == "" {
		wd := opts.Load.WorkingDir
		if wd == "" {
			var err error
			if wd, err = os.Getwd(); err != nil {
				return nil, err
			}
		}
		root = RepoRoot(wd)
	}
	p := opts.Project
	if p == nil {
		var err error
		if p, err = LoadProject(ctx, opts.Load); err != nil {
			return nil, err
		}
	}
	c := newConverter(root)
	if err := c.project(p); err != nil {
		return nil, err
	}
	res := c.result()
	for _, f := range projectFiles(p) {
		res.Files++
		res.Bytes += int64(len(f.content))
		res.Findings = append(res.Findings, searchValues(opts.Values, c.rel(f.path), f.content)...)
	}
	finish(res, opts.Values)
	return res, nil
}

// LoadProject loads a project as ScanProject does: quietly, since the
// scan's report says which variables only the shell could set (a note),
// and compose-go's warnings of each unset one would be noise.
func LoadProject(ctx context.Context, lo compose.LoadOptions) (*compose.Project, error) {
	lo.Quiet = true
	return compose.Load(ctx, lo)
}

// projectFile is one file a project read, with its bytes.
type projectFile struct {
	path    string
	content []byte
}

// projectFiles lists the files p read, once each: compose files, env
// files, Dockerfiles (an inline one is in its compose file).
func projectFiles(p *compose.Project) []projectFile {
	var out []projectFile
	seen := map[string]bool{}
	add := func(path string, b []byte) {
		if path == "" || seen[path] {
			return
		}
		seen[path] = true
		out = append(out, projectFile{path, b})
	}
	for _, f := range p.Files {
		add(f.Path, f.Content)
	}
	for _, ef := range p.EnvFiles {
		if !ef.Missing {
			add(ef.Path, ef.Content)
		}
	}
	for _, df := range p.Dockerfiles {
		if !df.Inline && df.Err == "" {
			add(df.Path, df.Content)
		}
	}
	return out
}

// converter turns compose's findings into scan findings: one per place a
// value is held, the services that use it listed together.
type converter struct {
	root     string
	findings []Finding
	notes    []string
	// at indexes findings by place (placeKey).
	at map[string]int
	// lines are the files' line indexes, by absolute path.
	lines map[string]*lineIndex
	// values are the findings' values, for dropping an ignore reason that
	// quotes one. Never output.
	values map[int][]byte
	// vias are, by finding, the service variables an env file line is
	// interpolated into, named together in its message.
	vias map[int][]string
}

func newConverter(root string) *converter {
	return &converter{root: root, at: map[string]int{}, lines: map[string]*lineIndex{}, values: map[int][]byte{}, vias: map[int][]string{}}
}

func (c *converter) rel(path string) string { return relPath(c.root, path) }

// place is where a compose finding's value is held.
type place struct {
	rule     string
	pos      compose.Position
	variable string
	// via: the value is interpolated into service.variable from here.
	via string
}

// project converts the findings of Detect on p.
func (c *converter) project(p *compose.Project) error {
	r, err := compose.Detect(p, compose.DetectOptions{Extensions: true})
	if err != nil {
		return err
	}
	for _, f := range p.Files {
		c.lines[f.Path] = newLineIndex(f.Content)
	}
	for _, ef := range p.EnvFiles {
		c.lines[ef.Path] = newLineIndex(ef.Content)
	}
	for _, df := range p.Dockerfiles {
		if !df.Inline && df.Err == "" {
			c.lines[df.Path] = newLineIndex(df.Content)
		}
	}
	env := p.Compose.Environment
	for _, f := range r.Findings {
		if f.Unset || len(f.Value) == 0 {
			continue
		}
		suppressed, message := "", f.Reason
		switch {
		case f.Verdict == compose.VerdictSecret:
		case f.Verdict == compose.VerdictNotSecret && strings.HasPrefix(f.Reason, "excluded by "):
			// An exclude entry silences what the rules would report: kept,
			// suppressed with the entry as the reason.
			j := compose.Judge(f.Variable, string(f.Value))
			if j.Verdict != compose.VerdictSecret {
				continue
			}
			suppressed, message = f.Reason, j.Reason
		default:
			continue
		}
		for _, pl := range c.places(f, env) {
			c.add(f, pl, message, suppressed)
		}
	}
	for _, w := range r.Warnings {
		c.notes = append(c.notes, strings.ReplaceAll(w, c.root+string(filepath.Separator), ""))
	}
	// The project's own env files hold secrets no active service may use
	// (yet): every variable is judged, as in a tree scan. A line a
	// service uses is already found, with its services.
	for _, ef := range p.EnvFiles {
		if ef.Missing || ef.Kind == compose.EnvService {
			continue // a service's env_file is all in the service's environment
		}
		if err := c.envFile(ef.Path, ef.Content); err != nil {
			// Load parsed it already: this cannot happen but by a bug.
			c.notes = append(c.notes, c.rel(ef.Path)+" not judged on its own: "+err.Error())
		}
	}
	return nil
}

// envFile adds the secrets of an env file judged on its own.
func (c *converter) envFile(path string, content []byte) error {
	return c.alone(path, content, compose.JudgeEnvFile, RuleEnvFile)
}

// dockerfile adds the secrets of a Dockerfile judged on its own.
func (c *converter) dockerfile(path string, content []byte) error {
	return c.alone(path, content, compose.JudgeDockerfile, RuleDockerfile)
}

// alone adds the secrets judge finds in a file read on its own, reported
// under rule.
func (c *converter) alone(path string, content []byte, judge func(string, []byte) ([]compose.Finding, error), rule string) error {
	fs, err := judge(path, content)
	if err != nil {
		return err
	}
	if c.lines[path] == nil {
		c.lines[path] = newLineIndex(content)
	}
	for _, f := range fs {
		if f.Verdict != compose.VerdictSecret || len(f.Value) == 0 {
			continue
		}
		c.add(f, place{rule: rule, pos: f.Source.Position, variable: f.Variable}, f.Reason, "")
	}
	return nil
}

// ruleOf maps where compose found a value to the rule that reports it.
var ruleOf = map[compose.SourceKind]string{
	compose.SourceLiteral:     RuleEnvironment,
	compose.SourceEnvFile:     RuleEnvFile,
	compose.SourceBuildArg:    RuleBuildArg,
	compose.SourceExtension:   RuleExtension,
	compose.SourceCommand:     RuleCommand,
	compose.SourceHealthcheck: RuleHealthcheck,
	compose.SourceLabel:       RuleLabel,
	compose.SourceDockerfile:  RuleDockerfile,
	compose.SourceUnknown:     RuleEnvironment,
}

// fileOrigin: the variable's value is written in an env file.
func fileOrigin(o compose.Origin) bool {
	return o == compose.OriginDotEnv || o == compose.OriginEnvFile || o == compose.OriginInclude
}

// places says where f's value is held. An interpolated value is held where
// the variable it comes from is written: the .env or --env-file line; a
// ${X:-default} in the compose file. A value from the shell is in no file:
// a note says so, and there is no finding.
func (c *converter) places(f compose.Finding, env map[string]string) []place {
	s := f.Source
	if s.Kind != compose.SourceInterpolated && s.Kind != compose.SourcePassThrough {
		rule, ok := ruleOf[s.Kind]
		if !ok {
			rule = RuleEnvironment
		}
		return []place{{rule: rule, pos: s.Position, variable: f.Variable}}
	}
	at := func(r compose.VarRef) place {
		return place{rule: RuleEnvFile, pos: r.Position, variable: r.Name, via: f.Service + "." + f.Variable}
	}
	inCompose := place{rule: RuleEnvironment, pos: s.Position, variable: f.Variable}
	if len(s.Refs) == 1 && (s.SingleRef || s.Kind == compose.SourcePassThrough) {
		r := s.Refs[0]
		switch {
		case fileOrigin(r.Origin) && r.Position.File != "":
			return []place{at(r)}
		case r.Origin == compose.OriginShell:
			c.shellNote(f, []string{r.Name})
			return nil
		}
		return []place{inCompose}
	}
	// Several references, or text around one: the secret is held by the
	// references that are secrets on their own (a password interpolated
	// into a URL), else by the entry that puts them together.
	var out []place
	var shell []string
	for _, r := range s.Refs {
		if compose.Judge(r.Name, env[r.Name]).Verdict != compose.VerdictSecret {
			continue
		}
		switch {
		case fileOrigin(r.Origin) && r.Position.File != "":
			out = append(out, at(r))
		case r.Origin == compose.OriginShell:
			shell = append(shell, r.Name)
		}
	}
	if len(out) > 0 {
		return out
	}
	if len(shell) > 0 {
		c.shellNote(f, shell)
		return nil
	}
	return []place{inCompose}
}

func (c *converter) shellNote(f compose.Finding, names []string) {
	c.notes = append(c.notes, f.Service+"."+f.Variable+" is a secret whose value comes from the shell ($"+strings.Join(names, ", $")+"): it is in no file, so it is not reported")
}

// placeKey: one finding per rule, file, line and variable. Columns
// differ between the ways a line is reached (a .env line through a
// service's ${VAR} points at its key; judged on its own, at its value).
func placeKey(rule, file string, line int, variable string) string {
	return rule + "\x00" + file + "\x00" + strconv.Itoa(line) + "\x00" + variable
}

// add records f at pl, or adds f's service to the finding already there.
func (c *converter) add(f compose.Finding, pl place, message, suppressed string) {
	file := pl.pos.File
	k := placeKey(pl.rule, file, pl.pos.Line, pl.variable)
	if i, ok := c.at[k]; ok {
		g := &c.findings[i]
		if pl.via != "" && !slices.Contains(c.vias[i], pl.via) {
			c.vias[i] = append(c.vias[i], pl.via)
		}
		if f.Service != "" && !slices.Contains(g.Services, f.Service) {
			g.Services = append(g.Services, f.Service)
			if g.Service == "" {
				g.Service = f.Service
			}
		}
		if suppressed == "" {
			// Excluded for one service, used unexcluded by another.
			g.Suppressed = ""
		}
		return
	}
	col := pl.pos.Column
	if li := c.lines[file]; li != nil {
		col = li.byteColumn(pl.pos.Line, col)
	}
	g := Finding{
		Rule:       pl.rule,
		Severity:   findingSeverity(f),
		File:       c.rel(file),
		Line:       pl.pos.Line,
		Column:     col,
		Service:    f.Service,
		Variable:   pl.variable,
		Secret:     f.SecretName,
		Message:    message,
		Fix:        fix(f, pl),
		Suppressed: suppressed,
	}
	if file == "" {
		g.File = ""
	}
	if f.Service != "" {
		g.Services = []string{f.Service}
	}
	c.at[k] = len(c.findings)
	c.values[len(c.findings)] = f.Value
	if pl.via != "" {
		c.vias[len(c.findings)] = []string{pl.via}
	}
	c.findings = append(c.findings, g)
}

// findingSeverity: error, but a warning where only the value's shape
// (high entropy) says secret and no include entry says so.
func findingSeverity(f compose.Finding) Severity {
	if f.Weak {
		return SeverityWarning
	}
	return SeverityError
}

// fix is the rule's help made specific to f: the compose secret and the
// file variable migrate would use, the Dockerfile's RUN --mount line.
func fix(f compose.Finding, pl place) string {
	rule, _ := RuleByID(pl.rule)
	switch {
	case pl.rule == RuleDockerfile && f.Fix != "":
		return f.Fix
	case pl.rule == RuleBuildArg:
		id := strings.ToLower(f.Variable)
		return "Build arguments are kept in the image's history. Pass " + f.Variable + " as a build secret: `build.secrets` in compose and `RUN --mount=type=secret,id=" + id + "` in the Dockerfile (read /run/secrets/" + id + "); `docker vault build` fills it from Key Vault."
	case f.Action == compose.ActionMigrate && f.SecretName != "":
		how := ""
		switch {
		case f.FileVariable != "":
			how = ", which the image reads through " + f.FileVariable
		case f.Via == compose.ViaEntrypoint:
			how = ", which the entrypoint wrapper migrate writes exports as " + f.Variable
		}
		where := ""
		if pl.rule == RuleEnvFile {
			where = " (and takes it out of the env file once nothing else uses it)"
		}
		return "`docker vault migrate` moves " + f.Service + "." + f.Variable + " into the compose secret " + f.SecretName + how + where + "; `docker vault push` stores it in Key Vault."
	}
	return rule.Help
}

// result is what the converter found, ignore comments applied.
func (c *converter) result() *Result {
	res := &Result{Findings: c.findings, Notes: c.notes}
	for i := range res.Findings {
		f := &res.Findings[i]
		if vias := c.vias[i]; len(vias) > 0 {
			f.Message = "interpolated into " + strings.Join(vias, ", ") + ": " + f.Message
		}
		if f.Suppressed != "" || f.Line == 0 {
			continue
		}
		li := c.lines[c.abs(f.File)]
		if li == nil {
			continue
		}
		if why, ok := li.ignoreComment(f.Line); ok {
			f.Suppressed = ignoreReason(why, c.values[i])
		}
	}
	return res
}

func (c *converter) abs(rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(c.root, filepath.FromSlash(rel))
}

// ignoreReason is the suppression of an ignore comment, with the reason
// written after it, unless that quotes the value.
func ignoreReason(why string, value []byte) string {
	s := "# " + ignoreMarker + " comment"
	if why != "" && (len(value) == 0 || !strings.Contains(why, string(value))) {
		s += ": " + why
	}
	return s
}

// searchValues reports every Key Vault value found in content, file being
// its name for findings. An ignore comment on the line silences it.
func searchValues(v *Values, file string, content []byte) []Finding {
	hits := v.find(content)
	if len(hits) == 0 {
		return nil
	}
	li := newLineIndex(content)
	rule, _ := RuleByID(RuleVaultValue)
	out := make([]Finding, 0, len(hits))
	for _, h := range hits {
		secret, enc := v.Hit(h.needle)
		line, col := li.at(h.off)
		f := Finding{
			Rule:     RuleVaultValue,
			Severity: SeverityError,
			File:     file,
			Line:     line,
			Column:   col,
			Secret:   secret,
			Encoding: enc,
			Message:  "the current value of Key Vault secret " + secret + " is written here (" + enc + ")",
			Fix:      rule.Help,
		}
		if why, ok := li.ignoreComment(line); ok {
			f.Suppressed = ignoreReason(why, nil)
			if v.Mask(why) != why {
				f.Suppressed = ignoreReason("", nil)
			}
		}
		out = append(out, f)
	}
	return out
}
