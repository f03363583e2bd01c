package imageinfo

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzScan: any text scans without a panic, the same way twice, and every
// variable claimed maps to a name built from it.
func FuzzScan(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "scripts", "*"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err == nil {
			f.Add(string(b))
		}
	}
	f.Add("f() { x=$1; cat \"${x}_FILE\"; }\nf A\nfor v in B C; do f \"$v\"; done\n")
	f.Add("'unterminated\n$'\\'\n<<EOF\n")
	f.Fuzz(func(t *testing.T, text string) {
		c := Scan(Script{Path: "/s", Text: text})
		if again := Scan(Script{Path: "/s", Text: text}); !reflect.DeepEqual(c, again) {
			t.Fatalf("two scans differ: %v, %v", c, again)
		}
		for v, fv := range c.Vars {
			if !identRe.MatchString(v) || (fv != v+"_FILE" && fv != v+"__FILE") {
				t.Fatalf("claimed %q -> %q", v, fv)
			}
		}
		_ = References(text)
	})
}
