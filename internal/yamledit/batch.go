package yamledit

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// batchTopSlot is the batch slot of the top-level secrets: edit.
const batchTopSlot = "\x00top-level secrets"

// Batch makes the edits fn makes as one. Each edit outside a batch parses
// and checks the whole document again, so a migration of a file with
// thousands of entries would cost thousands of parses; in a batch the edits
// are collected, applied together when fn returns and checked once, with
// the same check a single edit gets.
//
// In a batch every edit is computed against the document as the batch found
// it, so edits must not depend on each other, with these exceptions, which
// the batch handles: the secrets added to one service with AddServiceSecret
// and the top-level secrets added with AddTopLevelSecret are each written by
// one edit, and an entry shared through an anchor is replaced once; the
// variables RemoveEnv removes from one service are removed by one edit
// (which removes the environment: key when it empties it), and
// SetServiceKey called again for the same key replaces its earlier edit. An
// edit whose bytes overlap an earlier one of the batch fails with
// ErrUnsupported: make it outside a batch.
//
// If fn returns an error, or the edits together fail the check, Batch
// returns the error and the document is as it was before.
func (d *Doc) Batch(fn func() error) error {
	if d.batch != nil {
		return fmt.Errorf("%s: %w: batches do not nest", d.filename, ErrUnsupported)
	}
	b := &batch{done: maps.Clone(d.done), svcSecrets: map[string][]string{}, topByName: map[string]*secretDef{}, envRemovals: map[string][]string{}}
	d.batch = b
	err := fn()
	d.batch = nil
	if err == nil {
		err = d.commit(b)
	}
	if err != nil {
		d.done = b.done
		return err
	}
	return nil
}

// batch holds the edits of a Batch until it commits.
type batch struct {
	// done is Doc.done before the batch, put back when it fails.
	done       map[string]string
	edits      []*batchEdit
	svcSecrets map[string][]string // service -> secrets added in the batch
	// envRemovals are the variables removed from each service's
	// environment in the batch, written by one edit per service.
	envRemovals map[string][]string
	// topDefs are the new top-level secrets, written by one edit that
	// commit builds.
	topDefs   []topDef
	topByName map[string]*secretDef
	// slots are the edits with a slot; byStart the splices of every edit
	// sorted by start, widest the widest of them: what add checks a new
	// edit against without comparing it with every other.
	slots   map[string]*batchEdit
	byStart []indexed
	widest  int
}

// batchEdit is one edit of a batch. An edit with a slot replaces the
// earlier edit of the same slot (the secrets of one service, the top-level
// secrets), so that it is written once with everything added to it.
type batchEdit struct {
	slot    string
	splices []splice
	expect  func(view)
}

// add records an edit, refusing one that overlaps another edit's bytes.
func (b *batch) add(filename, slot string, splices []splice, expect func(view)) error {
	prev := b.slots[slot]
	for _, s := range splices {
		if b.overlapsAny(s, prev) {
			return fmt.Errorf("%s: %w: the edit overlaps an earlier edit of the batch", filename, ErrUnsupported)
		}
	}
	if prev != nil {
		b.unindex(prev)
		prev.splices, prev.expect = splices, expect
		b.index(prev)
		return nil
	}
	e := &batchEdit{slot: slot, splices: splices, expect: expect}
	b.edits = append(b.edits, e)
	if slot != "" {
		if b.slots == nil {
			b.slots = map[string]*batchEdit{}
		}
		b.slots[slot] = e
	}
	b.index(e)
	return nil
}

// indexed is a splice of a batch edit, in the batch's index.
type indexed struct {
	s splice
	e *batchEdit
}

// index adds e's splices to the batch's index, sorted by start.
func (b *batch) index(e *batchEdit) {
	for _, s := range e.splices {
		i := sort.Search(len(b.byStart), func(i int) bool { return b.byStart[i].s.start > s.start })
		b.byStart = slices.Insert(b.byStart, i, indexed{s: s, e: e})
		b.widest = max(b.widest, s.end-s.start)
	}
}

// unindex removes e's splices from the index.
func (b *batch) unindex(e *batchEdit) {
	b.byStart = slices.DeleteFunc(b.byStart, func(x indexed) bool { return x.e == e })
}

// overlapsAny reports whether s overlaps a splice of an edit other than
// skip. A splice that overlaps s starts at most at s.end, and at least
// at s.start minus the widest splice: only those are looked at.
func (b *batch) overlapsAny(s splice, skip *batchEdit) bool {
	i := sort.Search(len(b.byStart), func(i int) bool { return b.byStart[i].s.start > s.end })
	for j := i - 1; j >= 0 && b.byStart[j].s.start >= s.start-b.widest; j-- {
		if b.byStart[j].e != skip && overlaps(s, b.byStart[j].s) {
			return true
		}
	}
	return false
}

// overlaps reports whether two splices touch the same bytes, or one inserts
// where the other replaces (the order of the two would be ambiguous).
func overlaps(a, b splice) bool {
	if a.start == a.end && b.start == b.end {
		return false // two insertions: kept in the order they were made
	}
	if a.start == a.end {
		return a.start >= b.start && a.start < b.end
	}
	if b.start == b.end {
		return b.start >= a.start && b.start < a.end
	}
	return a.start < b.end && b.start < a.end
}

// commit applies a batch's edits as one, checked as apply checks one edit.
// The top-level secrets go last: they are appended at the end of the file,
// where the last service's secrets may be appended too.
func (d *Doc) commit(b *batch) error {
	if len(b.topDefs) > 0 {
		splices, added, err := d.topSecretSplices(d.root.Content[0], b.topDefs)
		if err != nil {
			return fmt.Errorf("%s: top-level secrets: %w", d.filename, err)
		}
		for _, e := range b.edits {
			if e.slot == batchTopSlot {
				e.splices = splices
				e.expect = func(v view) {
					for _, a := range added {
						v["secrets"+sep+a.name] = a.def.digest
					}
				}
			}
		}
	}
	edits := slices.Clone(b.edits)
	slices.SortStableFunc(edits, func(x, y *batchEdit) int {
		return cmp.Compare(boolInt(x.slot == batchTopSlot), boolInt(y.slot == batchTopSlot))
	})
	var all []splice
	for _, e := range edits {
		all = append(all, e.splices...)
	}
	slices.SortStableFunc(all, func(x, y splice) int { return cmp.Compare(x.start, y.start) })
	return d.apply(all, func(v view) {
		for _, e := range edits {
			e.expect(v)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RemoveAll deletes every statement defining one of keys, as one Remove
// per key would, and returns the keys it removed. Remove reads and checks
// the whole file, so hundreds of removals from a large .env would read it
// hundreds of times; RemoveAll cuts every statement at once and checks once
// when the cuts are independent (each alone on its line, none touching
// another), which gives the bytes the Removes would, and otherwise makes
// the Removes.
func (e *EnvFile) RemoveAll(keys []string) []string {
	asked := map[string]bool{}
	for _, k := range keys {
		asked[k] = true
	}
	var present []string
	seen := map[string]bool{}
	for _, s := range e.stmts {
		if asked[s.key] && !seen[s.key] {
			seen[s.key] = true
			present = append(present, s.key)
		}
	}
	if len(present) == 0 {
		return nil
	}
	if out, ok := e.cutAll(seen); ok {
		stmts, err := scanEnv(e.filename, out)
		want, werr := composeRead(e.data)
		got, gerr := composeRead(out)
		if err == nil && werr == nil && gerr == nil {
			for k := range seen {
				delete(want, k)
			}
			if maps.Equal(got, want) {
				e.data, e.stmts = out, stmts
				return present
			}
		}
	}
	var removed []string
	for _, k := range present {
		if e.Remove(k) {
			removed = append(removed, k)
		}
	}
	return removed
}

// cutAll cuts the statements of keys when no two are on one line and no two
// cuts touch: then each cut is the one Remove would make after the others.
func (e *EnvFile) cutAll(keys map[string]bool) ([]byte, bool) {
	var out []byte
	prev, lastLine, line, counted := 0, -1, 0, 0
	for _, s := range e.stmts {
		if !keys[s.key] {
			continue
		}
		line += bytes.Count(e.data[counted:s.start], []byte("\n"))
		counted = s.start
		c := e.cut(s, true)
		if line == lastLine || c[0] < prev || (prev > 0 && c[0] == prev && !bytes.HasSuffix(e.data[:prev], []byte("\n"))) {
			return nil, false
		}
		lastLine = line
		out = append(out, e.data[prev:c[0]]...)
		prev = c[1]
	}
	return append(out, e.data[prev:]...), true
}
