// Package migrate moves secrets out of a compose project's environment
// variables into compose secrets: it turns compose.Detect's findings into
// edits of the original files (yamledit), proves the result still loads with
// compose-go, and writes everything at once.
//
// A migrated variable VAR becomes VAR_FILE: /run/secrets/<secret> (or what
// the image reads instead), the service lists the secret, and the project
// declares it at the top level: as `file: ./secrets/<secret>` with the value
// written beside the project (0600, git-ignored), or as `external: true`
// with an x-vault name, the value pushed to Key Vault. A value that came
// from .env or an env file is removed from it once nothing else uses it.
package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/yamledit"
)

// Target is where migrated secrets live.
type Target string

const (
	ToFile     Target = "file"
	ToExternal Target = "external"
)

// Options tune Plan.
type Options struct {
	To Target
	// SecretsDir is where --to file writes values, relative to the project
	// directory: "secrets" by default.
	SecretsDir string
}

// Status is what happened to a finding.
type Status string

const (
	Migrated Status = "migrated"
	Reported Status = "reported"
	Skipped  Status = "skipped"
)

// Item is one finding as migrate reports it. It never holds a value.
type Item struct {
	Service  string `json:"service"`
	Variable string `json:"variable"`
	Source   string `json:"source"`
	Secret   string `json:"secret"`
	Action   Status `json:"action"`
	Reason   string `json:"reason"`
	// FileVariable is what the variable became, for migrated items.
	FileVariable string `json:"fileVariable,omitempty"`
}

// File is one file the migration writes.
type File struct {
	Path string `json:"path"`
	// Kind: compose, env, secret, gitignore.
	Kind string `json:"kind"`
	// Created: the file does not exist yet.
	Created bool        `json:"created,omitempty"`
	Mode    os.FileMode `json:"-"`
	Old     []byte      `json:"-"`
	New     []byte      `json:"-"`
}

// Push is a value to store in Key Vault.
type Push struct {
	Secret string `json:"secret"`
	KVName string `json:"vaultSecret"`
	Value  []byte `json:"-"`
}

// Plan is the whole migration of a project: what it does to each finding,
// and the files it writes.
type Plan struct {
	Items  []Item  `json:"findings"`
	Files  []*File `json:"files"`
	Pushes []Push  `json:"pushes,omitempty"`
	// Secrets are the compose secrets the project declares after the
	// migration, by name.
	Secrets []string `json:"secrets,omitempty"`
}

// Changed says whether applying the plan changes anything.
func (p *Plan) Changed() bool { return len(p.Files) > 0 || len(p.Pushes) > 0 }

// Counts returns the number of items per status.
func (p *Plan) Counts() map[Status]int {
	c := map[Status]int{}
	for _, it := range p.Items {
		c[it.Action]++
	}
	return c
}

type planner struct {
	p    *compose.Project
	r    *compose.Report
	opts Options
	docs map[string]*yamledit.Doc
	envs map[string]*yamledit.EnvFile
	main *compose.File
	// declared are the secrets the plan declares, by name; declaredIn by
	// compose file and name (path+"\x00"+name).
	declared   map[string]bool
	declaredIn map[string]bool
	values     map[string][]byte
	// refs are .env / env file variables the migrated values came from:
	// removed once nothing uses them any more.
	refs []compose.VarRef
}

// Make computes the migration of a loaded project and proves it by loading
// the rewritten project with compose-go. It changes nothing on disk.
func Make(ctx context.Context, p *compose.Project, r *compose.Report, opts Options) (*Plan, error) {
	pl, err := plan(p, r, opts)
	if err != nil {
		return nil, err
	}
	if overlay := pl.overlay(); len(overlay) > 0 {
		if err := compose.Check(ctx, p, overlay); err != nil {
			return nil, reloadError(err)
		}
	}
	return pl, nil
}

// plan is Make without the proof.
func plan(p *compose.Project, r *compose.Report, opts Options) (*Plan, error) {
	if opts.To == "" {
		opts.To = ToFile
	}
	if opts.SecretsDir == "" {
		opts.SecretsDir = "secrets"
	}
	pl, err := makePlan(p, r, opts, true)
	if errors.Is(err, errBatch) {
		// Some edits of the batch depend on each other in a way only
		// single edits handle: start again, one edit at a time.
		pl, err = makePlan(p, r, opts, false)
	}
	return pl, err
}

// overlay is the new content of the compose and env files the plan
// rewrites, by path.
func (p *Plan) overlay() map[string][]byte {
	overlay := map[string][]byte{}
	for _, f := range p.Files {
		if f.Kind == "compose" || f.Kind == "env" {
			overlay[f.Path] = f.New
		}
	}
	return overlay
}

// errBatch says the batched edits could not be made as one.
var errBatch = errors.New("batched edits failed")

// makePlan turns the findings into edits. Batched, the edits of each compose
// file are made as one (yamledit.Doc.Batch): one parse and one check per
// file instead of one per edit, which is what keeps a project of thousands
// of services fast. An edit the batch refuses is made again after it, on its
// own; a finding whose edits only partly went into the batch, or a batch
// that fails its check, makes the whole plan start again without batches
// (errBatch).
func makePlan(p *compose.Project, r *compose.Report, opts Options, batched bool) (*Plan, error) {
	pl := &planner{p: p, r: r, opts: opts, docs: map[string]*yamledit.Doc{}, envs: map[string]*yamledit.EnvFile{},
		declared: map[string]bool{}, declaredIn: map[string]bool{}, values: map[string][]byte{}}
	for _, f := range p.Files {
		if f.Role == compose.RoleMain {
			pl.main = f
			break
		}
	}
	if pl.main == nil {
		return nil, errors.New("the project has no compose file of its own")
	}
	for _, s := range r.Secrets {
		pl.values[s.Name] = s.Value
	}
	plan := &Plan{Items: make([]Item, len(r.Findings))}
	var todo []int
	for i, f := range r.Findings {
		it := Item{Service: f.Service, Variable: f.Variable, Source: string(f.Source.Kind), Secret: f.SecretName, Reason: f.Reason}
		switch f.Action {
		case compose.ActionMigrate:
			it.Action, it.FileVariable, it.Reason = Migrated, f.FileVariable, ""
			todo = append(todo, i)
		case compose.ActionReport:
			it.Action, it.Secret = Reported, ""
		default:
			it.Action, it.Secret, it.Reason = Skipped, "", ""
		}
		plan.Items[i] = it
	}
	unshared := pl.sharedCheck(todo)
	report := func(i int, err error) {
		plan.Items[i].Action, plan.Items[i].Secret, plan.Items[i].FileVariable = Reported, "", ""
		plan.Items[i].Reason = err.Error()
	}
	for i, err := range unshared {
		report(i, err)
	}
	groups := pl.groups(todo, unshared)
	var later [][]int
	if batched {
		var docs []*yamledit.Doc
		for _, f := range p.Files {
			if d, err := pl.doc(f.Path); err == nil {
				docs = append(docs, d)
			}
		}
		err := batchAll(docs, func() error {
			for _, g := range groups {
				for k, i := range g {
					done, err := pl.migrate(r.Findings[i])
					switch {
					case err == nil:
					case !errors.Is(err, errCannotEdit):
						return err
					case done == 0 && k == 0:
						later = append(later, g)
					default:
						return errBatch
					}
					if err != nil {
						break
					}
				}
			}
			return nil
		})
		if errors.Is(err, yamledit.ErrUnsupported) {
			err = errBatch
		}
		if err != nil {
			return nil, err
		}
	} else {
		later = groups
	}
	// One edit can unblock another (replacing `KEY: *pw` frees the anchored
	// value &pw to be edited), so the refused ones are tried again for as
	// long as some go through.
	failed := map[int]error{}
	for progress := true; progress && len(later) > 0; {
		progress = false
		var again [][]int
		for _, g := range later {
			err := pl.migrateAlone(g)
			switch {
			case err == nil:
				progress = true
			case !errors.Is(err, errCannotEdit):
				return nil, err
			default:
				failed[g[0]] = err
				again = append(again, g)
			}
		}
		later = again
	}
	for _, g := range later {
		for _, i := range g {
			report(i, failed[g[0]])
		}
	}
	if err := pl.cleanEnvFiles(); err != nil {
		return nil, err
	}
	if err := pl.files(plan); err != nil {
		return nil, err
	}
	for name := range pl.declared {
		plan.Secrets = append(plan.Secrets, name)
	}
	sort.Strings(plan.Secrets)
	if opts.To == ToExternal {
		for _, name := range plan.Secrets {
			plan.Pushes = append(plan.Pushes, Push{Secret: name, KVName: mapping.DeriveKVName(name), Value: pl.values[name]})
		}
	}
	return plan, nil
}

// batchAll runs fn with every doc in a batch.
func batchAll(docs []*yamledit.Doc, fn func() error) error {
	if len(docs) == 0 {
		return fn()
	}
	return docs[0].Batch(func() error { return batchAll(docs[1:], fn) })
}

// errCannotEdit marks a finding that cannot be rewritten in place; it is
// reported instead.
var errCannotEdit = errors.New("cannot rewrite")

type cannotEdit struct{ msg string }

func (e cannotEdit) Error() string { return e.msg }
func (e cannotEdit) Is(target error) bool {
	return target == errCannotEdit
}

// notRewritten turns a yamledit refusal into a finding to report; any other
// error stays an error.
func notRewritten(err error) error {
	if errors.Is(err, yamledit.ErrUnsupported) || errors.Is(err, yamledit.ErrNotFound) || errors.Is(err, yamledit.ErrConflict) {
		return cannotEdit{fmt.Sprintf("not rewritten: %v", err)}
	}
	return err
}

func (pl *planner) doc(path string) (*yamledit.Doc, error) {
	if d, ok := pl.docs[path]; ok {
		return d, nil
	}
	f := fileOf(pl.p, path)
	if f == nil {
		return nil, cannotEdit{fmt.Sprintf("not rewritten: %s is not a compose file of the project", path)}
	}
	// Load parsed the file already; the rewrite is loaded by compose-go
	// before it is used, which proves compose's parser accepts it.
	o := yamledit.ParseOptions{NoV4Check: true}
	if len(f.Docs) == 1 {
		o.Node = f.Docs[0]
	}
	d, err := yamledit.ParseWith(path, f.Content, o)
	if err != nil {
		return nil, cannotEdit{fmt.Sprintf("not rewritten: %v", err)}
	}
	pl.docs[path] = d
	return d, nil
}

func (pl *planner) env(path string) (*yamledit.EnvFile, error) {
	if e, ok := pl.envs[path]; ok {
		return e, nil
	}
	var content []byte
	found := false
	for _, f := range pl.p.EnvFiles {
		if f.Path == path && !f.Missing {
			content, found = f.Content, true
		}
	}
	if !found {
		return nil, cannotEdit{fmt.Sprintf("not rewritten: %s is not an env file of the project", path)}
	}
	e, err := yamledit.ParseEnvFile(path, content)
	if err != nil {
		return nil, cannotEdit{fmt.Sprintf("not rewritten: %v", err)}
	}
	pl.envs[path] = e
	return e, nil
}

// migrate makes a finding's three edits: the variable, the service's
// secrets: list, the top-level declaration. It returns how many it made
// before an error, so that a caller can tell a finding left untouched from
// one half edited.
func (pl *planner) migrate(f compose.Finding) (int, error) {
	target := "/run/secrets/" + f.SecretName
	if f.FileVariableKind == compose.FileVarName {
		target = f.SecretName
	}
	path := f.Source.Position.File
	switch f.Source.Kind {
	case compose.SourceLiteral, compose.SourceInterpolated, compose.SourcePassThrough:
		d, err := pl.doc(path)
		if err != nil {
			return 0, err
		}
		if err := d.ReplaceEnv(f.Service, f.Variable, f.FileVariable, target); err != nil {
			return 0, notRewritten(err)
		}
	case compose.SourceEnvFile:
		e, err := pl.env(path)
		if err != nil {
			return 0, err
		}
		if err := e.Replace(f.Variable, f.FileVariable, target); err != nil {
			return 0, notRewritten(err)
		}
	default:
		return 0, cannotEdit{"not rewritten: not an environment entry"}
	}
	in, err := pl.addServiceSecret(f.Service, path, f.SecretName)
	if err != nil {
		return 1, err
	}
	if err := pl.declare(f.SecretName, in); err != nil {
		return 2, err
	}
	pl.refs = append(pl.refs, f.Source.Refs...)
	return 3, nil
}

// migrateAlone makes a group's edits outside any batch, all or none: when
// one fails, every file is put back as it was before the group.
func (pl *planner) migrateAlone(group []int) error {
	docs := map[string][]byte{}
	for path, d := range pl.docs {
		b, _ := d.Bytes()
		docs[path] = b
	}
	envs := map[string][]byte{}
	for path, e := range pl.envs {
		envs[path] = e.Bytes()
	}
	declared, declaredIn := maps.Clone(pl.declared), maps.Clone(pl.declaredIn)
	nrefs := len(pl.refs)
	var err error
	edited := false
	for _, i := range group {
		var done int
		done, err = pl.migrate(pl.r.Findings[i])
		edited = edited || done > 0
		if err != nil {
			break
		}
	}
	if err == nil || !edited {
		return err
	}
	for path, b := range docs {
		d, perr := yamledit.Parse(path, b)
		if perr != nil {
			return perr
		}
		pl.docs[path] = d
	}
	for path := range pl.docs {
		if _, ok := docs[path]; !ok {
			delete(pl.docs, path)
		}
	}
	for path, b := range envs {
		e, perr := yamledit.ParseEnvFile(path, b)
		if perr != nil {
			return perr
		}
		pl.envs[path] = e
	}
	for path := range pl.envs {
		if _, ok := envs[path]; !ok {
			delete(pl.envs, path)
		}
	}
	pl.declared, pl.declaredIn, pl.refs = declared, declaredIn, pl.refs[:nrefs]
	return err
}

// addServiceSecret lists the secret in the service, in the compose file the
// variable was written in when the service is defined there, else in the
// first main file that defines the service, else in the included file that
// does. It returns the file it edited.
func (pl *planner) addServiceSecret(service, path, secret string) (string, error) {
	candidates := []string{path}
	for _, role := range []compose.FileRole{compose.RoleMain, compose.RoleInclude} {
		for _, f := range pl.p.Files {
			if f.Role == role {
				candidates = append(candidates, f.Path)
			}
		}
	}
	for _, c := range candidates {
		d, err := pl.doc(c)
		if err != nil {
			continue
		}
		if d.Node("services", service) == nil {
			continue
		}
		if err := d.AddServiceSecret(service, secret); err != nil {
			return "", notRewritten(err)
		}
		return c, nil
	}
	return "", cannotEdit{fmt.Sprintf("not rewritten: service %s is not defined in a compose file of the project (extends?)", service)}
}

// declare declares the secret at the top level of the file that lists it
// in a service, where compose looks for it. An included file is loaded by
// compose as a project of its own, which must declare every secret its
// services use (the main project then imports the declarations: the same
// secret declared in several files is one secret when the declarations
// resolve alike, which they do, since a file: path is written relative to
// each file's own directory). Every other file (the main files, an extends
// base) is merged into the main project: the secret goes in the first main
// file.
func (pl *planner) declare(name, listedIn string) error {
	target := pl.main
	if f := fileOf(pl.p, listedIn); f != nil && f.Role == compose.RoleInclude {
		target = f
	}
	if pl.declaredIn[target.Path+"\x00"+name] {
		return nil
	}
	d, err := pl.doc(target.Path)
	if err != nil {
		return err
	}
	var fields [][2]string
	switch pl.opts.To {
	case ToExternal:
		fields = [][2]string{{"external", "true"}, {"x-vault", "name: " + mapping.DeriveKVName(name)}}
	default:
		file := filepath.Join(pl.main.Dir, pl.opts.SecretsDir, name)
		rel, err := filepath.Rel(target.Dir, file)
		if err != nil {
			return cannotEdit{fmt.Sprintf("not rewritten: %s cannot point at %s", target.Path, file)}
		}
		rel = filepath.ToSlash(rel)
		if !strings.HasPrefix(rel, "../") {
			rel = "./" + rel
		}
		fields = [][2]string{{"file", rel}}
	}
	if err := d.AddTopLevelSecret(name, fields); err != nil {
		if errors.Is(err, yamledit.ErrConflict) {
			return fmt.Errorf("the project already declares a secret %s that differs from the one migrate would add: rename it or map the variables with x-vault: %w", name, err)
		}
		return notRewritten(err)
	}
	pl.declared[name] = true
	pl.declaredIn[target.Path+"\x00"+name] = true
	return nil
}

// files lists every file the plan writes.
func (pl *planner) files(plan *Plan) error {
	var paths []string
	for path := range pl.docs {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		b, err := pl.docs[path].Bytes()
		if err != nil {
			return err
		}
		if bytes.Equal(b, contentOf(pl.p, path)) {
			continue
		}
		plan.Files = append(plan.Files, &File{Path: path, Kind: "compose", Old: contentOf(pl.p, path), New: b})
	}
	paths = paths[:0]
	for path := range pl.envs {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		b := pl.envs[path].Bytes()
		old := envContentOf(pl.p, path)
		if bytes.Equal(b, old) {
			continue
		}
		plan.Files = append(plan.Files, &File{Path: path, Kind: "env", Old: old, New: b})
	}
	if pl.opts.To != ToFile || len(pl.declared) == 0 {
		return nil
	}
	dir := filepath.Join(pl.main.Dir, pl.opts.SecretsDir)
	var names []string
	for n := range pl.declared {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		path := filepath.Join(dir, n)
		value := pl.values[n]
		old, err := os.ReadFile(path)
		switch {
		case err == nil && bytes.Equal(old, value):
			continue
		case err == nil:
			return fmt.Errorf("secret file %s already exists with other content: remove it, or rename the secret with x-vault", path)
		case !errors.Is(err, os.ErrNotExist):
			return compose.ReadFailed("secret file", path, err)
		}
		plan.Files = append(plan.Files, &File{Path: path, Kind: "secret", Created: true, Mode: 0o600, New: value})
	}
	return pl.gitignore(plan)
}

// gitignore makes sure the project's .gitignore ignores the secrets folder.
func (pl *planner) gitignore(plan *Plan) error {
	path := filepath.Join(pl.main.Dir, ".gitignore")
	entry := "/" + filepath.ToSlash(pl.opts.SecretsDir) + "/"
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return compose.ReadFailed("file", path, err)
	}
	for _, line := range strings.Split(string(old), "\n") {
		l := strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if l == entry || l == strings.TrimPrefix(entry, "/") || l == strings.TrimSuffix(entry, "/") || l == strings.Trim(entry, "/") {
			return nil
		}
	}
	eol := "\n"
	if bytes.Contains(old, []byte("\r\n")) {
		eol = "\r\n"
	}
	add := []byte{}
	if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
		add = append(add, eol...)
	}
	add = append(add, "# secret values written by docker vault migrate"+eol+entry+eol...)
	plan.Files = append(plan.Files, &File{Path: path, Kind: "gitignore", Created: err != nil, Mode: 0o644, Old: old, New: append(append([]byte{}, old...), add...)})
	return nil
}

func fileOf(p *compose.Project, path string) *compose.File {
	for _, f := range p.Files {
		if f.Path == path {
			return f
		}
	}
	return nil
}

func envContentOf(p *compose.Project, path string) []byte {
	for _, f := range p.EnvFiles {
		if f.Path == path {
			return f.Content
		}
	}
	return nil
}

func contentOf(p *compose.Project, path string) []byte {
	if f := fileOf(p, path); f != nil {
		return f.Content
	}
	return nil
}
