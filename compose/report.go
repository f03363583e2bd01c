package compose

import (
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// String renders the report as a table for people and for debugging. It
// prints names, places and decisions, never a value.
func (r Report) String() string {
	var b strings.Builder
	r.WriteTable(&b, false)
	return b.String()
}

// WriteTable writes the findings as a table; all=false leaves out the
// skipped ones.
func (r Report) WriteTable(w interface{ Write([]byte) (int, error) }, all bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = tw.Write([]byte("SERVICE\tVARIABLE\tSOURCE\tVERDICT\tACTION\tSECRET\tFILE VARIABLE\tREASON\n"))
	for _, f := range r.Findings {
		if !all && f.Action == ActionSkip {
			continue
		}
		src := string(f.Source.Kind)
		if pos := r.rel(f.Source.Position); pos != "" {
			src += " " + pos
		}
		fv := f.FileVariable
		switch {
		case fv != "" && f.FileVariableKind == FileVarName:
			fv += " (name)"
		case f.Via == ViaEntrypoint:
			fv = "(entrypoint wrapper)"
		}
		row := []string{f.Service, f.Variable, src, string(f.Verdict), string(f.Action), dash(f.SecretName), dash(fv), f.Reason}
		_, _ = tw.Write([]byte(strings.Join(row, "\t") + "\n"))
	}
	_ = tw.Flush()
	for _, warning := range r.Warnings {
		_, _ = w.Write([]byte("warning: " + warning + "\n"))
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// rel shows a position relative to the project directory when inside it.
func (r Report) rel(p Position) string {
	if p.File == "" {
		return ""
	}
	if r.ProjectDir != "" {
		if rel, err := filepath.Rel(r.ProjectDir, p.File); err == nil && !strings.HasPrefix(rel, "..") {
			p.File = rel
		}
	}
	return p.String()
}

// GoString keeps %#v from printing values.
func (r Report) GoString() string { return "compose.Report{\n" + r.String() + "}" }

// Count returns how many findings have the action.
func (r Report) Count(a Action) int {
	n := 0
	for _, f := range r.Findings {
		if f.Action == a {
			n++
		}
	}
	return n
}
