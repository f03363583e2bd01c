package migrate

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// This file is what `migrate --dry-run` prints: a unified diff of every file
// the plan writes, with every value masked. It holds the line diff (linear
// in practice, so a 1 MB value or 5,000 services cost about what the plan
// costs); mask.go says which lines hold a value, found from node positions.

// splitLines splits a file into lines that keep their line break. A last
// line without one gets one, so that the diff shows the same text.
func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] += "\n"
	}
	return lines
}

// WriteDiff prints a unified diff of one file with every value masked
// (see Mask); name is the path to show. A secret file's content is never
// shown, only its size.
func WriteDiff(out io.Writer, f *File, name string, m *Mask) error {
	w := bufio.NewWriter(out)
	if f.Kind == "secret" {
		fmt.Fprintf(w, "--- /dev/null\n+++ %s\n(new secret file, mode 0600, %d bytes; content not shown)\n", name, len(f.New))
		return w.Flush()
	}
	from := "a/" + name
	if f.Created {
		from = "/dev/null"
	}
	a, b := splitLines(f.Old), splitLines(f.New)
	hunks := unifiedHunks(diffLines(a, b), 3)
	if len(hunks) == 0 {
		return nil
	}
	oldMask := m.oldLines(f, a)
	var newMask lineMask // computed for the first added line
	fmt.Fprintf(w, "--- %s\n+++ %s\n", from, "b/"+name)
	for _, h := range hunks {
		fmt.Fprintf(w, "@@ -%s +%s @@\n", unifiedRange(h.a0, h.a1), unifiedRange(h.b0, h.b1))
		for _, e := range h.edits {
			switch e.op {
			case opEqual:
				col, ok := oldMask[e.a+1]
				w.WriteString(" " + m.maskLine(a[e.a], col, ok))
			case opDelete:
				col, ok := oldMask[e.a+1]
				w.WriteString("-" + m.maskLine(a[e.a], col, ok))
			case opInsert:
				if newMask == nil {
					newMask = m.newLines(f, b)
				}
				col, ok := newMask[e.b+1]
				w.WriteString("+" + m.maskLine(b[e.b], col, ok))
			}
		}
	}
	return w.Flush()
}

// unifiedRange is a hunk range as diff -u writes it.
func unifiedRange(start, end int) string {
	switch n := end - start; n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	default:
		return fmt.Sprintf("%d,%d", start+1, n)
	}
}

// The line diff. Myers' algorithm finds a shortest edit script in
// O((N+M)·D) time, which is quadratic when the files differ in many places
// (a migration of 5,000 services changes every service) or one side is
// long where the other is not (a 1 MB value removed). So the diff works as
// patience diff does: lines that occur exactly once on each side anchor the
// texts to each other (the longest increasing run of them), and only the
// stretches between anchors are diffed, by Myers with a bound on D: a
// stretch that would need more is shown as one replacement. In practice
// the stretches are a few lines (service names are unique), so the whole
// diff is linear; its worst case is O((N+M)·maxD) per level of anchors.

type editOp byte

const (
	opEqual editOp = iota
	opDelete
	opInsert
)

// edit is one line of an edit script: a is the line of the old text
// (equal, delete), b of the new one (equal, insert).
type edit struct {
	op   editOp
	a, b int
}

// maxD bounds the edit distance Myers looks for in one stretch; maxDepth
// the levels of anchors.
const (
	maxD     = 256
	maxDepth = 32
)

// diffLines returns an edit script from a to b.
func diffLines(a, b []string) []edit {
	ids := make(map[string]int32, len(a)+len(b))
	intern := func(lines []string) []int32 {
		out := make([]int32, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = int32(len(ids))
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	d := &differ{a: intern(a), b: intern(b)}
	d.countA = make([]int32, len(ids))
	d.countB = make([]int32, len(ids))
	d.diff(0, len(a), 0, len(b), 0)
	return d.out
}

type differ struct {
	a, b           []int32
	out            []edit
	countA, countB []int32
	posB           map[int32]int
}

func (d *differ) equal(i, j int) { d.out = append(d.out, edit{opEqual, i, j}) }

func (d *differ) replace(a0, a1, b0, b1 int) {
	for i := a0; i < a1; i++ {
		d.out = append(d.out, edit{op: opDelete, a: i, b: b0})
	}
	for j := b0; j < b1; j++ {
		d.out = append(d.out, edit{op: opInsert, a: a1, b: j})
	}
}

func (d *differ) diff(a0, a1, b0, b1, depth int) {
	for a0 < a1 && b0 < b1 && d.a[a0] == d.b[b0] {
		d.equal(a0, b0)
		a0, b0 = a0+1, b0+1
	}
	n := 0
	for a1-n > a0 && b1-n > b0 && d.a[a1-n-1] == d.b[b1-n-1] {
		n++
	}
	a1, b1 = a1-n, b1-n
	switch {
	case a0 == a1 || b0 == b1:
		d.replace(a0, a1, b0, b1)
	case d.myers(a0, a1, b0, b1):
	default:
		anchors := d.anchors(a0, a1, b0, b1)
		if len(anchors) == 0 || depth >= maxDepth {
			d.replace(a0, a1, b0, b1)
			break
		}
		pa, pb := a0, b0
		for _, an := range anchors {
			d.diff(pa, an[0], pb, an[1], depth+1)
			d.equal(an[0], an[1])
			pa, pb = an[0]+1, an[1]+1
		}
		d.diff(pa, a1, pb, b1, depth+1)
	}
	for i := 0; i < n; i++ {
		d.equal(a1+i, b1+i)
	}
}

// anchors returns the lines that occur once in a[a0:a1] and once in
// b[b0:b1], as (a, b) pairs: the longest run increasing on both sides
// (patience sorting).
func (d *differ) anchors(a0, a1, b0, b1 int) [][2]int {
	for _, id := range d.a[a0:a1] {
		d.countA[id]++
	}
	for _, id := range d.b[b0:b1] {
		d.countB[id]++
	}
	if d.posB == nil {
		d.posB = map[int32]int{}
	}
	clear(d.posB)
	for j := b0; j < b1; j++ {
		if id := d.b[j]; d.countB[id] == 1 && d.countA[id] == 1 {
			d.posB[id] = j
		}
	}
	var pairs [][2]int
	for i := a0; i < a1; i++ {
		if j, ok := d.posB[d.a[i]]; ok && d.countA[d.a[i]] == 1 {
			pairs = append(pairs, [2]int{i, j})
		}
	}
	for _, id := range d.a[a0:a1] {
		d.countA[id] = 0
	}
	for _, id := range d.b[b0:b1] {
		d.countB[id] = 0
	}
	if len(pairs) == 0 {
		return nil
	}
	// Longest increasing subsequence of the b sides, in a order.
	tails := []int{} // tails[k]: index in pairs ending a run of k+1
	prev := make([]int, len(pairs))
	for i, p := range pairs {
		k := sort.Search(len(tails), func(k int) bool { return pairs[tails[k]][1] >= p[1] })
		if k > 0 {
			prev[i] = tails[k-1]
		} else {
			prev[i] = -1
		}
		if k == len(tails) {
			tails = append(tails, i)
		} else {
			tails[k] = i
		}
	}
	run := make([][2]int, len(tails))
	for i, k := tails[len(tails)-1], len(tails)-1; k >= 0; i, k = prev[i], k-1 {
		run[k] = pairs[i]
	}
	return run
}

// myers diffs a[a0:a1] and b[b0:b1] by Myers' greedy algorithm when their
// edit distance is at most maxD, and reports whether it did.
func (d *differ) myers(a0, a1, b0, b1 int) bool {
	n, m := a1-a0, b1-b0
	if n-m > maxD || m-n > maxD {
		return false // D is at least the difference in length
	}
	limit := min(n+m, maxD)
	off := limit + 1
	v := make([]int, 2*limit+3)
	// trace[k] is v after step k, for the walk back.
	var trace [][]int
	for step := 0; step <= limit; step++ {
		for k := -step; k <= step; k += 2 {
			var x int
			if k == -step || (k != step && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: an insertion
			} else {
				x = v[off+k-1] + 1 // right: a deletion
			}
			y := x - k
			for x < n && y < m && d.a[a0+x] == d.b[b0+y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				trace = append(trace, append([]int(nil), v[off-step:off+step+1]...))
				d.backtrack(trace, a0, b0, n, m)
				return true
			}
		}
		trace = append(trace, append([]int(nil), v[off-step:off+step+1]...))
	}
	return false
}

// backtrack walks Myers' trace back from (n, m) and appends the script.
// trace[s] is v after step s, holding diagonals -s..s.
func (d *differ) backtrack(trace [][]int, a0, b0, n, m int) {
	var rev []edit
	x, y := n, m
	for step := len(trace) - 1; step >= 0; step-- {
		k := x - y
		px, py := 0, -1 // before step 0: the snake starts at the origin
		down := true
		if step > 0 {
			prev := trace[step-1]
			at := func(k int) int { return prev[k+step-1] }
			down = k == -step || (k != step && at(k-1) < at(k+1))
			pk := k - 1
			if down {
				pk = k + 1
			}
			px = at(pk)
			py = px - pk
		}
		for x > px && y > py {
			x, y = x-1, y-1
			rev = append(rev, edit{opEqual, a0 + x, b0 + y})
		}
		if step == 0 {
			break
		}
		if down {
			y--
			rev = append(rev, edit{op: opInsert, a: a0 + x, b: b0 + y})
		} else {
			x--
			rev = append(rev, edit{op: opDelete, a: a0 + x, b: b0 + y})
		}
	}
	for i := len(rev) - 1; i >= 0; i-- {
		d.out = append(d.out, rev[i])
	}
}

// hunk is one @@ section: the edits it shows and the line ranges it
// covers (0-based, end excluded).
type hunk struct {
	a0, a1, b0, b1 int
	edits          []edit
}

// unifiedHunks groups a script into hunks with ctx lines of context,
// joining changes that at most 2·ctx equal lines separate (as diff -u and
// difflib do).
func unifiedHunks(script []edit, ctx int) []hunk {
	var hunks []hunk
	i := 0
	for i < len(script) {
		for i < len(script) && script[i].op == opEqual {
			i++
		}
		if i == len(script) {
			break
		}
		start := max(0, i-ctx)
		end := i
		for {
			for end < len(script) && script[end].op != opEqual {
				end++
			}
			eq := end
			for eq < len(script) && script[eq].op == opEqual {
				eq++
			}
			if eq == len(script) || eq-end > 2*ctx {
				end = min(end+ctx, eq)
				break
			}
			end = eq
		}
		h := hunk{edits: script[start:end], a0: script[start].a, b0: script[start].b}
		h.a1, h.b1 = h.a0, h.b0
		for _, e := range h.edits {
			if e.op != opInsert {
				h.a1++
			}
			if e.op != opDelete {
				h.b1++
			}
		}
		hunks = append(hunks, h)
		i = end
	}
	return hunks
}
