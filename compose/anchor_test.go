package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// selfMerge is a service that merges itself: compose-go spends seconds of
// CPU on it before it errors.
const selfMerge = `services:
  web: &w
    image: x
    <<: *w
`

// aliasBomb is a billion laughs: nine levels each aliasing the previous
// one nine times, about 9^9 nodes once expanded.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("x-l0: &l0 [lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "x-l%d: &l%d [", i, i)
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("services:\n  web:\n    image: x\n    labels:\n      bomb: *l9\n")
	return b.String()
}

func writeCompose(t testing.TB, content string) string {
	t.Helper()
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(content), 0o600))
	return dir
}

func TestLoadRejectsAliasShapes(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"self merge", selfMerge, "compose.yaml:4:9: an alias refers to the anchor that contains it"},
		{"billion laughs", aliasBomb(), "compose.yaml:15:13: aliases expand to about"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeCompose(t, tc.content)
			_, err := Load(context.Background(), LoadOptions{WorkingDir: dir})
			var ye *YAMLError
			assert.Assert(t, errors.As(err, &ye), "%v", err)
			assert.Assert(t, is.Contains(err.Error(), tc.want))
			assert.Assert(t, !strings.Contains(err.Error(), "\n"))
		})
	}
}

// An included or extended file is checked before compose-go reads it too.
func TestLoadRejectsAliasShapesInOtherFiles(t *testing.T) {
	for _, tc := range []struct{ name, main string }{
		{"include", "include:\n  - other.yaml\nservices:\n  a:\n    image: x\n"},
		{"extends", "services:\n  a:\n    extends: {file: other.yaml, service: web}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeCompose(t, tc.main)
			assert.NilError(t, os.WriteFile(filepath.Join(dir, "other.yaml"), []byte(selfMerge), 0o600))
			_, err := Load(context.Background(), LoadOptions{WorkingDir: dir})
			assert.Check(t, is.Error(err, filepath.Join(dir, "other.yaml")+":4:9: an alias refers to the anchor that contains it (a node cannot merge or include itself)"))
		})
	}
}

// BenchmarkRejectAliasBomb compares how long Load takes to refuse each
// shape with how long compose-go's loader takes on the same file;
// x-compose-go is the ratio (well under 1: the point of checking first).
func BenchmarkRejectAliasBomb(b *testing.B) {
	for _, tc := range []struct{ name, content string }{{"self merge", selfMerge}, {"billion laughs", aliasBomb()}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := writeCompose(b, tc.content)
			start := time.Now()
			_, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
				WorkingDir:  dir,
				ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "compose.yaml"), Content: []byte(tc.content)}},
			}, func(o *loader.Options) { o.SetProjectName("bomb", true) })
			base := time.Since(start)
			assert.Assert(b, err != nil)
			b.ResetTimer()
			start = time.Now()
			n := 0
			for b.Loop() {
				_, err := Load(context.Background(), LoadOptions{WorkingDir: dir})
				assert.Assert(b, err != nil)
				n++
			}
			b.ReportMetric(float64(time.Since(start))/float64(n)/float64(base), "x-compose-go")
		})
	}
}
