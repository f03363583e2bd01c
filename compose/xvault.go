package compose

import (
	"fmt"
	"sort"
	"strings"
)

// VaultConfig is the top-level x-vault extension of a compose file: the
// project's own word on what is a secret, which wins over the rules.
//
//	x-vault:
//	  url: https://myvault.vault.azure.net   # the Key Vault (used by sync/deploy)
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
// Entries name a variable ("VAR") or a variable of one service
// ("SERVICE.VAR"); a variable whose name has dots (discovery.type) is
// matched whole first.
type VaultConfig struct {
	URL     string   `json:"url,omitempty"`
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
	// FileVariables is keyed by "VAR" or "SERVICE.VAR". A zero FileSupport
	// (empty Variable) says the image has no file variant.
	FileVariables map[string]FileSupport `json:"file_variables,omitempty"`
	// ImageFileVariables is keyed by normalized image or service name, then
	// by VAR or "*" (whose Variable is a suffix).
	ImageFileVariables map[string]map[string]FileSupport `json:"image_file_variables,omitempty"`
}

// ParseVaultConfig reads the x-vault extension as compose-go decoded it.
func ParseVaultConfig(ext any) (VaultConfig, error) {
	var c VaultConfig
	if ext == nil {
		return c, nil
	}
	m, ok := ext.(map[string]any)
	if !ok {
		return c, fmt.Errorf("x-vault must be a mapping, got %T", ext)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		var err error
		switch k {
		case "url":
			s, ok := v.(string)
			if !ok {
				return c, fmt.Errorf("x-vault.url must be a string, got %T", v)
			}
			c.URL = s
		case "include":
			c.Include, err = stringList("x-vault.include", v)
		case "exclude":
			c.Exclude, err = stringList("x-vault.exclude", v)
		case "file-variables":
			err = c.parseFileVariables(v)
		default:
			// Other keys (a version, per-secret settings) belong to other
			// commands; unknown ones are left alone rather than rejected so
			// older binaries read newer files.
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

// fileSupportValue decodes VAR_FILE, {variable: VAR_FILE, kind: name},
// "" / false / null (no file variant).
func fileSupportValue(what string, v any) (FileSupport, error) {
	fs := FileSupport{Kind: FileVarPath, Source: "x-vault"}
	switch t := v.(type) {
	case nil:
		return FileSupport{Source: "x-vault"}, nil
	case bool:
		if t {
			return fs, fmt.Errorf("%s: true is not a variable name; write the file variable, or false for none", what)
		}
		return FileSupport{Source: "x-vault"}, nil
	case string:
		fs.Variable = t
		if t == "" {
			fs.Kind = ""
		}
		return fs, nil
	case map[string]any:
		if s, ok := t["variable"].(string); ok {
			fs.Variable = s
		} else {
			return fs, fmt.Errorf("%s.variable must be a string", what)
		}
		if k, ok := t["kind"]; ok {
			switch k {
			case "path":
			case "name":
				fs.Kind = FileVarName
			default:
				return fs, fmt.Errorf("%s.kind must be path or name, got %v", what, k)
			}
		}
		return fs, nil
	}
	return fs, fmt.Errorf("%s must be a variable name or {variable, kind}, got %T", what, v)
}

func (c *VaultConfig) parseFileVariables(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("x-vault.file-variables must be a mapping, got %T", v)
	}
	c.FileVariables = map[string]FileSupport{}
	c.ImageFileVariables = map[string]map[string]FileSupport{}
	for k, val := range m {
		what := "x-vault.file-variables." + k
		if sub, ok := val.(map[string]any); ok {
			if _, isSpec := sub["variable"]; !isSpec {
				vars := map[string]FileSupport{}
				for vk, vv := range sub {
					fs, err := fileSupportValue(what+"."+vk, vv)
					if err != nil {
						return err
					}
					vars[vk] = fs
				}
				c.ImageFileVariables[NormalizeImage(k)] = vars
				c.ImageFileVariables[k] = vars // a service name is matched as written
				continue
			}
		}
		fs, err := fileSupportValue(what, val)
		if err != nil {
			return err
		}
		c.FileVariables[k] = fs
	}
	return nil
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
	for _, k := range []string{service + "." + variable, variable} {
		if fs, found := c.FileVariables[k]; found {
			return fs, fs.Variable != "", true
		}
	}
	for _, k := range []string{service, NormalizeImage(image)} {
		vars, found := c.ImageFileVariables[k]
		if !found || k == "" {
			continue
		}
		if fs, found := vars[variable]; found {
			return fs, fs.Variable != "", true
		}
		if fs, found := vars["*"]; found && fs.Variable != "" {
			fs.Variable = variable + fs.Variable
			return fs, true, true
		}
	}
	if image == "" {
		return FileSupport{}, false, false
	}
	fs, ok = BuiltinFileSupport(image, variable)
	return fs, ok, false
}
