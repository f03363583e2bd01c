package migrate

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/compose"
)

// maskCase is a project whose --dry-run diff must hold none of values and
// must show each of want.
type maskCase struct {
	name   string
	files  map[string]string
	load   compose.LoadOptions
	values []string
	want   []string
}

// The cases of issue 11 (item 2), each of which printed a value before,
// and their neighbours.
var maskCases = []maskCase{
	{
		// The second and later lines of a multi-line scalar: folded,
		// literal, double-quoted and plain, migrated (removed lines) and
		// reported (context lines).
		name: "multi-line",
		files: map[string]string{"compose.yaml": `services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: >-
        Mask-Folded-1f0c
        Mask-Folded-Second-82aa
  maria:
    image: mariadb:11
    environment:
      MARIADB_ROOT_PASSWORD: "Mask-Quoted-9e12
        Mask-Quoted-Second-07fd"
      MARIADB_PASSWORD: Mask-Plain-5d6a
        Mask-Plain-Second-e3b9
  api:
    image: myorg/api:2
    environment:
      API_TOKEN: |
        Mask-Literal-3b7e
        Mask-Literal-Second-c441
`},
		values: []string{"Mask-Folded-1f0c", "Mask-Folded-Second-82aa", "Mask-Quoted-9e12", "Mask-Quoted-Second-07fd",
			"Mask-Plain-5d6a", "Mask-Plain-Second-e3b9", "Mask-Literal-3b7e", "Mask-Literal-Second-c441"},
		want: []string{
			"\n-      POSTGRES_PASSWORD: ********\n-        ********\n-        ********\n",
			"\n-      MARIADB_ROOT_PASSWORD: ********\n-        ********\n-      MARIADB_PASSWORD: ********\n-        ********\n",
			"\n       API_TOKEN: ********\n         ********\n         ********\n",
		},
	},
	{
		// A .env key written twice: compose reads the second, and the
		// first (shadowed, a value no finding holds) goes too.
		name: "duplicate .env key",
		files: map[string]string{
			"compose.yaml": "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: ${PG_PW}\n      POSTGRES_USER: ${PG_USER}\n",
			".env":         "PG_PW=Mask-Shadowed-Old-6b1d\nPG_USER=app\nPG_PW=Mask-Current-4c8e\n",
		},
		values: []string{"Mask-Shadowed-Old-6b1d", "Mask-Current-4c8e"},
		want:   []string{"\n-PG_PW=********\n PG_USER=app\n-PG_PW=********\n"},
	},
	{
		// A duplicate in a list-form environment and an entry a later
		// compose file overrides: values Detect never judged.
		name: "duplicate entries",
		files: map[string]string{
			"compose.yaml":          "services:\n  db:\n    image: postgres:16\n    environment:\n      - POSTGRES_PASSWORD=Mask-List-First-93a0\n      - POSTGRES_USER=app\n      - POSTGRES_PASSWORD=Mask-List-Second-1e44\n",
			"compose.override.yaml": "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: Mask-Override-c07a\n      POSTGRES_DB: app\n",
		},
		values: []string{"Mask-List-First-93a0", "Mask-List-Second-1e44", "Mask-Override-c07a"},
		want:   []string{"      - POSTGRES_PASSWORD=********\n"},
	},
	{
		// A service behind an inactive profile is not checked: its
		// values, next to a change, are masked all the same.
		name: "inactive profile",
		files: map[string]string{"compose.yaml": `services:
  debug:
    profiles: [debug]
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: Mask-Inactive-ae51
  db:
    environment:
      POSTGRES_PASSWORD: Mask-Active-2d9b
    image: postgres:16
`},
		values: []string{"Mask-Active-2d9b", "Mask-Inactive-ae51"},
		want:   []string{"\n       POSTGRES_PASSWORD: ********\n   db:\n     environment:\n-      POSTGRES_PASSWORD: ********\n"},
	},
	{
		// A .env key separated from its value by a tab (and a tab after
		// "="): the key stays, the value goes.
		name: "tab-separated .env key",
		files: map[string]string{
			"compose.yaml": "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: ${PG_PW}\n      MYSQL_PASSWORD: ${MY_PW}\n",
			".env":         "      PG_PW:\tMask-Tab-Colon-77f1\nMY_PW=\tMask-Tab-Equals-0b3c\nTOKEN\t=Mask-Tab-Unused-5e2d\n",
		},
		values: []string{"Mask-Tab-Colon-77f1", "Mask-Tab-Equals-0b3c", "Mask-Tab-Unused-5e2d"},
		want:   []string{"\n-      PG_PW:\t********\n", "\n TOKEN\t=********\n"},
	},
	{
		// A ${VAR} entry shows, but not the default it writes (the value
		// when .env does not set the variable).
		name: "interpolation default",
		files: map[string]string{
			"compose.yaml": "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: ${PG_PW:-Mask-Default-31f9}\n      MYSQL_PASSWORD: ${MY_PW:?set MY_PW}\n",
			".env":         "PG_PW=Mask-Set-d2c0\nMY_PW=Mask-My-17ab\n",
		},
		values: []string{"Mask-Default-31f9", "Mask-Set-d2c0", "Mask-My-17ab"},
		want:   []string{"\n-      POSTGRES_PASSWORD: ********\n", "\n       MYSQL_PASSWORD: ${MY_PW:?set MY_PW}\n"},
	},
	{
		// A secret's value copied into a comment and a command is caught
		// by the second net.
		name: "copies",
		files: map[string]string{"compose.yaml": `services:
  db:
    image: postgres:16
    # the password is Mask-Copy-8f3e
    command: ["postgres", "-c", "password=Mask-Copy-8f3e"]
    environment:
      POSTGRES_PASSWORD: Mask-Copy-8f3e
`},
		values: []string{"Mask-Copy-8f3e"},
		want:   []string{"\n     # the password is ********\n"},
	},
}

func TestMaskedDiff(t *testing.T) {
	for _, tc := range maskCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
			}
			p, r, plan := makePlanIn(t, dir, tc.load, Options{})
			assert.Assert(t, plan.Changed())
			out := dryRunDiff(t, p, r, plan, dir)
			for _, v := range tc.values {
				assert.Check(t, !strings.Contains(out, v), "the diff shows %s:\n%s", v, out)
			}
			for _, w := range tc.want {
				assert.Check(t, is.Contains(out, w))
			}
		})
	}
}

// The second net blanks every value in one pass, the longest value first
// where several start at one place, and leaves no value whole when values
// overlap or contain one another.
func TestMaskOverlappingValues(t *testing.T) {
	r := &compose.Report{Secrets: []compose.Secret{
		{Name: "a", Value: []byte("abc")},
		{Name: "b", Value: []byte("abcdef")},
		{Name: "c", Value: []byte("cdefg")},
		{Name: "d", Value: []byte("line1\nline2")},
	}}
	m := NewMask(nil, r)
	var got []string
	for _, l := range []string{"A=abcdefgh\n", "B: x abc y\n", "C: cdefg abcdef\n", "D: line2\n"} {
		got = append(got, m.maskLine(l, 0, false))
	}
	assert.Check(t, is.DeepEqual(got, []string{"A=********gh\n", "B: x ******** y\n", "C: ******** ********\n", "D: ********\n"}))
}

// A masked line keeps its indentation, key and separator, and its line
// break.
func TestMaskLine(t *testing.T) {
	m := NewMask(nil, &compose.Report{})
	for _, tc := range []struct {
		line string
		col  int
		want string
	}{
		{"      KEY: value # note\r\n", 11, "      KEY: ********\r\n"},
		{"        second line\n", -1, "        ********\n"},
		{"\t\tsecond line\n", -1, "\t\t********\n"},
		{"KEY=\n", 4, "KEY=\n"},
		{"      - KEY=value\n", 12, "      - KEY=********\n"},
		{"   \n", -1, "   \n"},
	} {
		assert.Check(t, is.Equal(m.maskLine(tc.line, tc.col, true), tc.want), "%q", tc.line)
	}
}

// applyScript checks that a script turns a into b, equal lines being
// equal, and returns how many lines it changes.
func applyScript(t *testing.T, a, b []string, script []edit) int {
	t.Helper()
	i, j, changes := 0, 0, 0
	for _, e := range script {
		switch e.op {
		case opEqual:
			assert.Assert(t, e.a == i && e.b == j, "equal at %d,%d, expected %d,%d", e.a, e.b, i, j)
			assert.Assert(t, a[i] == b[j], "equal lines %d,%d differ", i, j)
			i, j = i+1, j+1
		case opDelete:
			assert.Assert(t, e.a == i, "delete at %d, expected %d", e.a, i)
			i++
			changes++
		case opInsert:
			assert.Assert(t, e.b == j, "insert at %d, expected %d", e.b, j)
			j++
			changes++
		}
	}
	assert.Assert(t, i == len(a) && j == len(b), "the script ends at %d,%d of %d,%d", i, j, len(a), len(b))
	return changes
}

// lcs is the length of a longest common subsequence, by dynamic
// programming: the oracle for small inputs.
func lcs(a, b []string) int {
	prev := make([]int, len(b)+1)
	for i := range a {
		cur := make([]int, len(b)+1)
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(cur[j], prev[j+1])
			}
		}
		prev = cur
	}
	return prev[len(b)]
}

func randomLines(rng *rand.Rand, n, alphabet int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(rng.Intn(alphabet)) + "\n"
	}
	return out
}

// Within its bound the diff is a shortest one (Myers), and always a valid
// one.
func TestDiffLinesShortest(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for k := 0; k < 2000; k++ {
		a := randomLines(rng, rng.Intn(40), 1+rng.Intn(8))
		b := randomLines(rng, rng.Intn(40), 1+rng.Intn(8))
		changes := applyScript(t, a, b, diffLines(a, b))
		assert.Equal(t, changes, len(a)+len(b)-2*lcs(a, b), "%q -> %q", a, b)
	}
}

// Beyond the bound the diff stays valid: unique lines anchor it, and what
// is left is replaced.
func TestDiffLinesBeyondBound(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for k := 0; k < 20; k++ {
		n := 500 + rng.Intn(3000)
		a := randomLines(rng, n, 2+rng.Intn(5000))
		b := append([]string(nil), a...)
		for c := rng.Intn(n); c > 0; c-- {
			i := rng.Intn(len(b))
			switch rng.Intn(3) {
			case 0:
				b = append(b[:i], b[i+1:]...)
			case 1:
				b = append(b[:i], append([]string{fmt.Sprintf("new %d\n", c)}, b[i:]...)...)
			default:
				b[i] = fmt.Sprintf("changed %d\n", c)
			}
		}
		applyScript(t, a, b, diffLines(a, b))
	}
}

// A migration's shape: thousands of services, each changed. The diff is
// as small as Myers' would be, since service names anchor each change.
func TestDiffLinesManyServices(t *testing.T) {
	var a, b []string
	for i := 0; i < 5000; i++ {
		a = append(a, fmt.Sprintf("  svc%d:\n", i), "    image: postgres\n", "    environment:\n", "      PASSWORD: x\n", "      USER: app\n")
		b = append(b, fmt.Sprintf("  svc%d:\n", i), "    image: postgres\n", "    environment:\n", "      PASSWORD_FILE: /run/secrets/x\n", "      USER: app\n", "    secrets:\n", "      - x\n")
	}
	start := time.Now()
	script := diffLines(a, b)
	elapsed := time.Since(start)
	assert.Equal(t, applyScript(t, a, b, script), 5000*4)
	t.Logf("%d lines in %v", len(a)+len(b), elapsed)
}

// A long value removed: one side thousands of lines longer than the
// other.
func TestDiffLinesLongValue(t *testing.T) {
	a := []string{"services:\n", "  db:\n", "    environment:\n", "      PASSWORD: |\n"}
	for i := 0; i < 20000; i++ {
		a = append(a, fmt.Sprintf("        %064x\n", i))
	}
	a = append(a, "      USER: app\n")
	b := []string{"services:\n", "  db:\n", "    environment:\n", "      PASSWORD_FILE: /run/secrets/x\n", "      USER: app\n"}
	script := diffLines(a, b)
	assert.Equal(t, applyScript(t, a, b, script), 20002)
}

// The unified format is diff -u's, as difflib writes it: headers, ranges
// (",0" for an empty side, no length for one line), three lines of
// context, hunks joined when at most six equal lines separate them.
func TestUnifiedFormat(t *testing.T) {
	lines := func(n int, prefix string) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("%s%d\n", prefix, i))
		}
		return out
	}
	base := lines(30, "line ")
	edit := func(f func(b []string) []string) []string { return f(append([]string(nil), base...)) }
	for _, tc := range []struct {
		name string
		a, b []string
	}{
		{"one change", base, edit(func(b []string) []string { b[10] = "changed\n"; return b })},
		{"insert at start", base, edit(func(b []string) []string { return append([]string{"new\n"}, b...) })},
		{"delete at end", base, base[:29]},
		{"from nothing", nil, lines(2, "x")},
		{"to nothing", lines(2, "x"), nil},
		{"joined", base, edit(func(b []string) []string { b[5], b[12] = "a\n", "b\n"; return b })},
		{"split", base, edit(func(b []string) []string { b[5], b[13] = "a\n", "b\n"; return b })},
		{"one line file", []string{"a\n"}, []string{"b\n"}},
	} {
		f := &File{Path: "/p/f.yaml", Kind: "gitignore", Old: []byte(strings.Join(tc.a, "")), New: []byte(strings.Join(tc.b, ""))}
		var got strings.Builder
		assert.NilError(t, WriteDiff(&got, f, "f.yaml", NewMask(nil, &compose.Report{})))
		want, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: tc.a, B: tc.b, FromFile: "a/f.yaml", ToFile: "b/f.yaml", Context: 3})
		assert.NilError(t, err)
		assert.Check(t, is.Equal(got.String(), want), tc.name)
	}
}
