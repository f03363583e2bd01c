// Package compose loads a Compose project the way `docker compose` does and
// finds the secrets it holds in environment variables.
//
// compose-go gives the final model (what a container will get) but forgets
// where each value was written. A migration has to edit those places, so
// Load also keeps the raw YAML (yaml.v3 nodes, anchors and merge keys
// resolved when walked) of every compose file read, included and extended
// ones too, and the bytes of every env file, and Detect traces each
// variable back to the file, line and column that set it.
package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/consts"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/errdefs"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker-vault/docker-vault/internal/composeyaml"
	yaml "go.yaml.in/yaml/v3"
)

// LoadOptions are the inputs `docker compose` takes to find a project.
type LoadOptions struct {
	// Files are the -f files, relative to WorkingDir. Empty means COMPOSE_FILE,
	// then compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml
	// (and the matching override file) in the project directory or a parent.
	Files []string
	// ProjectDir is --project-directory; empty means the directory of the
	// first compose file.
	ProjectDir string
	// EnvFiles are the --env-file files; empty means <project dir>/.env when
	// it exists (unless COMPOSE_DISABLE_ENV_FILE is true).
	EnvFiles []string
	// Profiles are the --profile values; empty means COMPOSE_PROFILES.
	Profiles []string
	// ProjectName is -p; empty means COMPOSE_PROJECT_NAME, the name: of the
	// compose files, then the project directory's name.
	ProjectName string
	// WorkingDir is the directory relative paths are taken from (the
	// process's working directory); empty means the current one.
	WorkingDir string
	// NoConsistency is `docker compose config --no-consistency`: references
	// to undeclared volumes, networks, secrets or configs are not errors.
	NoConsistency bool
	// Quiet keeps compose-go from warning (on stderr, through logrus) of
	// every variable a file references and nothing sets. docker compose
	// warns because a container would get a blank; a scan reads files
	// with no shell, where unset is the norm and the warning is noise.
	Quiet bool
	// Environ is the process environment as KEY=VALUE strings. It is passed
	// in, never read from os here, so tests and callers decide what the
	// shell holds.
	Environ []string
}

// FileRole says why a compose file was read.
type FileRole string

const (
	RoleMain    FileRole = "main"    // a -f file, COMPOSE_FILE or a discovered one
	RoleInclude FileRole = "include" // named by an include: entry
	RoleExtends FileRole = "extends" // named by extends.file
)

// File is one compose file read to build the project.
type File struct {
	// Path is absolute.
	Path string   `json:"path"`
	Role FileRole `json:"role"`
	// Dir is the directory the relative paths written in this file resolve
	// against, as compose-go resolves them: the project directory for main
	// files, the included project's directory for included ones, the file's
	// own directory for extends bases.
	Dir string `json:"dir"`
	// Content is the file as read; Docs its YAML documents (usually one).
	// Both may hold secret values.
	Content []byte       `json:"-"`
	Docs    []*yaml.Node `json:"-"`

	// env is the environment this file is interpolated with: the project's,
	// plus an include's own env files.
	env types.Mapping
	// envSources are the env files behind env, lowest precedence first.
	envSources []*EnvFile
	includes   []*File
}

// EnvFileKind says how an env file came into the project.
type EnvFileKind string

const (
	EnvDotEnv  EnvFileKind = "dotenv"   // the default <project dir>/.env
	EnvFlag    EnvFileKind = "env-file" // --env-file
	EnvInclude EnvFileKind = "include"  // an include: entry's env_file or its project's .env
	EnvService EnvFileKind = "env_file" // a service's env_file:
)

// EnvFile is one env file read.
type EnvFile struct {
	Path string      `json:"path"`
	Kind EnvFileKind `json:"kind"`
	// Missing: an env_file with required: false that does not exist.
	Missing bool   `json:"missing,omitempty"`
	Content []byte `json:"-"`

	// values holds what this file alone defines; keys where each is written.
	values map[string]string
	keys   map[string]envKey
}

// Project is a loaded Compose project plus what compose-go does not keep:
// which files were read and their bytes.
type Project struct {
	// Compose is compose-go's model: interpolated, merged, env_file resolved
	// into each service's Environment, profiles applied.
	Compose *types.Project `json:"-"`
	// Files are the compose files read: the main ones in -f order, then the
	// included and extended ones in the order they were found.
	Files []*File `json:"files"`
	// EnvFiles are the env files read: the project's (.env or --env-file),
	// include ones, and services' env_file.
	EnvFiles []*EnvFile `json:"env_files"`
	// DotEnv is the default .env used for interpolation, "" when there was
	// none or --env-file replaced it.
	DotEnv string `json:"dotenv,omitempty"`
	// Dockerfiles are the Dockerfiles of the services that build.
	Dockerfiles []*Dockerfile `json:"dockerfiles,omitempty"`

	shell  types.Mapping
	opts   resolved
	byPath map[string]*File
	// envByPath caches env files by absolute path.
	envByPath map[string]*EnvFile
	svcIndex  map[*File]map[string][]svcNode
}

// Dockerfile is the Dockerfile a service builds with.
type Dockerfile struct {
	Services []string `json:"services"`
	// Path is absolute; for dockerfile_inline it is the compose file.
	Path   string `json:"path"`
	Inline bool   `json:"inline,omitempty"`
	// Line is where an inline Dockerfile's text starts in Path.
	Line    int    `json:"line,omitempty"`
	Content []byte `json:"-"`
	// Err says why it could not be read (remote context, missing file).
	Err string `json:"error,omitempty"`
}

// YAMLError is a compose file that is not valid YAML, or whose aliases no
// compose loader can expand: the one syntax error of the YAML layer.
type YAMLError = composeyaml.SyntaxError

// resolved is LoadOptions after discovery: what a Reload reuses.
type resolved struct {
	workingDir    string
	projectDir    string
	files         []string
	envFiles      []string
	envKind       EnvFileKind
	profiles      []string
	name          string
	nameExplicit  bool
	noConsistency bool
	quiet         bool
	shell         types.Mapping
}

// Load finds and loads a project as `docker compose` would, and keeps the
// raw material Detect traces sources with. A file that is not valid YAML,
// or whose aliases cannot be expanded (one that includes itself, an alias
// bomb), is reported with file:line:column before compose-go reads it:
// compose-go takes seconds of CPU to refuse a self-including anchor.
func Load(ctx context.Context, opts LoadOptions) (*Project, error) {
	r, err := resolveOptions(opts)
	if err != nil {
		return nil, err
	}
	return r.load(ctx, nil)
}

// Reload loads p again with some files replaced by overlay (absolute path ->
// new content), reading nothing else differently, and returns the new
// project: for a caller that inspects what its rewrite loads as (migrate's
// fuzz test does). A rewriter that only needs the proof that its output
// still loads calls Check, which does less.
//
// Main compose files, the project's env files and services' env_file are
// taken from the overlay. compose-go reads included and extends files from
// disk itself, so an overlaid one is instead loaded on its own (as the
// include: or extends would, from its directory, with the same environment)
// after the project loads with the original on disk; the returned
// project's Compose model then reflects the file on disk, its Files the
// overlay. Paths in overlay that the project does not read are ignored.
func Reload(ctx context.Context, p *Project, overlay map[string][]byte) (*Project, error) {
	np, err := p.opts.load(ctx, overlay)
	if err != nil {
		return nil, err
	}
	if err := loadOthers(ctx, p, overlay); err != nil {
		return nil, err
	}
	return np, nil
}

// Check is Reload for a caller that only needs to know that the project
// still loads: compose-go loads it with overlay as Reload does, and the
// env files are read again, but no model is returned, so the compose files
// are not parsed for positions nor included files and Dockerfiles read.
func Check(ctx context.Context, p *Project, overlay map[string][]byte) error {
	pd, err := p.opts.read(fileSource(overlay))
	if err != nil {
		return err
	}
	proj, err := pd.compose(ctx)
	if err != nil {
		return pd.explain(err)
	}
	if err := pd.p.resolveEnvironment(proj, pd.src); err != nil {
		return err
	}
	return loadOthers(ctx, p, overlay)
}

// loadOthers loads the included and extends files of overlay on their own.
func loadOthers(ctx context.Context, p *Project, overlay map[string][]byte) error {
	paths := make([]string, 0, len(overlay))
	for path := range overlay {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		content := overlay[path]
		f := p.byPath[path]
		if f == nil || f.Role == RoleMain {
			continue
		}
		if err := loadAlone(ctx, f, content, p.Compose.Name, p.opts.noConsistency, p.opts.quiet); err != nil {
			return fmt.Errorf("%s no longer loads: %w", path, err)
		}
	}
	return nil
}

// loadAlone validates an included or extends file with new content.
func loadAlone(ctx context.Context, f *File, content []byte, name string, noConsistency, quiet bool) error {
	if _, err := parseYAML(f.Path, content); err != nil {
		return err
	}
	details := types.ConfigDetails{
		WorkingDir:  f.Dir,
		ConfigFiles: []types.ConfigFile{{Filename: f.Path, Content: content}},
		Environment: f.env.Clone(),
	}
	_, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName(name, true)
		o.Profiles = []string{"*"}
		o.SkipResolveEnvironment = true
		// An extends base is a fragment: its services may lean on what
		// the extending file declares.
		o.SkipConsistencyCheck = f.Role == RoleExtends || noConsistency
		if quiet && o.Interpolate != nil {
			o.Interpolate.Substitute = quietSubstitute
		}
	})
	if err != nil {
		alone := &File{Path: f.Path, Role: f.Role, Dir: f.Dir, Content: content, env: f.env}
		alone.Docs, _ = parseYAML(f.Path, content)
		x := &explainer{files: []*File{alone}, src: fileSource{f.Path: content}, env: f.env, envFiles: f.envSources}
		return x.explain(err)
	}
	return nil
}

func resolveOptions(opts LoadOptions) (resolved, error) {
	r := resolved{shell: types.NewMapping(opts.Environ)}
	wd := opts.WorkingDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return r, fmt.Errorf("failed to find the working directory: %w", err)
		}
	}
	wd, err := filepath.Abs(wd)
	if err != nil {
		return r, err
	}
	r.workingDir = wd
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(wd, p)
	}
	projectDir := ""
	if opts.ProjectDir != "" {
		projectDir = abs(opts.ProjectDir)
	}

	for _, f := range opts.Files {
		if f == "-" {
			return r, errors.New("reading a compose file from stdin is not supported: pass a file with -f")
		}
		r.files = append(r.files, abs(f))
	}
	if len(r.files) == 0 {
		// COMPOSE_FILE may come from the shell or from the .env next to
		// where we stand, as docker compose reads it before discovery.
		start := projectDir
		if start == "" {
			start = wd
		}
		env := r.shell.Clone()
		if files := envFileList(opts.EnvFiles, abs, start, r.shell); len(files) > 0 {
			if m, err := dotenv.GetEnvFromFile(r.shell, files); err == nil {
				env.Merge(m)
			}
		}
		if v, ok := env[consts.ComposeFilePath]; ok && v != "" {
			sep := env[consts.ComposePathSeparator]
			if sep == "" {
				sep = string(os.PathListSeparator)
			}
			for _, f := range strings.Split(v, sep) {
				r.files = append(r.files, abs(f))
			}
		} else {
			found, err := discover(start)
			if err != nil {
				return r, err
			}
			r.files = found
		}
	}
	if projectDir == "" {
		projectDir = filepath.Dir(r.files[0])
	}
	r.projectDir = projectDir

	r.envKind = EnvFlag
	if len(opts.EnvFiles) == 0 {
		r.envKind = EnvDotEnv
	}
	r.envFiles = envFileList(opts.EnvFiles, abs, projectDir, r.shell)
	r.profiles = opts.Profiles
	r.name = opts.ProjectName
	r.nameExplicit = opts.ProjectName != ""
	r.noConsistency = opts.NoConsistency
	r.quiet = opts.Quiet
	return r, nil
}

// envFileList is --env-file, or the default .env of dir when present.
func envFileList(flags []string, abs func(string) string, dir string, shell types.Mapping) []string {
	if len(flags) > 0 {
		out := make([]string, len(flags))
		for i, f := range flags {
			out[i] = abs(f)
		}
		return out
	}
	if v, ok := shell[consts.ComposeDisableDefaultEnvFile]; ok {
		if b, err := strconv.ParseBool(v); err == nil && b {
			return nil
		}
	}
	f := filepath.Join(dir, ".env")
	if s, err := os.Stat(f); err == nil && !s.IsDir() {
		return []string{f}
	}
	return nil
}

// discover looks for the default compose file names in dir and its parents.
func discover(dir string) ([]string, error) {
	for {
		for _, n := range cli.DefaultFileNames {
			f := filepath.Join(dir, n)
			if _, err := os.Stat(f); err == nil {
				files := []string{f}
				for _, o := range cli.DefaultOverrideFileNames {
					of := filepath.Join(dir, o)
					if _, err := os.Stat(of); err == nil {
						files = append(files, of)
						break
					}
				}
				return files, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, fmt.Errorf("no configuration file provided: use -f FILE, or run in a folder with compose.yaml: %w", errdefs.ErrNotFound)
		}
		dir = parent
	}
}
