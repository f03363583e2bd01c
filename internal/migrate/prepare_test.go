package migrate

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/composebench"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

// prepareCase is a project Prepare is checked on.
type prepareCase struct {
	name string
	dir  string
	lo   compose.LoadOptions
	opts Options
}

// prepareCases are the golden cases and a generated project; the corpus
// projects are added by the corpus test (corpus_test.go).
func prepareCases(t *testing.T) []prepareCase {
	var cases []prepareCase
	for _, tc := range goldenCases {
		cases = append(cases, prepareCase{name: tc.name, dir: filepath.Join("testdata", tc.name, "in"), lo: tc.load, opts: tc.opts})
	}
	return append(cases, prepareCase{name: "bench", dir: composebench.Project(t, 40)})
}

// sequential is what Prepare must equal: Load, Detect, Make.
func sequential(t *testing.T, tc prepareCase) *Plan {
	t.Helper()
	_, _, plan := makePlanIn(t, tc.dir, tc.lo, tc.opts)
	return plan
}

func prepare(t *testing.T, tc prepareCase) (*Prepared, error) {
	t.Helper()
	lo := tc.lo
	lo.WorkingDir = tc.dir
	if lo.Environ == nil {
		lo.Environ = []string{}
	}
	return Prepare(context.Background(), lo, compose.DetectOptions{}, tc.opts)
}

func assertSamePlan(t *testing.T, name string, got, want *Plan) {
	t.Helper()
	assert.Check(t, is.DeepEqual(got.Items, want.Items), name)
	assert.Check(t, is.DeepEqual(got.Secrets, want.Secrets), name)
	assert.Check(t, is.DeepEqual(got.Pushes, want.Pushes), name)
	assert.Assert(t, is.Len(got.Files, len(want.Files)), name)
	for i := range want.Files {
		assert.Check(t, is.DeepEqual(*got.Files[i], *want.Files[i]), "%s: %s", name, want.Files[i].Path)
	}
}

// Prepare plans what Load, Detect and Make plan, on every golden case,
// whether it planned on the guess or not.
func TestPrepareMatchesMake(t *testing.T) {
	checkPrepareMatchesMake(t, prepareCases(t))
}

// checkPrepareMatchesMake checks Prepare against the sequential plan on
// each case, and that at least half of them planned on the guess.
func checkPrepareMatchesMake(t *testing.T, cases []prepareCase) {
	t.Helper()
	guessed, n := 0, 0
	for _, tc := range cases {
		want := sequential(t, tc)
		got, err := prepare(t, tc)
		assert.NilError(t, err, tc.name)
		assertSamePlan(t, tc.name, got.Plan, want)
		n++
		if got.guessed {
			guessed++
		}
	}
	t.Logf("%d of %d projects planned on the guess", guessed, n)
	assert.Check(t, guessed >= n/2, "only %d of %d projects planned on the guess", guessed, n)
}

// A wrong guess costs time, never the result: whatever the guess gets
// wrong, Prepare plans what the real model says.
func TestPrepareWrongGuess(t *testing.T) {
	tc := prepareCase{name: "bench", dir: composebench.Project(t, 8)}
	want := sequential(t, tc)
	wrong := map[string]func(g *compose.Project){
		"a secret's value": func(g *compose.Project) {
			v := "not-the-value"
			g.Compose.Services["svc0"].Environment["POSTGRES_PASSWORD"] = &v
		},
		"a variable lost": func(g *compose.Project) { delete(g.Compose.Services["svc1"].Environment, "MYSQL_PASSWORD") },
		"an image": func(g *compose.Project) {
			s := g.Compose.Services["svc2"]
			s.Image = "postgres:16"
			g.Compose.Services["svc2"] = s
		},
		"a service lost": func(g *compose.Project) { delete(g.Compose.Services, "svc3") },
	}
	t.Cleanup(func() { guessHook = nil })
	for name, change := range wrong {
		guessHook = change
		got, err := prepare(t, tc)
		assert.NilError(t, err, name)
		assert.Check(t, !got.guessed, "%s: the wrong guess was kept", name)
		assertSamePlan(t, name, got.Plan, want)
	}
	guessHook = func(*compose.Project) {}
	got, err := prepare(t, tc)
	assert.NilError(t, err)
	assert.Check(t, got.guessed, "a right guess was not kept")
}

// A project compose-go refuses is refused with compose-go's error, even
// when the guess took it.
func TestPrepareInvalidProject(t *testing.T) {
	dir := fs.NewDir(t, "prepare", fs.WithFile("compose.yaml", "services:\n  db:\n    image: postgres\n    imagee: typo\n    environment:\n      POSTGRES_PASSWORD: s3cr3t-value\n"))
	_, err := Prepare(context.Background(), compose.LoadOptions{WorkingDir: dir.Path(), Environ: []string{}}, compose.DetectOptions{}, Options{})
	assert.Check(t, is.ErrorContains(err, "services.db.imagee"))
	assert.Check(t, !errors.Is(err, context.Canceled))

	dir = fs.NewDir(t, "prepare", fs.WithFile("compose.yaml", "services:\n  db:\n    image: [postgres\n"))
	_, err = Prepare(context.Background(), compose.LoadOptions{WorkingDir: dir.Path(), Environ: []string{}}, compose.DetectOptions{}, Options{})
	var ye *compose.YAMLError
	assert.Check(t, errors.As(err, &ye), "%v", err)
}
