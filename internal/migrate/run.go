package migrate

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/atomicfile"
	"github.com/docker-vault/docker-vault/internal/convert"
	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
)

// RunOptions tune Run.
type RunOptions struct {
	Load   compose.LoadOptions
	Detect compose.DetectOptions
	Plan   Options
	// DryRun plans and changes nothing: a work folder an interrupted run
	// left is only named on Log.
	DryRun bool
	// Push stores the plan's values in Key Vault before any file is
	// written; Overwrite as in PushOptions.
	Push      bool
	Overwrite bool
	// OpenVault opens the Key Vault to push to, given the url the project's
	// x-vault names ("" when none). It is called only when there is
	// something to push.
	OpenVault func(ctx context.Context, projectURL string) (keyvault.Store, error)
	// VaultContext bounds opening the vault and pushing; nil: ctx alone
	// does. Loading and writing are not bounded by it.
	VaultContext func(ctx context.Context) (context.Context, context.CancelFunc)
	// Log receives notes about what an interrupted run left; nil discards
	// them.
	Log io.Writer
}

// Result is what Run planned and did.
type Result struct {
	Project *compose.Project
	Report  *compose.Report
	Plan    *Plan
	// Mask hides values in the plan's diffs (WriteDiff).
	Mask *Mask
	// Pushed are the Key Vault secrets Run stored.
	Pushed []string
	// Converted are the file secrets that --to external turns into
	// external ones (see convert.Plan), or --to environment into
	// environment ones (their variables are in the plan's Variables); their
	// values are among the plan's Pushes, unless pinned to a version.
	Converted []convert.Source
	// VaultCheck is, for a DryRun with Push, what storing each of the
	// plan's Pushes would do (same order): which Key Vault secrets exist,
	// and which hold another value (CheckPushes). No value is written, and
	// none is held here.
	VaultCheck []PushCheck
}

// Run migrates a project: it plans (Prepare) and, unless DryRun, puts back
// what an interrupted run left first, stores the values in Key Vault when
// Push, and writes the files. Every push is made before any file is written,
// so a push that fails leaves the project as it was.
//
// With --to external, the project's file: secrets are converted too
// (convert.Plan): their definitions become external ones in the plan's
// compose files, and their values join the plan's Pushes. The files they
// came from are left on disk, and a note on Log says they can go: the push
// is made before anything is written and the tool cannot prove the deploy
// works, so removing the only local copy of a value (of a secret pushed to
// the wrong vault, say) is left to the user, and reverting the compose file
// gives a project that works as before.
//
// A DryRun with Push checks Key Vault as the push would (VaultCheck),
// writing nothing.
//
// With --to environment the moved secrets and the file secrets become
// environment-sourced ones (see environment.go), and the values go to Key
// Vault the same way. Without Push, Key Vault must hold every value
// already (checked as a dry run would: CheckPushes), else nothing is
// written: `docker vault run` reads them from there, and the project keeps
// them nowhere else.
func Run(ctx context.Context, o RunOptions) (*Result, error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	res, err := o.prepare(ctx)
	if err != nil {
		return nil, err
	}
	dir := res.Project.Compose.WorkingDir
	if o.DryRun {
		for _, f := range atomicfile.Pending(dir) {
			fmt.Fprintf(log, "note: %s was left by an interrupted migrate; the next migrate without --dry-run puts back what it had written first\n", f)
		}
		if o.Push && len(res.Plan.Pushes) > 0 {
			if res.VaultCheck, err = o.check(ctx, res); err != nil {
				return nil, err
			}
		}
		o.warnExternal(log, res)
		return res, nil
	}
	// What an interrupted run left goes first; when it had already replaced
	// files, they are back as before and the plan is made again on them.
	putBack, err := Recover(dir, log)
	if err != nil {
		return nil, err
	}
	if putBack {
		if res, err = o.prepare(ctx); err != nil {
			return nil, err
		}
	}
	if o.Push && len(res.Plan.Pushes) > 0 {
		if res.Pushed, err = o.push(ctx, res); err != nil {
			return nil, err
		}
	}
	if !o.Push && o.Plan.To == ToEnvironment && len(res.Plan.Pushes) > 0 {
		if err := o.inVault(ctx, log, res); err != nil {
			return nil, err
		}
	}
	if err := Write(res.Plan.Files, WriteOptions{Dir: dir, Log: log}); err != nil {
		return nil, err
	}
	o.warnExternal(log, res)
	if len(res.Converted) > 0 {
		var paths []string
		for _, c := range res.Converted {
			paths = append(paths, relTo(dir, c.Path))
		}
		kind, works := "external", "`docker vault deploy`"
		if o.Plan.To == ToEnvironment {
			kind, works = "environment", "`docker vault run -- docker compose up`"
		}
		fmt.Fprintf(log, "note: the files of the secrets converted to %s ones are left as they were and still hold the values; delete them once %s works: %s\n", kind, works, strings.Join(paths, ", "))
	}
	return res, nil
}

// inVault makes sure, for --to environment without --push, that Key Vault
// holds every value of the plan already: the project is about to hold them
// nowhere else.
func (o RunOptions) inVault(ctx context.Context, log io.Writer, res *Result) error {
	checks, err := o.check(ctx, res)
	if err != nil {
		return err
	}
	var missing []string
	for _, c := range checks {
		switch c.Action {
		case PushUnchanged:
		case PushCreate:
			missing = append(missing, fmt.Sprintf("%s (Key Vault secret %s does not exist)", c.Secret, c.KVName))
		default:
			missing = append(missing, fmt.Sprintf("%s (Key Vault secret %s holds another value)", c.Secret, c.KVName))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("nothing was changed: without --push, --to environment needs Key Vault to hold every value already, and it does not for secrets %s: add --push to store them", strings.Join(missing, ", "))
	}
	fmt.Fprintf(log, "note: Key Vault holds the values of all %d secrets already; nothing was pushed\n", len(checks))
	return nil
}

// prepare is Prepare, then, with --to external, the conversion of the
// project's file secrets.
func (o RunOptions) prepare(ctx context.Context) (*Result, error) {
	prep, err := Prepare(ctx, o.Load, o.Detect, o.Plan)
	if err != nil {
		return nil, err
	}
	res := newResult(prep)
	if o.Plan.To == ToExternal || o.Plan.To == ToEnvironment {
		// A dry run that stores nothing needs no value.
		if res.Converted, err = convertFiles(ctx, prep, o.Push || !o.DryRun, o.Plan.To); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// convertFiles adds the conversion of the project's file secrets to the
// plan (convert.Plan): the rewritten compose files, proven to load together
// with the rest of the plan, and the values to push.
func convertFiles(ctx context.Context, prep *Prepared, values bool, to Target) ([]convert.Source, error) {
	plan := prep.Plan
	current := map[string][]byte{}
	for _, f := range plan.Files {
		if f.Kind == "compose" {
			current[f.Path] = f.New
		}
	}
	co := convert.Options{Values: values}
	if to == ToEnvironment {
		// The converted secrets' variables avoid what the rewritten
		// project uses and the moved secrets' variables.
		avoid, err := UsedVariables(prep.Project, plan.overlay())
		if err != nil {
			return nil, err
		}
		for _, v := range plan.Variables {
			avoid[v] = true
		}
		vars := NewVariables(avoid)
		co.Variable = func(src convert.Source) string { return vars.For(src.Secret) }
		co.Keep = func(src convert.Source) string { return KeepForReadOnly(prep.Project.Compose, src.Secret) }
	}
	conv, err := convert.Plan(prep.Project, current, co)
	if err != nil {
		return nil, err
	}
	plan.Warnings = append(plan.Warnings, conv.Kept...)
	if co.Variable != nil {
		for _, v := range conv.Secrets {
			if plan.Variables == nil {
				plan.Variables = map[string]string{}
			}
			plan.Variables[v.Secret] = co.Variable(v.Source)
		}
	}
	if len(conv.Secrets) == 0 {
		return nil, nil
	}
	claims := mapping.Claims{}
	for _, p := range plan.Pushes {
		if err := claims.Claim(p.Secret, p.KVName, ""); err != nil {
			return nil, err
		}
	}
	var out []convert.Source
	for _, v := range conv.Secrets {
		out = append(out, v.Source)
		if !v.Push {
			continue
		}
		if err := claims.Claim(v.Secret, v.KVName, ""); err != nil {
			conv.Clear()
			return nil, err
		}
		plan.Pushes = append(plan.Pushes, Push{Secret: v.Secret, KVName: v.KVName, Value: v.Value})
	}
	paths := slices.Sorted(maps.Keys(conv.Files))
	for _, path := range paths {
		i := slices.IndexFunc(plan.Files, func(f *File) bool { return f.Path == path })
		if i >= 0 {
			plan.Files[i].New = conv.Files[path]
			continue
		}
		plan.Files = append(plan.Files, &File{Path: path, Kind: "compose", Old: composeContent(prep.Project, path), New: conv.Files[path]})
	}
	if overlay := plan.overlay(); len(overlay) > 0 {
		if err := compose.Check(ctx, prep.Project, overlay); err != nil {
			return nil, reloadError(err)
		}
	}
	return out, nil
}

// composeContent is the content a compose file of the project was read
// with.
func composeContent(p *compose.Project, path string) []byte {
	for _, f := range p.Files {
		if f.Path == path {
			return f.Content
		}
	}
	return nil
}

// warnExternal says, after a migration to external secrets, that plain
// Compose cannot use them, and which command can; after one to environment
// secrets, which command fills them, and that swarm cannot use them.
func (o RunOptions) warnExternal(log io.Writer, res *Result) {
	if !res.Plan.Changed() {
		return
	}
	switch o.Plan.To {
	case ToExternal:
		fmt.Fprintln(log, "warning: external secrets exist only in a swarm, so plain `docker compose up` cannot use them: deploy the project with `docker vault deploy STACK`, which stores the current Key Vault values in swarm secrets first")
	case ToEnvironment:
		fmt.Fprintln(log, "warning: environment secrets are filled from compose's own environment: run the project with `docker vault run -- docker compose up` (plain `docker compose up` fails while their variables are unset); `docker stack deploy` does not accept them, so keep external secrets in a project deployed with `docker vault deploy`, and start it locally with `docker vault up`")
	}
}

// relTo is path relative to dir when it is below it.
func relTo(dir, path string) string {
	if rel, err := filepath.Rel(dir, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

func newResult(prep *Prepared) *Result {
	return &Result{Project: prep.Project, Report: prep.Report, Plan: prep.Plan, Mask: NewMask(prep.Project, prep.Report)}
}

// openVault opens the vault the project names, within VaultContext; the
// returned cancel ends that bound.
func (o RunOptions) openVault(ctx context.Context, res *Result) (context.Context, keyvault.Store, context.CancelFunc, error) {
	cancel := context.CancelFunc(func() {})
	projectURL, err := mapping.VaultURL(res.Project.Compose)
	if err != nil {
		return ctx, nil, cancel, err
	}
	if o.VaultContext != nil {
		ctx, cancel = o.VaultContext(ctx)
	}
	store, err := o.OpenVault(ctx, projectURL)
	if err != nil {
		return ctx, nil, cancel, err
	}
	return ctx, store, cancel, nil
}

// push opens the vault and stores the plan's values.
func (o RunOptions) push(ctx context.Context, res *Result) ([]string, error) {
	ctx, store, cancel, err := o.openVault(ctx, res)
	defer cancel()
	if err != nil {
		return nil, err
	}
	pushed, err := PushAll(ctx, store, res.Plan.Pushes, PushOptions{Overwrite: o.Overwrite})
	if err != nil {
		return nil, fmt.Errorf("no file was changed: %w", err)
	}
	return pushed, nil
}

// check opens the vault and tells what pushing the plan's values would do.
func (o RunOptions) check(ctx context.Context, res *Result) ([]PushCheck, error) {
	ctx, store, cancel, err := o.openVault(ctx, res)
	defer cancel()
	if err != nil {
		return nil, err
	}
	return CheckPushes(ctx, store, res.Plan.Pushes, PushOptions{Overwrite: o.Overwrite})
}
