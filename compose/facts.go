package compose

import (
	"bytes"
	"reflect"

	"github.com/compose-spec/compose-go/v2/types"
)

// facts returns the part of compose-go's model that Detect reads, and only
// that: the working directory, x-vault, the names of the top-level secrets
// and of the disabled services, and of each service its name, image,
// environment, env_file list, build section, command, entrypoint and
// healthcheck test. Detect sees the model only through facts, so a field it
// starts reading has to be added here, and two projects with equal facts
// and the same files get the same report (SameFacts).
func facts(m *types.Project) *types.Project {
	out := &types.Project{
		WorkingDir:       m.WorkingDir,
		Services:         make(types.Services, len(m.Services)),
		Secrets:          make(types.Secrets, len(m.Secrets)),
		DisabledServices: make(types.Services, len(m.DisabledServices)),
	}
	if v, ok := m.Extensions["x-vault"]; ok {
		out.Extensions = types.Extensions{"x-vault": v}
	}
	for name, s := range m.Services {
		f := types.ServiceConfig{Name: s.Name}
		f.Build = s.Build
		f.Image, f.Command, f.Entrypoint = s.Image, s.Command, s.Entrypoint
		f.Environment, f.EnvFiles = s.Environment, s.EnvFiles
		if s.HealthCheck != nil {
			f.HealthCheck = &types.HealthCheckConfig{Test: s.HealthCheck.Test}
		}
		out.Services[name] = f
	}
	for name := range m.Secrets {
		out.Secrets[name] = types.SecretConfig{}
	}
	for name := range m.DisabledServices {
		out.DisabledServices[name] = types.ServiceConfig{}
	}
	return out
}

// SameFacts reports whether Detect sees the same project in a and b: the
// same compose files read (the same *File), the same env files with the same
// bytes, the same Dockerfiles, and equal facts of their models. migrate
// plans on a guessed model (Loading.Guess) while compose-go loads the real
// one, and keeps that plan only when SameFacts holds.
func SameFacts(a, b *Project) bool {
	if a.Compose == nil || b.Compose == nil || a.DotEnv != b.DotEnv ||
		len(a.Files) != len(b.Files) || len(a.EnvFiles) != len(b.EnvFiles) || len(a.Dockerfiles) != len(b.Dockerfiles) {
		return false
	}
	for i := range a.Files {
		if a.Files[i] != b.Files[i] {
			return false
		}
	}
	for i, ea := range a.EnvFiles {
		eb := b.EnvFiles[i]
		if ea.Path != eb.Path || ea.Kind != eb.Kind || ea.Missing != eb.Missing || !bytes.Equal(ea.Content, eb.Content) {
			return false
		}
	}
	for i, da := range a.Dockerfiles {
		if !reflect.DeepEqual(*da, *b.Dockerfiles[i]) {
			return false
		}
	}
	return reflect.DeepEqual(facts(a.Compose), facts(b.Compose))
}
