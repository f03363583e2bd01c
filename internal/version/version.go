// Package version holds the build's version and commit, set with -ldflags:
//
//	-X github.com/docker-vault/docker-vault/internal/version.Version=v0.1.0
//	-X github.com/docker-vault/docker-vault/internal/version.Commit=abc1234
package version

var (
	// Version is the plugin's version.
	Version = "v0.0.0-dev"
	// Commit is the git commit the plugin was built from.
	Commit = "unknown"
)
