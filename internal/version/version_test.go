package version

import (
	"runtime/debug"
	"testing"

	"gotest.tools/v3/assert"
)

func TestResolve(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.modified", Value: modified},
		}
	}
	const rev = "2ed5155d0c1f0e4a9a8b7c6d5e4f3a2b1c0d9e8f"
	for _, tc := range []struct {
		name                  string
		version, commit       string
		settings              []debug.BuildSetting
		wantVersion, wantComm string
	}{
		{"stamped wins", "v1.2.3", "abcdef0", vcs(rev, "true"), "v1.2.3", "abcdef0"},
		{"stamped dev version kept", "v0.0.0-dev+1a2b3c4-dirty", "1a2b3c4", vcs(rev, "false"), "v0.0.0-dev+1a2b3c4-dirty", "1a2b3c4"},
		{"clean checkout", "", "", vcs(rev, "false"), "v0.0.0-dev+2ed5155", "2ed5155"},
		{"modified checkout", "", "", vcs(rev, "true"), "v0.0.0-dev+2ed5155-dirty", "2ed5155"},
		{"only the version stamped", "v1.0.0", "", vcs(rev, "false"), "v1.0.0", "2ed5155"},
		{"only the commit stamped", "", "1a2b3c4", vcs(rev, "true"), "v0.0.0-dev+2ed5155-dirty", "1a2b3c4"},
		{"no vcs information", "", "", nil, "v0.0.0-dev", "unknown"},
		{"short revision", "", "", vcs("abc", "false"), "v0.0.0-dev+abc", "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, c := resolve(tc.version, tc.commit, tc.settings)
			assert.Equal(t, v, tc.wantVersion)
			assert.Equal(t, c, tc.wantComm)
		})
	}
}

func TestDevVersion(t *testing.T) {
	assert.Equal(t, DevVersion("1a2b3c4", false), "v0.0.0-dev+1a2b3c4")
	assert.Equal(t, DevVersion("1a2b3c4", true), "v0.0.0-dev+1a2b3c4-dirty")
	assert.Equal(t, DevVersion("", true), "v0.0.0-dev")
}

// The test binary itself is built without -ldflags: init leaves it the
// plain fallback even when go test stamped the commit (-buildvcs=true), so
// the output other packages' tests expect does not change with the checkout.
func TestInitInTestBinary(t *testing.T) {
	assert.Equal(t, Version, "v0.0.0-dev")
	assert.Equal(t, Commit, "unknown")
}
