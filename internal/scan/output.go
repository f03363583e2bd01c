package scan

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/docker/cli/cli/command/formatter"
)

// Output formats beyond docker's own (table, json, Go templates).
const FormatSARIF = "sarif"

// DefaultTable is scan's default table: one finding a row.
const DefaultTable = "table {{.Severity}}\t{{.Rule}}\t{{.Location}}\t{{.Service}}\t{{.Variable}}\t{{.Secret}}\t{{.Message}}"

// QuietFormat is -q's: the fingerprints, as docker's -q prints ids.
const QuietFormat = "{{.Fingerprint}}"

// RowHeader names the columns of every template field.
var RowHeader = formatter.SubHeaderContext{
	"Severity":    "SEVERITY",
	"Rule":        "RULE",
	"Location":    "LOCATION",
	"File":        "FILE",
	"Line":        "LINE",
	"Column":      "COLUMN",
	"Image":       "IMAGE",
	"Layer":       "LAYER",
	"Path":        "PATH",
	"Service":     "SERVICE",
	"Services":    "SERVICES",
	"Variable":    "VARIABLE",
	"Secret":      "SECRET",
	"Encoding":    "ENCODING",
	"Message":     "MESSAGE",
	"Fix":         "FIX",
	"Fingerprint": "FINGERPRINT",
	"Suppressed":  "SUPPRESSED",
}

// Row is one finding for docker's formatter: its methods are the template
// fields and, with --format json, the keys of its object. A Finding holds
// no value, so neither does a row.
type Row struct {
	formatter.HeaderContext
	f Finding
}

// Rows are the findings as rows.
func Rows(fs []Finding) []*Row {
	rows := make([]*Row, len(fs))
	for i, f := range fs {
		rows[i] = &Row{f: f}
	}
	return rows
}

func (r *Row) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(r) }
func (r *Row) Severity() string             { return string(r.f.Severity) }
func (r *Row) Rule() string                 { return r.f.Rule }
func (r *Row) Location() string             { return r.f.Location() }
func (r *Row) File() string                 { return r.f.File }
func (r *Row) Line() int                    { return r.f.Line }
func (r *Row) Column() int                  { return r.f.Column }
func (r *Row) Image() string                { return r.f.Image }
func (r *Row) Layer() string                { return r.f.Layer }
func (r *Row) Path() string                 { return r.f.Path }
func (r *Row) Service() string              { return r.f.Service }
func (r *Row) Services() string             { return strings.Join(r.f.Services, ", ") }
func (r *Row) Variable() string             { return r.f.Variable }
func (r *Row) Secret() string               { return r.f.Secret }
func (r *Row) Encoding() string             { return r.f.Encoding }
func (r *Row) Message() string              { return r.f.Message }
func (r *Row) Fix() string                  { return r.f.Fix }
func (r *Row) Fingerprint() string          { return r.f.Fingerprint }
func (r *Row) Suppressed() string           { return r.f.Suppressed }

// Counts are what a summary line says.
type Counts struct {
	Findings   int // not suppressed: these fail the scan
	Suppressed int
	Errors     int // files that could not be read
}

// Count counts r's findings and errors.
func Count(r *Result) Counts {
	c := Counts{Errors: len(r.Errors)}
	for _, f := range r.Findings {
		if f.Suppressed != "" {
			c.Suppressed++
		} else {
			c.Findings++
		}
	}
	return c
}

// Unsuppressed are the findings that count, in order.
func Unsuppressed(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Suppressed == "" {
			out = append(out, f)
		}
	}
	return out
}

// WriteReport writes what goes to stderr with every format before the
// summary line: each file that could not be read, and the notes. It never
// holds a value: errors and notes are built without one.
func WriteReport(w io.Writer, r *Result) {
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s: %s\n", e.File, e.Err)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// Summary is the one line that ends a scan's report:
// "3 secrets found (1 suppressed) in 12 files; 1 file could not be read".
func Summary(r *Result) string {
	c := Count(r)
	var b strings.Builder
	if c.Findings == 0 {
		b.WriteString("no secrets found")
	} else {
		fmt.Fprintf(&b, "%s found", countWord(c.Findings, "secret"))
	}
	if c.Suppressed > 0 {
		fmt.Fprintf(&b, " (%d suppressed)", c.Suppressed)
	}
	switch {
	case r.Images == 0:
		fmt.Fprintf(&b, " in %s", countWord(r.Files, "file"))
	case r.Files == 0:
		fmt.Fprintf(&b, " in %s", countWord(r.Images, "image"))
	default:
		fmt.Fprintf(&b, " in %s and %s", countWord(r.Files, "file"), countWord(r.Images, "image"))
	}
	if c.Errors > 0 {
		fmt.Fprintf(&b, "; %s could not be read", countWord(c.Errors, "file"))
	}
	return b.String()
}

func countWord(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// Merge is the results of one run's scans as one: a finding two scans
// made (a compose file given both with -f and in a PATH) is kept once, and
// every finding gets its fingerprint over the whole list, so that copies of
// one key are ranked in one order.
func Merge(rs ...*Result) *Result {
	out := &Result{}
	seen := map[string]bool{}
	for _, r := range rs {
		if r == nil {
			continue
		}
		o := *r
		o.Findings = nil
		for _, f := range r.Findings {
			k := f.key() + "\x00" + strconv.Itoa(f.Line) + "\x00" + strconv.Itoa(f.Column) + "\x00" + f.Layer
			if seen[k] {
				continue
			}
			seen[k] = true
			o.Findings = append(o.Findings, f)
		}
		out.Add(&o)
	}
	SetFingerprints(out.Findings)
	return out
}
