// Package version holds the build's version and commit. `make build` stamps
// both with -ldflags:
//
//	-X github.com/docker-vault/docker-vault/internal/version.Version=v0.2.0-3-g1a2b3c4-dirty
//	-X github.com/docker-vault/docker-vault/internal/version.Commit=1a2b3c4
//
// Version is `git describe --tags --match 'v[0-9]*' --dirty`, or, in a clone
// without a version tag, v0.0.0-dev+<commit>[-dirty]. A binary built without
// the flags (`go build ./plugin`, `go install`) gets the same fallback from
// the VCS information the go command embeds, so no build prints an empty or
// made-up version.
package version

import (
	"runtime/debug"
	"strings"
)

var (
	// Version is the plugin's version.
	Version = ""
	// Commit is the git commit the plugin was built from.
	Commit = ""
)

func init() {
	var settings []debug.BuildSetting
	// A test binary (go test -buildvcs=true stamps those too) keeps the plain
	// v0.0.0-dev, so what tests expect does not depend on the checkout.
	if info, ok := debug.ReadBuildInfo(); ok && !strings.HasSuffix(info.Path, ".test") {
		settings = info.Settings
	}
	Version, Commit = resolve(Version, Commit, settings)
}

// shortCommit is the length of the abbreviated commit, as `git rev-parse
// --short` prints it in most repositories.
const shortCommit = 7

// resolve keeps what -ldflags stamped and fills what it did not from the
// build's VCS settings (vcs.revision, vcs.modified).
func resolve(version, commit string, settings []debug.BuildSetting) (string, string) {
	var rev string
	var modified bool
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if len(rev) > shortCommit {
		rev = rev[:shortCommit]
	}
	if commit == "" {
		commit = rev
		if commit == "" {
			commit = "unknown"
		}
	}
	if version == "" {
		version = DevVersion(rev, modified)
	}
	return version, commit
}

// DevVersion is the version of a build from a commit no version tag
// describes: v0.0.0-dev+<commit>, with -dirty for uncommitted changes (as
// git describe --dirty marks them), or v0.0.0-dev when the commit is not
// known. The Makefile's fallback prints the same form.
func DevVersion(commit string, dirty bool) string {
	if commit == "" {
		return "v0.0.0-dev"
	}
	v := "v0.0.0-dev+" + commit
	if dirty {
		v += "-dirty"
	}
	return v
}
