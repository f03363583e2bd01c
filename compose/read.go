package compose

import (
	"context"
	"errors"
	"fmt"
	"github.com/compose-spec/compose-go/v2/template"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/compose-spec/compose-go/v2/consts"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// This file is the one reading path Load, Reload and Check share: the
// project's env files and main compose files are read, parsed and checked
// here, then handed to compose-go.

// fileSource reads files, preferring an overlay.
type fileSource map[string][]byte

func (s fileSource) read(path string) ([]byte, error) {
	if b, ok := s[path]; ok {
		return b, nil
	}
	return os.ReadFile(path)
}

func (s fileSource) exists(path string) bool {
	if _, ok := s[path]; ok {
		return true
	}
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// pending is a project whose files are read and not yet loaded by
// compose-go.
type pending struct {
	p       *Project
	src     fileSource
	env     types.Mapping
	details types.ConfigDetails
	setOpts func(*loader.Options)
	// name is the project name compose-go is given.
	name string
}

func (r resolved) load(ctx context.Context, overlay map[string][]byte) (*Project, error) {
	pd, err := r.read(fileSource(overlay))
	if err != nil {
		return nil, err
	}
	if err := pd.parse(); err != nil {
		return nil, err
	}
	// Before compose-go reads them (see readIncluded). Any other error
	// is returned only once compose-go has loaded the project, as its
	// own error (which explain words) comes first.
	incErr := pd.p.readIncluded(pd.src)
	var ye *YAMLError
	if errors.As(incErr, &ye) {
		return nil, incErr
	}
	proj, err := pd.compose(ctx)
	if err != nil {
		return nil, pd.explain(err)
	}
	return pd.finish(proj, incErr)
}

// readEnv reads the project's env files and returns the project
// environment: the shell wins over env files, as in docker compose; PWD is
// the project directory.
func (r resolved) readEnv(p *Project, src fileSource) (types.Mapping, []*EnvFile, error) {
	env := r.shell.Clone()
	env["PWD"] = r.projectDir
	projectEnv, fromFiles, err := p.readEnvFiles(r.envFiles, r.shell, func(path string) (*EnvFile, error) {
		b, err := src.read(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("couldn't find env file: %s", path)
			}
			return nil, ReadFailed("env file", path, err)
		}
		if r.envKind == EnvDotEnv {
			p.DotEnv = path
		}
		return &EnvFile{Path: path, Kind: r.envKind, Content: b}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	for k, v := range fromFiles {
		if _, ok := env[k]; !ok {
			env[k] = v
		}
	}
	return env, projectEnv, nil
}

// read reads the project's env files and main compose files, and works out
// the environment, profiles and name compose-go loads them with.
func (r resolved) read(src fileSource) (*pending, error) {
	p := &Project{shell: r.shell, opts: r, byPath: map[string]*File{}, envByPath: map[string]*EnvFile{}}
	env, projectEnv, err := r.readEnv(p, src)
	if err != nil {
		return nil, err
	}

	profiles := r.profiles
	if len(profiles) == 0 {
		if v := env[consts.ComposeProfiles]; v != "" {
			for _, s := range strings.Split(v, ",") {
				profiles = append(profiles, strings.TrimSpace(s))
			}
		}
	}
	name, explicit := r.name, r.nameExplicit
	if !explicit {
		if v := env[consts.ComposeProjectName]; v != "" {
			name, explicit = v, true
		} else {
			name = loader.NormalizeProjectName(filepath.Base(r.projectDir))
		}
	}

	var configFiles []types.ConfigFile
	for _, path := range r.files {
		b, err := src.read(path)
		if err != nil {
			return nil, ReadFailed("compose file", path, err)
		}
		f := &File{Path: path, Role: RoleMain, Dir: r.projectDir, Content: b, env: env, envSources: projectEnv}
		p.addFile(f)
		configFiles = append(configFiles, types.ConfigFile{Filename: path, Content: b})
	}
	return &pending{
		p:       p,
		src:     src,
		env:     env,
		details: types.ConfigDetails{WorkingDir: r.projectDir, ConfigFiles: configFiles, Environment: env.Clone()},
		name:    name,
		setOpts: func(o *loader.Options) {
			o.SetProjectName(name, explicit)
			o.Profiles = profiles
			// Services' env_file are resolved by finish, from the same
			// bytes this package keeps (and from an overlay on Reload).
			o.SkipResolveEnvironment = true
			o.SkipConsistencyCheck = r.noConsistency
			if r.quiet && o.Interpolate != nil {
				o.Interpolate.Substitute = quietSubstitute
			}
			// label_file is not read here: labels hold no secrets this
			// package moves, and a missing label file is not this tool's
			// to fail on.
			o.SkipResolveLabels = true
		},
	}, nil
}

// parse parses every main file ourselves: a YAML error then comes with
// file:line:column, and compose-go gets the very bytes we keep.
func (pd *pending) parse() error {
	for _, f := range pd.p.Files {
		docs, err := parseYAML(f.Path, f.Content)
		if err != nil {
			return err
		}
		f.Docs = docs
	}
	return nil
}

// compose loads the project with compose-go. Its error is compose-go's,
// which may quote the files: callers pass it through explain.
func (pd *pending) compose(ctx context.Context) (_ *types.Project, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = loaderPanic(r)
		}
	}()
	proj, err := loader.LoadWithContext(ctx, pd.details, pd.setOpts)
	if err != nil {
		return nil, err
	}
	proj.ComposeFiles = append([]string(nil), pd.p.opts.files...)
	return proj, nil
}

// loaderPanic turns a panic of compose-go into an error. The panic's value
// may quote the file, which may hold a secret: the error names only the
// function of compose-go that failed.
func loaderPanic(r any) error {
	where := "compose-go"
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, "compose-spec/compose-go") {
			where = f.Function
			break
		}
		if !more {
			break
		}
	}
	return &LoadError{Reason: fmt.Sprintf("compose-go failed on this project (a %T panic in %s); please report it", r, where)}
}

// finish takes compose-go's model, resolves the services' environment and
// reads the Dockerfiles it names. incErr is what reading the included and
// extended files before compose-go ran failed with.
func (pd *pending) finish(proj *types.Project, incErr error) (*Project, error) {
	p := pd.p
	if err := p.resolveEnvironment(proj, pd.src); err != nil {
		return nil, err
	}
	p.Compose = proj
	if incErr != nil {
		return nil, incErr
	}
	p.readDockerfiles(pd.src)
	return p, nil
}

func (p *Project) addFile(f *File) {
	p.Files = append(p.Files, f)
	p.byPath[f.Path] = f
}

func (p *Project) addEnvFile(ef *EnvFile) {
	if _, ok := p.envByPath[ef.Path]; ok {
		return
	}
	p.EnvFiles = append(p.EnvFiles, ef)
	p.envByPath[ef.Path] = ef
}

// quietSubstitute is compose-go's interpolation without its warning of
// unset variables (LoadOptions.Quiet).
func quietSubstitute(t string, m template.Mapping) (string, error) {
	return template.SubstituteWithOptions(t, m, template.WithoutLogging)
}
