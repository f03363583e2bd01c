package mapping

import (
	"fmt"
	"maps"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
)

// Config is the project's top-level x-vault, read once for every command:
// the vault and which file secrets are backed (sync, deploy, ls, build),
// and the project's own word on what is a secret (migrate and scan, through
// package compose).
//
//	x-vault:
//	  url: https://myvault.vault.azure.net   # the Key Vault
//	  files: true                            # back every file secret
//	  include:                               # always secrets
//	    - API_TOKEN                          #   in every service
//	    - backend.PG_PASSWORD                #   in one service
//	  exclude:                               # never secrets
//	    - db.MYSQL_USER
//	  file-variables:                        # what images read from files
//	    PG_PASSWORD: PG_PASSWORD_FILE        #   a variable, any service
//	    backend.API_TOKEN: API_TOKEN_FILE    #   a variable of one service
//	    myorg/api:                           #   an image (or a service name)
//	      DB_PASS: DB_PASS_FILE
//	      "*": _FILE                         #   every secret variable + suffix
//	    pihole/pihole:
//	      WEBPASSWORD: {variable: WEBPASSWORD_FILE, kind: name}
//	    mssql/server:
//	      SA_PASSWORD: ""                    #   "" or false: no file variant
//
// Include and exclude entries name a variable ("VAR") or a variable of one
// service ("SERVICE.VAR").
type Config struct {
	// URL is the vault (`url:`), empty when the file names none.
	URL string
	// Files backs every file secret that has no x-vault of its own
	// (`files: true`).
	Files bool

	Include []string
	Exclude []string
	// FileVariables is keyed by "VAR" or "SERVICE.VAR".
	FileVariables map[string]FileVariable
	// ImageFileVariables is keyed by image or service name as the file
	// writes it, then by VAR or "*" (whose Variable is a suffix).
	ImageFileVariables map[string]map[string]FileVariable
}

// FileVariable is what file-variables says an image reads from a file in
// place of one variable.
type FileVariable struct {
	// Variable is the file variable (VAR_FILE), a suffix under "*", or
	// empty: the image has no file variant.
	Variable string
	// Kind is "path" (the variable holds the file's path) or "name" (the
	// name of a secret under /run/secrets); empty with "", false or null.
	Kind string
}

// ReadConfig reads the project's top-level x-vault.
func ReadConfig(p *types.Project) (Config, error) {
	return ParseConfig(p.Extensions[Extension])
}

// ParseConfig reads a top-level x-vault as compose-go decoded it. Keys it
// does not know are left alone rather than rejected, so older binaries read
// newer files.
func ParseConfig(ext any) (Config, error) {
	var c Config
	if ext == nil {
		return c, nil
	}
	m, ok := ext.(map[string]any)
	if !ok {
		return c, fmt.Errorf("top-level %s must be a mapping (url, files)", Extension)
	}
	// In key order, so a file with two mistakes always reports the same one.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		var err error
		switch k {
		case "url":
			if c.URL, ok = v.(string); !ok {
				err = fmt.Errorf("top-level %s.url must be a string", Extension)
			}
		case "files":
			if c.Files, ok = v.(bool); !ok {
				err = fmt.Errorf("top-level %s.files must be true or false", Extension)
			}
		case "include":
			c.Include, err = stringList(Extension+".include", v)
		case "exclude":
			c.Exclude, err = stringList(Extension+".exclude", v)
		case "file-variables":
			err = c.parseFileVariables(v)
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

func stringList(what string, v any) ([]string, error) {
	switch l := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{l}, nil
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s must be a list of strings, got an item of type %T", what, e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s must be a list of strings, got %T", what, v)
}

func (c *Config) parseFileVariables(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s.file-variables must be a mapping, got %T", Extension, v)
	}
	c.FileVariables = map[string]FileVariable{}
	c.ImageFileVariables = map[string]map[string]FileVariable{}
	for k, val := range m {
		what := Extension + ".file-variables." + k
		// A mapping without a variable: key is an image's (or service's)
		// table of variables.
		if sub, ok := val.(map[string]any); ok {
			if _, isSpec := sub["variable"]; !isSpec {
				vars := map[string]FileVariable{}
				for vk, vv := range sub {
					fv, err := fileVariable(what+"."+vk, vv)
					if err != nil {
						return err
					}
					vars[vk] = fv
				}
				c.ImageFileVariables[k] = vars
				continue
			}
		}
		fv, err := fileVariable(what, val)
		if err != nil {
			return err
		}
		c.FileVariables[k] = fv
	}
	return nil
}

// fileVariable decodes VAR_FILE, {variable: VAR_FILE, kind: name}, and
// "" / false / null (no file variant).
func fileVariable(what string, v any) (FileVariable, error) {
	fv := FileVariable{Kind: "path"}
	switch t := v.(type) {
	case nil:
		return FileVariable{}, nil
	case bool:
		if t {
			return fv, fmt.Errorf("%s: true is not a variable name; write the file variable, or false for none", what)
		}
		return FileVariable{}, nil
	case string:
		if t == "" {
			return FileVariable{}, nil
		}
		fv.Variable = t
		return fv, nil
	case map[string]any:
		s, ok := t["variable"].(string)
		if !ok {
			return fv, fmt.Errorf("%s.variable must be a string", what)
		}
		fv.Variable = s
		if k, ok := t["kind"]; ok {
			switch k {
			case "path":
			case "name":
				fv.Kind = "name"
			default:
				return fv, fmt.Errorf("%s.kind must be path or name, got %v", what, k)
			}
		}
		return fv, nil
	}
	return fv, fmt.Errorf("%s must be a variable name or {variable, kind}, got %T", what, v)
}
