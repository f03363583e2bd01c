package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
)

// This file resolves services' environment from their env files the way
// compose-go does, from the bytes this package keeps (and an overlay).

// resolveEnvironment does what compose-go's Project.WithServicesEnvironmentResolved
// does (types/project.go resolveEnvironment), reading env files through src:
// pass-through entries take the project environment, env_file values come
// next and explicit environment entries win over them.
func (p *Project) resolveEnvironment(proj *types.Project, src fileSource) error {
	resolve := func(spec *types.ContainerSpec) error {
		spec.Environment = spec.Environment.Resolve(proj.Environment.Resolve)
		environment := spec.Environment.ToMapping()
		for _, ref := range spec.EnvFiles {
			ef, err := p.serviceEnvFile(ref, src, func(k string) (string, bool) {
				if v, ok := proj.Environment.Resolve(k); ok {
					return v, true
				}
				if s, ok := spec.Environment[k]; ok && s != nil {
					return *s, true
				}
				return "", false
			})
			if err != nil {
				return err
			}
			for k, v := range ef.values {
				environment[k] = v
			}
		}
		spec.Environment = environment.ToMappingWithEquals().OverrideBy(spec.Environment)
		return nil
	}
	// In name order, so that the env files are listed in the same order
	// on every load.
	for _, name := range slices.Sorted(maps.Keys(proj.Services)) {
		s := proj.Services[name]
		if err := resolve(&s.ContainerSpec); err != nil {
			return err
		}
		for j := range s.PreStart {
			if len(s.PreStart[j].Environment) == 0 && len(s.PreStart[j].EnvFiles) == 0 {
				continue
			}
			if err := resolve(&s.PreStart[j].ContainerSpec); err != nil {
				return err
			}
		}
		proj.Services[name] = s
	}
	return nil
}

// serviceEnvFile reads and parses a service's env_file once per project.
func (p *Project) serviceEnvFile(ref types.EnvFile, src fileSource, lookup dotenv.LookupFn) (*EnvFile, error) {
	if ef, ok := p.envByPath[ref.Path]; ok && ef.Kind == EnvService {
		return ef, nil
	}
	ef := &EnvFile{Path: ref.Path, Kind: EnvService}
	if !src.exists(ref.Path) {
		if ref.Required {
			return nil, fmt.Errorf("env file %s not found: %w", ref.Path, fs.ErrNotExist)
		}
		ef.Missing = true
		ef.values = map[string]string{}
		p.addEnvFile(ef)
		return ef, nil
	}
	b, err := src.read(ref.Path)
	if err != nil {
		return nil, ReadFailed("env file", ref.Path, err)
	}
	ef.Content = b
	if err := ef.parse(lookup, ref.Format); err != nil {
		return nil, err
	}
	p.addEnvFile(ef)
	return ef, nil
}

// readEnvFiles reads and parses env files in order, each interpolated
// with base and then what the earlier ones defined, as GetEnvFromFile
// does, and returns them and what they define together. open reads one,
// or returns nil to skip it. Each is added to the project as soon as it
// parses: an error's explanation then knows the values read so far.
func (p *Project) readEnvFiles(paths []string, base types.Mapping, open func(path string) (*EnvFile, error)) ([]*EnvFile, map[string]string, error) {
	var files []*EnvFile
	fromFiles := map[string]string{}
	for _, path := range paths {
		ef, err := open(path)
		if err != nil {
			return nil, nil, err
		}
		if ef == nil {
			continue
		}
		if err := ef.parse(func(k string) (string, bool) {
			if v, ok := base[k]; ok {
				return v, true
			}
			v, ok := fromFiles[k]
			return v, ok
		}, ""); err != nil {
			return nil, nil, err
		}
		maps.Copy(fromFiles, ef.values)
		files = append(files, ef)
		p.addEnvFile(ef)
	}
	return files, fromFiles, nil
}

// ReadFailed says that a file could not be read, naming it once: an
// *fs.PathError would name it again ("failed to read env file X: open X:
// permission denied").
func ReadFailed(what, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("failed to read %s %s: %w", what, path, err)
}

// parse reads the env file with compose's dotenv parser. Its error says
// where and why, never what is written there (see envFileError).
func (ef *EnvFile) parse(lookup dotenv.LookupFn, format string) error {
	ef.values = map[string]string{}
	if err := dotenv.ParseWithFormat(bytes.NewReader(ef.Content), ef.Path, ef.values, lookup, format); err != nil {
		return envFileError(ef.Path, ef.Content, err, func(b []byte) error {
			return dotenv.ParseWithFormat(bytes.NewReader(b), ef.Path, map[string]string{}, lookup, format)
		})
	}
	ef.keys = scanEnvKeys(ef.Content)
	return nil
}
