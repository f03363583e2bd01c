// Package imageinfo learns from an image in the engine what migrate needs
// to know about it: the variables its entrypoint scripts read from files
// (the official images' file_env VAR, GF_*__FILE, FILE__VAR), its
// entrypoint, cmd and user, and whether it has /bin/sh to run the wrapper
// migrate writes for variables it cannot read from a file.
//
// It reads the image through the Engine API only: inspect, then a
// container created and never started, the entrypoint and the scripts it
// names copied out of it, then removed. What it learns is cached per image
// ID under the user's cache directory.
package imageinfo

import (
	"context"
	"strings"
)

// Image is what migrate knows about one image. It holds no value of the
// project: only what the image itself says.
type Image struct {
	// Ref is the reference it was read as; ID the image ID (sha256:...).
	Ref string `json:"ref"`
	ID  string `json:"id"`
	// Entrypoint and Cmd are the image's config, exec form (a shell-form
	// ENTRYPOINT is stored by the builder as ["/bin/sh", "-c", ...]).
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	// User is the image's USER ("" is root).
	User string `json:"user,omitempty"`
	// Shell: the image has /bin/sh, so a wrapper entrypoint can run.
	Shell bool `json:"shell"`
	// Files are the file conventions its entrypoint scripts follow.
	Files Conventions `json:"files"`
}

// Conventions are the ways an image reads a variable from a file.
type Conventions struct {
	// Vars maps a variable to the variable holding its file's path, for
	// variables named one by one (file_env 'POSTGRES_PASSWORD' makes
	// POSTGRES_PASSWORD -> POSTGRES_PASSWORD_FILE).
	Vars map[string]string `json:"vars,omitempty"`
	// Rules cover families of variables (every GF_* read from GF_*__FILE).
	Rules []Rule `json:"rules,omitempty"`
	// Scripts are the files in the image the conventions were read from,
	// in the order they were read; "(entrypoint)" is the string of a
	// shell-form entrypoint (sh -c "...").
	Scripts []string `json:"scripts,omitempty"`
}

// Rule is a family convention: a variable that starts with Prefix is read
// from the file named by FilePrefix+VAR+Suffix. Grafana's is {Prefix:
// "GF_", Suffix: "__FILE"}; linuxserver's {FilePrefix: "FILE__"}.
type Rule struct {
	Prefix     string `json:"prefix,omitempty"`
	Suffix     string `json:"suffix,omitempty"`
	FilePrefix string `json:"filePrefix,omitempty"`
}

// FileVariable returns the variable the image reads variable's file path
// from, if it has one.
func (c Conventions) FileVariable(variable string) (string, bool) {
	if fv, ok := c.Vars[variable]; ok {
		return fv, true
	}
	for _, r := range c.Rules {
		if r.Suffix == "" && r.FilePrefix == "" {
			continue
		}
		if strings.HasPrefix(variable, r.Prefix) {
			return r.FilePrefix + variable + r.Suffix, true
		}
	}
	return "", false
}

// NonRoot reports whether a container of the image runs as a user other
// than root when the service sets no user: of its own.
func (i *Image) NonRoot() bool { return NonRootUser(i.User) }

// NonRootUser reports whether a user: value ("name", "uid", "uid:gid")
// names someone other than root.
func NonRootUser(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	return u != "" && u != "root" && u != "0"
}

// Reader reads images.
type Reader interface {
	// Read returns what the image ref says of itself. The error says why
	// it cannot be read (not in the engine and --pull=never, a failed
	// pull, no engine): migrate puts it in the finding's reason.
	Read(ctx context.Context, ref string, o ReadOptions) (*Image, error)
}

// ReadOptions tune one Read.
type ReadOptions struct {
	// NoPull: never pull this image, whatever the reader's pull policy
	// (an image a service builds is built, not pulled).
	NoPull bool
}

// ReaderFunc adapts a function to Reader, for tests.
type ReaderFunc func(ctx context.Context, ref string, o ReadOptions) (*Image, error)

func (f ReaderFunc) Read(ctx context.Context, ref string, o ReadOptions) (*Image, error) {
	return f(ctx, ref, o)
}
