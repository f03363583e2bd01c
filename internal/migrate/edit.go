package migrate

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/yamledit"
)

// The edits of one finding: its variable, the service's secrets: list and
// the top-level declaration, in the parsed compose and env files the
// planner keeps.

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
	if f.Via == compose.ViaEntrypoint {
		return pl.migrateWrapped(f)
	}
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
		done := path + "\x00" + f.Variable
		if err := e.Replace(f.Variable, f.FileVariable, target); err != nil {
			// A wrapped service sharing the env file may have made the
			// same edit already.
			if !errors.Is(err, yamledit.ErrNotFound) || pl.envDone[done] != f.FileVariable+"="+target {
				return 0, notRewritten(err)
			}
		}
		pl.envDone[done] = f.FileVariable + "=" + target
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
	envDone := maps.Clone(pl.envDone)
	wrapVars := map[string]map[string]string{}
	for s, v := range pl.wrapVars {
		wrapVars[s] = maps.Clone(v)
	}
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
	if perr := restore(pl.docs, docs, yamledit.Parse); perr != nil {
		return perr
	}
	if perr := restore(pl.envs, envs, yamledit.ParseEnvFile); perr != nil {
		return perr
	}
	pl.declared, pl.declaredIn, pl.refs = declared, declaredIn, pl.refs[:nrefs]
	pl.envDone, pl.wrapVars = envDone, wrapVars
	return err
}

// restore puts the parsed files back as saved: each parsed again from its
// saved bytes, and the ones parsed since dropped.
func restore[T any](parsed map[string]T, saved map[string][]byte, parse func(path string, b []byte) (T, error)) error {
	for path, b := range saved {
		v, err := parse(path, b)
		if err != nil {
			return err
		}
		parsed[path] = v
	}
	for path := range parsed {
		if _, ok := saved[path]; !ok {
			delete(parsed, path)
		}
	}
	return nil
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
	case ToEnvironment:
		// The derived Key Vault name is the secret's: no x-vault needed.
		fields = [][2]string{{"environment", yamledit.Quote(pl.vars.For(name))}}
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

// migrateWrapped makes the edits of a finding moved through the entrypoint
// wrapper: the variable's entry goes (or becomes the file variable a
// service sharing it reads), the service lists the secret, the project
// declares it, and the service's wrapper exports the variable from it.
func (pl *planner) migrateWrapped(f compose.Finding) (int, error) {
	img, err := pl.canWrap(f)
	if err != nil {
		return 0, err
	}
	path := f.Source.Position.File
	fv := pl.sharerFileVariable(f)
	switch f.Source.Kind {
	case compose.SourceLiteral, compose.SourceInterpolated, compose.SourcePassThrough:
		d, err := pl.doc(path)
		if err != nil {
			return 0, err
		}
		if fv != nil {
			err = d.ReplaceEnv(f.Service, f.Variable, fv.FileVariable, fileVarTarget(*fv))
		} else {
			err = d.RemoveEnv(f.Service, f.Variable)
		}
		if err != nil {
			return 0, notRewritten(err)
		}
	case compose.SourceEnvFile:
		e, err := pl.env(path)
		if err != nil {
			return 0, err
		}
		done, want := path+"\x00"+f.Variable, ""
		if fv != nil {
			want = fv.FileVariable + "=" + fileVarTarget(*fv)
		}
		switch {
		case !slices.Contains(e.Keys(), f.Variable):
			if d, ok := pl.envDone[done]; !ok || d != want {
				return 0, cannotEdit{fmt.Sprintf("not rewritten: %s no longer defines %s", path, f.Variable)}
			}
		case fv != nil:
			if err := e.Replace(f.Variable, fv.FileVariable, fileVarTarget(*fv)); err != nil {
				return 0, notRewritten(err)
			}
		default:
			if !e.Remove(f.Variable) {
				return 0, cannotEdit{fmt.Sprintf("not rewritten: %s: %s cannot be removed", path, f.Variable)}
			}
		}
		pl.envDone[done] = want
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
	if err := pl.wrap(f, img); err != nil {
		return 3, err
	}
	pl.refs = append(pl.refs, f.Source.Refs...)
	return 4, nil
}

// fileVarTarget is the value of a file variable finding's new entry.
func fileVarTarget(f compose.Finding) string {
	if f.FileVariableKind == compose.FileVarName {
		return f.SecretName
	}
	return "/run/secrets/" + f.SecretName
}
