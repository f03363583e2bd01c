// Package migrate moves secrets out of a compose project's environment
// variables into compose secrets: it turns compose.Detect's findings into
// edits of the original files (yamledit), proves the result still loads with
// compose-go, and writes everything at once.
//
// A migrated variable VAR becomes VAR_FILE: /run/secrets/<secret> (or what
// the image reads instead), the service lists the secret, and the project
// declares it at the top level: as `file: ./secrets/<secret>` with the value
// written beside the project (0600, or 0444 in a 0700 folder for a service
// that runs as another user; git-ignored), as `external: true` with an
// x-vault name, the value pushed to Key Vault, or as `environment: VAR`,
// which `docker vault run` fills from Key Vault (environment.go). A value
// that came from .env or an env file is removed from it once nothing else
// uses it.
//
// A variable the image reads only from its environment is moved all the
// same: its entry goes, and the service's entrypoint becomes a /bin/sh
// wrapper that exports it from the secret file before it execs what the
// container ran before (wrapper.go).
package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/imageinfo"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/yamledit"
)

// Target is where migrated secrets live.
type Target string

const (
	ToFile     Target = "file"
	ToExternal Target = "external"
	// ToEnvironment declares the moved secrets with an environment:
	// source, which `docker vault run` fills (environment.go).
	ToEnvironment Target = "environment"
)

// Options tune Plan.
type Options struct {
	To Target
	// SecretsDir is where --to file writes values, relative to the project
	// directory: "secrets" by default.
	SecretsDir string
	// Images reads the services' images (what they read from files, their
	// entrypoint, cmd and user) before Detect judges them; nil: the
	// built-in table alone decides, and nothing is wrapped.
	Images imageinfo.Reader

	// avoid are variables --to environment must not give a secret: the
	// ones an earlier pass found the rewritten project using.
	avoid map[string]bool
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
	// Via is how a migrated variable still reaches the process:
	// "file-variable" (FileVariable) or "entrypoint" (the service's
	// entrypoint wrapper exports it from the secret file); "" for
	// reported and skipped items.
	Via string `json:"via"`
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
	// Variables are, with --to environment, the variable each secret of
	// Secrets is filled from (`environment: VAR`), by secret.
	Variables map[string]string `json:"variables,omitempty"`
	// Stale are the services whose entrypoint wrapper no longer matches
	// their image (its ID, entrypoint or cmd changed since migrate wrote
	// it): the plan refreshes them.
	Stale []string `json:"stale,omitempty"`
	// Warnings are what the plan could not do and did not count as a
	// finding (a stale wrapper that cannot be refreshed).
	Warnings []string `json:"warnings,omitempty"`
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
	// wrapVars are the variables each service's entrypoint wrapper gets
	// in this plan (variable -> secret).
	wrapVars map[string]map[string]string
	// envDone are the env file lines edited (path+"\x00"+variable): to
	// the new variable, or "" when removed.
	envDone map[string]string
	// vars names the variables of --to environment.
	vars *Variables
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
	opts.avoid = map[string]bool{}
	for {
		pl, err := makePlan(p, r, opts, true)
		if errors.Is(err, errBatch) {
			// Some edits of the batch depend on each other in a way only
			// single edits handle: start again, one edit at a time.
			pl, err = makePlan(p, r, opts, false)
		}
		if err != nil || opts.To != ToEnvironment {
			return pl, err
		}
		// A variable the rewritten project uses would change more than
		// the secret: plan again without it. The variables used do not
		// depend on the names given, so a second pass settles it.
		clash, err := pl.clashes(p)
		if err != nil || len(clash) == 0 {
			return pl, err
		}
		for _, v := range clash {
			if opts.avoid[v] {
				return nil, fmt.Errorf("cannot name the variable of a secret: %s is used by the project", v)
			}
			opts.avoid[v] = true
		}
	}
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
	pl, err := newPlanner(p, r, opts)
	if err != nil {
		return nil, err
	}
	plan, todo := items(r)
	unshared := pl.sharedCheck(todo)
	for i, err := range unshared {
		plan.report(i, err)
	}
	groups := pl.groups(todo, unshared)
	later := groups
	if batched {
		if later, err = pl.batch(groups); err != nil {
			return nil, err
		}
	}
	failed, err := pl.retry(later)
	if err != nil {
		return nil, err
	}
	for i, err := range failed {
		plan.report(i, err)
	}
	plan.Stale, plan.Warnings = pl.refreshWrappers()
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
	if opts.To == ToExternal || opts.To == ToEnvironment {
		for _, name := range plan.Secrets {
			plan.Pushes = append(plan.Pushes, Push{Secret: name, KVName: mapping.DeriveKVName(name), Value: pl.values[name]})
		}
	}
	if opts.To == ToEnvironment && len(plan.Secrets) > 0 {
		plan.Variables = map[string]string{}
		for _, name := range plan.Secrets {
			plan.Variables[name] = pl.vars.For(name)
		}
	}
	return plan, nil
}

func newPlanner(p *compose.Project, r *compose.Report, opts Options) (*planner, error) {
	pl := &planner{p: p, r: r, opts: opts, docs: map[string]*yamledit.Doc{}, envs: map[string]*yamledit.EnvFile{},
		declared: map[string]bool{}, declaredIn: map[string]bool{}, values: map[string][]byte{},
		wrapVars: map[string]map[string]string{}, envDone: map[string]string{}, vars: NewVariables(opts.avoid)}
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
	return pl, nil
}

// items is the plan's item of every finding, as Detect decided it, and the
// findings to migrate.
func items(r *compose.Report) (*Plan, []int) {
	plan := &Plan{Items: make([]Item, len(r.Findings))}
	var todo []int
	for i, f := range r.Findings {
		it := Item{Service: f.Service, Variable: f.Variable, Source: string(f.Source.Kind), Secret: f.SecretName, Reason: f.Reason}
		switch f.Action {
		case compose.ActionMigrate:
			it.Action, it.FileVariable, it.Reason, it.Via = Migrated, f.FileVariable, "", string(f.Via)
			if f.Via == "" {
				it.Via = string(compose.ViaFileVariable)
			}
			todo = append(todo, i)
		case compose.ActionReport:
			it.Action, it.Secret = Reported, ""
		default:
			it.Action, it.Secret, it.Reason = Skipped, "", ""
		}
		plan.Items[i] = it
	}
	return plan, todo
}

// report turns item i into a reported one: migrate could not make its
// edits, for the reason err gives.
func (p *Plan) report(i int, err error) {
	p.Items[i].Action, p.Items[i].Secret, p.Items[i].FileVariable, p.Items[i].Via = Reported, "", "", ""
	p.Items[i].Reason = err.Error()
}

// batch makes the groups' edits in one batch per compose file, and returns
// the groups the batch refused whole, to be made alone after it.
func (pl *planner) batch(groups [][]int) ([][]int, error) {
	var docs []*yamledit.Doc
	for _, f := range pl.p.Files {
		if d, err := pl.doc(f.Path); err == nil {
			docs = append(docs, d)
		}
	}
	var later [][]int
	err := batchAll(docs, func() error {
		for _, g := range groups {
			for k, i := range g {
				done, err := pl.migrate(pl.r.Findings[i])
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
	return later, err
}

// retry makes each group's edits alone. One edit can unblock another
// (replacing `KEY: *pw` frees the anchored value &pw to be edited), so the
// refused ones are tried again for as long as some go through. It returns
// why each finding of the groups that never went through was refused.
func (pl *planner) retry(later [][]int) (map[int]error, error) {
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
	out := map[int]error{}
	for _, g := range later {
		for _, i := range g {
			out[i] = failed[g[0]]
		}
	}
	return out, nil
}

// wrapped reports whether a group holds a finding moved through the
// entrypoint wrapper.
func (pl *planner) wrapped(g []int) bool {
	for _, i := range g {
		if pl.r.Findings[i].Via == compose.ViaEntrypoint {
			return true
		}
	}
	return false
}

// batchAll runs fn with every doc in a batch.
func batchAll(docs []*yamledit.Doc, fn func() error) error {
	if len(docs) == 0 {
		return fn()
	}
	return docs[0].Batch(func() error { return batchAll(docs[1:], fn) })
}
