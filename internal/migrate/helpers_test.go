package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"

	"github.com/docker-vault/docker-vault/compose"
)

// copyTree copies the files under src into dst (created), writable, modes
// kept otherwise.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm()|0o200)
	})
	assert.NilError(t, err)
}

// readTree returns every regular file under dir by slash path.
func readTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	assert.NilError(t, err)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// load loads and detects the project in dir as `docker vault migrate`
// would, with lo's files and flags relative to dir.
func load(t testing.TB, dir string, lo compose.LoadOptions) (*compose.Project, *compose.Report) {
	t.Helper()
	lo.WorkingDir = dir
	if lo.Environ == nil {
		lo.Environ = []string{}
	}
	p, err := compose.Load(context.Background(), lo)
	assert.NilError(t, err)
	r, err := compose.Detect(p, compose.DetectOptions{})
	assert.NilError(t, err)
	return p, r
}

// makePlanIn is load + Make.
func makePlanIn(t testing.TB, dir string, lo compose.LoadOptions, opts Options) (*compose.Project, *compose.Report, *Plan) {
	t.Helper()
	p, r := load(t, dir, lo)
	plan, err := Make(context.Background(), p, r, opts)
	assert.NilError(t, err)
	return p, r, plan
}

// itemTable renders a plan's findings (not the skipped ones) for a golden
// file, with the project directory written <dir>.
func itemTable(plan *Plan, dir string) string {
	var b strings.Builder
	for _, it := range plan.Items {
		if it.Action == Skipped {
			continue
		}
		fmt.Fprintf(&b, "%s %s (%s): %s", it.Service, it.Variable, it.Source, it.Action)
		if it.FileVariable != "" {
			fmt.Fprintf(&b, " -> %s", it.FileVariable)
		}
		if it.Secret != "" {
			fmt.Fprintf(&b, " as %s", it.Secret)
		}
		if it.Via == string(compose.ViaEntrypoint) {
			b.WriteString(" via entrypoint")
		}
		if it.Reason != "" {
			fmt.Fprintf(&b, "\n    %s", it.Reason)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "secrets: %s\n", strings.Join(plan.Secrets, ", "))
	if len(plan.Stale) > 0 {
		fmt.Fprintf(&b, "stale: %s\n", strings.Join(plan.Stale, ", "))
	}
	for _, f := range plan.Files {
		rel, _ := filepath.Rel(dir, f.Path)
		fmt.Fprintf(&b, "file %s (%s)", filepath.ToSlash(rel), f.Kind)
		if f.Created {
			b.WriteString(" created")
		}
		b.WriteString("\n")
	}
	for _, p := range plan.Pushes {
		fmt.Fprintf(&b, "push %s -> %s\n", p.Secret, p.KVName)
	}
	for _, k := range sortedKeys(plan.Variables) {
		fmt.Fprintf(&b, "variable %s <- $%s\n", k, plan.Variables[k])
	}
	return strings.ReplaceAll(b.String(), dir, "<dir>")
}

// assertGoldenBytes compares got with testdata/name byte for byte (CRLF
// kept, unlike golden.Assert), and writes it there with -update.
func assertGoldenBytes(t *testing.T, got []byte, name string) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(name))
	if golden.FlagUpdate() {
		assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		assert.NilError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	assert.NilError(t, err, "run go test ./migrate -update to create it")
	assert.Check(t, is.Equal(string(got), string(want)), name)
}

// assertNoValueIn fails when any value appears in s (a rendering, an error,
// a file that must not hold one).
func assertNoValueIn(t testing.TB, s string, values []string, what string) {
	t.Helper()
	for _, v := range values {
		assert.Check(t, !strings.Contains(s, v), "%s holds a secret value", what)
	}
}

// secretValues lists every value Detect judged a secret.
func secretValues(r *compose.Report) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Verdict == compose.VerdictSecret && len(f.Value) >= 4 {
			out = append(out, string(f.Value))
		}
	}
	return out
}

// dryRunDiff renders the masked diff of every file of a plan, as
// `migrate --dry-run` prints it, with paths relative to dir.
func dryRunDiff(t testing.TB, p *compose.Project, r *compose.Report, plan *Plan, dir string) string {
	t.Helper()
	var b strings.Builder
	m := NewMask(p, r)
	for _, f := range plan.Files {
		rel, err := filepath.Rel(dir, f.Path)
		assert.NilError(t, err)
		assert.NilError(t, WriteDiff(&b, f, filepath.ToSlash(rel), m))
	}
	return b.String()
}

// valueLines adds to values each line of the multi-line ones.
func valueLines(values []string) []string {
	out := slices.Clone(values)
	for _, v := range values {
		for _, l := range strings.Split(v, "\n") {
			if l = strings.TrimSpace(l); len(l) >= 4 {
				out = append(out, l)
			}
		}
	}
	return out
}

// assertGoldenRun checks a plan against the goldens of case name: its
// item table and its dry-run diff (neither holding a value), then writes
// it and checks every file written against name/want, and no other file
// written. It returns the project's files after the write.
func assertGoldenRun(t *testing.T, name, dir string, p *compose.Project, r *compose.Report, plan *Plan) map[string][]byte {
	t.Helper()
	values := valueLines(secretValues(r))
	table := itemTable(plan, dir)
	assertNoValueIn(t, table, values, "the plan")
	assertGoldenBytes(t, []byte(table), name+"/plan.golden")
	// What --dry-run prints: every value masked.
	diff := dryRunDiff(t, p, r, plan, dir)
	assertNoValueIn(t, diff, values, "the diff")
	assertGoldenBytes(t, []byte(diff), name+"/diff.golden")

	assert.NilError(t, Write(plan.Files, WriteOptions{}))
	after := readTree(t, dir)
	want := filepath.Join("testdata", name, "want")
	if golden.FlagUpdate() {
		assert.NilError(t, os.RemoveAll(want))
	}
	var written []string
	for _, rel := range sortedKeys(after) {
		assertGoldenBytes(t, after[rel], name+"/want/"+testdataName(rel))
		written = append(written, testdataName(rel))
	}
	sort.Strings(written)
	if !golden.FlagUpdate() {
		assert.Check(t, is.DeepEqual(written, sortedKeys(readTree(t, want))), "files written")
	}
	return after
}
