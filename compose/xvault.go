package compose

import (
	"maps"
	"slices"
	"strings"

	"github.com/docker-vault/docker-vault/internal/mapping"
)

// VaultConfig is the project's top-level x-vault (see mapping.Config,
// which reads it for every command) as Detect consults it: the project's
// own word on what is a secret, which wins over the rules.
type VaultConfig struct {
	mapping.Config
	// images indexes Config.ImageFileVariables by the key as written (a
	// service name) and by its normalized image name, so that
	// "postgres" names docker.io/library/postgres:16 too.
	images map[string]map[string]mapping.FileVariable
}

// ParseVaultConfig reads the x-vault extension as compose-go decoded it.
func ParseVaultConfig(ext any) (VaultConfig, error) {
	cfg, err := mapping.ParseConfig(ext)
	if err != nil {
		return VaultConfig{}, err
	}
	c := VaultConfig{Config: cfg, images: map[string]map[string]mapping.FileVariable{}}
	keys := slices.Sorted(maps.Keys(cfg.ImageFileVariables))
	for _, k := range keys {
		c.images[k] = cfg.ImageFileVariables[k]
	}
	// A key as written wins over another key's normalized form.
	for _, k := range keys {
		if n := NormalizeImage(k); c.images[n] == nil {
			c.images[n] = cfg.ImageFileVariables[k]
		}
	}
	return c, nil
}

// fileSupportOf is what an x-vault file-variables entry says.
func fileSupportOf(fv mapping.FileVariable) FileSupport {
	return FileSupport{Variable: fv.Variable, Kind: FileVarKind(fv.Kind), Source: "x-vault"}
}

// matches reports whether a VAR or SERVICE.VAR entry names this variable.
func matches(entries []string, service, variable string) bool {
	for _, e := range entries {
		if e == variable || (strings.HasPrefix(e, service+".") && e[len(service)+1:] == variable) {
			return true
		}
	}
	return false
}

// fileSupport decides which file variable a service's image reads for a
// variable: x-vault first, then the built-in table. explicit says x-vault
// decided (including "none").
func (c VaultConfig) fileSupport(service, image, variable string) (fs FileSupport, ok bool, explicit bool) {
	if fs, ok, explicit = c.explicitFileSupport(service, image, variable); explicit || image == "" {
		return fs, ok, explicit
	}
	fs, ok = BuiltinFileSupport(image, variable)
	return fs, ok, false
}

// explicitFileSupport is what x-vault's file-variables say of a variable,
// if they name it (explicit), "none" included (ok false).
func (c VaultConfig) explicitFileSupport(service, image, variable string) (fs FileSupport, ok bool, explicit bool) {
	for _, k := range []string{service + "." + variable, variable} {
		if fv, found := c.FileVariables[k]; found {
			return fileSupportOf(fv), fv.Variable != "", true
		}
	}
	for _, k := range []string{service, NormalizeImage(image)} {
		vars, found := c.images[k]
		if !found || k == "" {
			continue
		}
		if fv, found := vars[variable]; found {
			return fileSupportOf(fv), fv.Variable != "", true
		}
		if fv, found := vars["*"]; found && fv.Variable != "" {
			fv.Variable = variable + fv.Variable
			return fileSupportOf(fv), true, true
		}
	}
	return FileSupport{}, false, false
}
