package yamledit

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
)

// TestBatchMatchesSingleEdits runs every golden case that removes nothing
// in one Batch, the way a caller with many edits uses it: an edit the batch
// refuses because it depends on an earlier one is made again after the
// batch. The result must be the golden file the single edits give.
func TestBatchMatchesSingleEdits(t *testing.T) {
	n := 0
	for _, tc := range goldenCases {
		removes := false
		for _, o := range tc.ops {
			removes = removes || o.kind == "remove"
		}
		if removes {
			continue
		}
		n++
		t.Run(tc.name, func(t *testing.T) {
			in := golden.Get(t, tc.name+".in.yaml")
			d, err := Parse(tc.name+".in.yaml", in)
			assert.NilError(t, err)
			var later []op
			err = d.Batch(func() error {
				for _, o := range tc.ops {
					if err := o.apply(d); errors.Is(err, ErrUnsupported) {
						later = append(later, o)
					} else if err != nil {
						return fmt.Errorf("%+v: %w", o, err)
					}
				}
				// Nothing is applied before the batch ends.
				assert.Check(t, !d.Changed())
				return nil
			})
			assert.NilError(t, err)
			for _, o := range later {
				assert.NilError(t, o.apply(d), "%+v", o)
			}
			// Only the quoted case has an edit that needs an earlier one
			// (ALIASED is anchored until USES_ALIAS stops aliasing it).
			assert.Check(t, is.Equal(len(later) > 0, tc.name == "quoted"), "%v", later)
			out, err := d.Bytes()
			assert.NilError(t, err)
			assert.Equal(t, string(out), string(golden.Get(t, tc.name+".want.yaml")))
		})
	}
	assert.Check(t, n >= 8, "only %d golden cases ran in a batch", n)
}

func TestBatchManyServices(t *testing.T) {
	var in strings.Builder
	in.WriteString("x-env: &env\n  SHARED_PASSWORD: s\nservices:\n")
	for i := range 50 {
		fmt.Fprintf(&in, "  s%d:\n    image: postgres\n    environment:\n      <<: *env\n      POSTGRES_PASSWORD: p%d\n      POSTGRES_USER: u\n", i, i)
	}
	single, err := Parse("c.yaml", []byte(in.String()))
	assert.NilError(t, err)
	batched, err := Parse("c.yaml", []byte(in.String()))
	assert.NilError(t, err)
	edit := func(d *Doc) error {
		for i := range 50 {
			svc := fmt.Sprintf("s%d", i)
			for _, e := range []error{
				d.ReplaceEnv(svc, "SHARED_PASSWORD", "SHARED_PASSWORD_FILE", runSecrets+"shared"),
				d.ReplaceEnv(svc, "POSTGRES_PASSWORD", "POSTGRES_PASSWORD_FILE", runSecrets+svc),
				d.AddServiceSecret(svc, "shared"),
				d.AddServiceSecret(svc, svc),
				d.AddServiceSecret(svc, "shared"),
				d.AddTopLevelSecret(svc, [][2]string{{"file", "./secrets/" + svc}}),
				d.AddTopLevelSecret("shared", [][2]string{{"file", "./secrets/shared"}}),
			} {
				if e != nil {
					return e
				}
			}
		}
		return nil
	}
	assert.NilError(t, edit(single))
	assert.NilError(t, batched.Batch(func() error { return edit(batched) }))
	a, _ := single.Bytes()
	b, _ := batched.Bytes()
	assert.Equal(t, string(b), string(a))
	assert.Check(t, is.Equal(strings.Count(string(b), "SHARED_PASSWORD_FILE"), 1))
}

// TestBatchRemoveEnv: the variables removed from one service in a batch
// are removed by one edit, decided on all of them: removing every entry
// removes the environment: key, as single edits one after the other do.
// Keys set again with SetServiceKey replace their earlier edit.
func TestBatchRemoveEnv(t *testing.T) {
	in := `services:
  app:
    image: postgres
    environment:
      A: a   # first
      B: b
    command: ["old"]
  other:
    image: x
    environment:
      - C=c
      - D=d
`
	edits := func(d *Doc) error {
		for _, e := range [][2]string{{"app", "A"}, {"app", "B"}, {"other", "C"}} {
			if err := d.RemoveEnv(e[0], e[1]); err != nil {
				return err
			}
		}
		for _, v := range []string{"1", "2"} {
			if err := d.SetServiceKey("app", "entrypoint", Seq([]string{"/bin/sh", v}, true)); err != nil {
				return err
			}
			if err := d.SetServiceKey("app", "command", Seq([]string{"new" + v}, true)); err != nil {
				return err
			}
			if err := d.SetServiceKey("other", "x-vault", Map("n", v)); err != nil {
				return err
			}
		}
		return d.AddServiceSecret("app", "s")
	}
	single, err := Parse("c.yaml", []byte(in))
	assert.NilError(t, err)
	assert.NilError(t, edits(single))
	batched, err := Parse("c.yaml", []byte(in))
	assert.NilError(t, err)
	assert.NilError(t, batched.Batch(func() error { return edits(batched) }))
	a, _ := single.Bytes()
	b, _ := batched.Bytes()
	assert.Check(t, !strings.Contains(string(b), "environment"+":\n      A"), string(b))
	assert.Check(t, strings.Contains(string(b), `command: ["new2"]`), string(b))
	assert.Check(t, strings.Contains(string(b), "      - D=d\n"), string(b))
	assert.Check(t, !strings.Contains(string(b), "C=c"), string(b))
	sv, err := Parse("single.yaml", a)
	assert.NilError(t, err)
	bv, err := Parse("batched.yaml", b)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(bv.view, sv.view), "batched:\n%s\nsingle:\n%s", b, a)
	// Once done, the same removal again is a no-op, batched or not.
	assert.NilError(t, batched.Batch(func() error { return batched.RemoveEnv("app", "A") }))
}

func TestBatchRefusals(t *testing.T) {
	in := `services:
  app:
    image: postgres
    environment:
      A: a
      B: b
secrets:
  taken:
    file: ./x
`
	d, err := Parse("c.yaml", []byte(in))
	assert.NilError(t, err)
	err = d.Batch(func() error {
		assert.NilError(t, d.ReplaceEnv("app", "A", "A_FILE", "/run/secrets/a"))
		// The same entry again, otherwise: its bytes are taken.
		err := d.ReplaceEnv("app", "A", "A2_FILE", "/run/secrets/a")
		assert.Check(t, errors.Is(err, ErrUnsupported), "%v", err)
		// Removing the entry another edit of the batch rewrote: its bytes
		// are taken.
		err = d.RemoveEnv("app", "A")
		assert.Check(t, errors.Is(err, ErrUnsupported), "%v", err)
		err = d.AddTopLevelSecret("taken", [][2]string{{"file", "./y"}})
		assert.Check(t, errors.Is(err, ErrConflict), "%v", err)
		assert.NilError(t, d.AddTopLevelSecret("a", [][2]string{{"file", "./a"}}))
		err = d.AddTopLevelSecret("a", [][2]string{{"file", "./other"}})
		assert.Check(t, errors.Is(err, ErrConflict), "%v", err)
		err = d.Batch(func() error { return nil })
		assert.Check(t, errors.Is(err, ErrUnsupported), "%v", err)
		return nil
	})
	assert.NilError(t, err)
	out, _ := d.Bytes()
	assert.Check(t, strings.Contains(string(out), "A_FILE: /run/secrets/a\n"))
	assert.Check(t, strings.Contains(string(out), "  a:\n    file: ./a\n"))

	// A failed batch leaves the document as it was, and forgets what it
	// did: the same edit made again is made, not skipped.
	d, err = Parse("c.yaml", []byte(in))
	assert.NilError(t, err)
	err = d.Batch(func() error {
		assert.NilError(t, d.ReplaceEnv("app", "A", "A_FILE", "/run/secrets/a"))
		return errors.New("caller gave up")
	})
	assert.ErrorContains(t, err, "caller gave up")
	assert.Check(t, !d.Changed())
	assert.NilError(t, d.Batch(func() error { return d.ReplaceEnv("app", "A", "A_FILE", "/run/secrets/a") }))
	assert.Check(t, d.Changed())

	// Edits that pass one by one against the stale view but clash once
	// together (two variables renamed to the same name) fail the check
	// at commit, and nothing is applied.
	d, err = Parse("c.yaml", []byte(in))
	assert.NilError(t, err)
	err = d.Batch(func() error {
		assert.NilError(t, d.ReplaceEnv("app", "A", "SAME", "/run/secrets/a"))
		assert.NilError(t, d.ReplaceEnv("app", "B", "SAME", "/run/secrets/b"))
		return nil
	})
	assert.Check(t, errors.Is(err, ErrUnsupported), "%v", err)
	assert.Check(t, !d.Changed())
}

func TestBatchOverlaps(t *testing.T) {
	for _, tc := range []struct {
		a, b splice
		want bool
	}{
		{splice{0, 5, ""}, splice{5, 9, ""}, false},
		{splice{0, 5, ""}, splice{4, 9, ""}, true},
		{splice{5, 5, "x"}, splice{5, 5, "y"}, false},
		{splice{5, 5, "x"}, splice{5, 9, ""}, true},
		{splice{9, 9, "x"}, splice{5, 9, ""}, false},
		{splice{6, 6, "x"}, splice{5, 9, ""}, true},
		{splice{5, 9, ""}, splice{6, 6, "x"}, true},
	} {
		assert.Check(t, is.Equal(overlaps(tc.a, tc.b), tc.want), "%+v %+v", tc.a, tc.b)
	}
}

// TestEnvFileRemoveAll checks that removing several keys at once gives what
// one Remove per key gives, on every subset of a few keys of envSample and
// on CRLF and final-line cases.
func TestEnvFileRemoveAll(t *testing.T) {
	samples := []string{envSample, strings.ReplaceAll(envSample, "\n", "\r\n"), "A=1\nB=2", "A=1\nB", "B\nA=1\n"}
	keys := []string{"DB_PASSWORD", "DOUBLE", "A", "B", "LAST", "INHERITED", "NOT_THERE"}
	n := 0
	for _, sample := range samples {
		for mask := 1; mask < 1<<len(keys); mask++ {
			var pick []string
			for i, k := range keys {
				if mask&(1<<i) != 0 {
					pick = append(pick, k)
				}
			}
			one, err := ParseEnvFile(".env", []byte(sample))
			assert.NilError(t, err)
			var want []string
			for _, k := range pick {
				if one.Remove(k) {
					want = append(want, k)
				}
			}
			all, err := ParseEnvFile(".env", []byte(sample))
			assert.NilError(t, err)
			got := all.RemoveAll(pick)
			assert.Check(t, is.DeepEqual(sortedCopy(got), sortedCopy(want)), "%q %v", sample, pick)
			assert.Check(t, is.Equal(string(all.Bytes()), string(one.Bytes())), "%q %v", sample, pick)
			n++
		}
	}
	assert.Check(t, n > 500)
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}

func TestEnvFileCutAllFastPath(t *testing.T) {
	e, err := ParseEnvFile(".env", []byte(envSample))
	assert.NilError(t, err)
	for _, tc := range []struct {
		keys []string
		fast bool
	}{
		{[]string{"DB_PASSWORD", "DOUBLE", "INHERITED"}, true},
		{[]string{"DB_USER", "QUOTED"}, true}, // adjacent whole lines
		{[]string{"A", "B"}, false},           // one line
		{[]string{"DB_PASSWORD", "LAST"}, false},
		{[]string{"LAST"}, true},
	} {
		set := map[string]bool{}
		for _, k := range tc.keys {
			set[k] = true
		}
		_, fast := e.cutAll(set)
		assert.Check(t, is.Equal(fast, tc.fast), "%v", tc.keys)
	}
}

// TestBatchEndOfFile: in a file without a final newline whose last service
// gets a secret, the service's secrets: and the top-level secrets: are
// inserted at the same offset; the service's must come first, as single
// edits made in that order would.
func TestBatchEndOfFile(t *testing.T) {
	in := "services:\n  app:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: pw"
	edit := func(d *Doc) error {
		for _, err := range []error{
			d.AddTopLevelSecret("pw", [][2]string{{"file", "./secrets/pw"}}),
			d.ReplaceEnv("app", "POSTGRES_PASSWORD", "POSTGRES_PASSWORD_FILE", runSecrets+"pw"),
			d.AddServiceSecret("app", "pw"),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	}
	single, err := Parse("c.yaml", []byte(in))
	assert.NilError(t, err)
	batched, err := Parse("c.yaml", []byte(in))
	assert.NilError(t, err)
	assert.NilError(t, edit(single))
	assert.NilError(t, batched.Batch(func() error { return edit(batched) }))
	a, _ := single.Bytes()
	b, _ := batched.Bytes()
	assert.Equal(t, string(b), string(a))
	assert.Check(t, !strings.HasSuffix(string(b), "\n"))
}

// TestBatchAddMatchesPairwise checks the batch's index against comparing
// a new edit with every edit of the batch, as add once did, on random
// edits: replacements and insertions, with and without slots.
func TestBatchAddMatchesPairwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		b := &batch{}
		slots := []string{"", "", "", "s1", "s2"}
		for i := 0; i < 40; i++ {
			start := rng.IntN(200)
			end := start
			if rng.IntN(3) > 0 {
				end += 1 + rng.IntN(12)
			}
			splices := []splice{{start, end, "x"}}
			slot := slots[rng.IntN(len(slots))]
			// What the pairwise check said: an overlap with any edit
			// but the one of the same slot.
			want := false
			for _, e := range b.edits {
				if slot != "" && e.slot == slot {
					continue
				}
				for _, o := range e.splices {
					want = want || overlaps(splices[0], o)
				}
			}
			err := b.add("f", slot, splices, func(view) {})
			assert.Check(t, is.Equal(err != nil, want), "round %d edit %d: %+v slot %q", round, i, splices[0], slot)
		}
	}
}
