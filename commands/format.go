package commands

import (
	"io"
	"maps"
	"strings"

	"github.com/docker/cli/cli/command/formatter"
	flagsHelper "github.com/docker/cli/cli/flags"
)

// formatHelp is the --format flag's help of a command that prints rows:
// docker's own words for its ls commands.
const formatHelp = flagsHelper.FormatHelp

// newFormat is the formatter.Format for a --format flag, as docker's ls
// commands choose it: "" and "table" are the command's default table (or
// quietFormat with -q), anything else ("json", "table TEMPLATE", a
// template) is itself.
func newFormat(source, defaultTable, quietFormat string, quiet bool) formatter.Format {
	switch source = strings.TrimSpace(source); source {
	case "", formatter.TableFormatKey:
		if quiet {
			return formatter.Format(quietFormat)
		}
		return formatter.Format(defaultTable)
	}
	return formatter.Format(source)
}

// isDefaultFormat tells whether a --format flag asks for the command's own
// table, which alone carries its summary lines.
func isDefaultFormat(source string) bool {
	source = strings.TrimSpace(source)
	return source == "" || source == formatter.TableFormatKey
}

// checkFormat refuses a --format whose template does not parse, or fails
// on the command's empty rows (samples: a field the rows lack), before the
// command reads or changes anything.
func checkFormat(source string, samples ...formatter.SubContext) error {
	if isDefaultFormat(source) {
		return nil
	}
	return writeRows(io.Discard, formatter.Format(strings.TrimSpace(source)), nil, samples)
}

// writeRows prints rows through docker's formatter: a table with a header,
// one JSON object per row ("json"), or a template per row.
func writeRows[T formatter.SubContext](out io.Writer, format formatter.Format, header any, rows []T) error {
	ctx := formatter.Context{Output: out, Format: format}
	return ctx.Write(&formatter.HeaderContext{Header: header}, func(write func(formatter.SubContext) error) error {
		for _, r := range rows {
			if err := write(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// withoutHeaders is header with the given fields' headers blank: a default
// table that prints a field only after another one ("ACTION (REASON)")
// names the column once.
func withoutHeaders(header formatter.SubHeaderContext, fields ...string) formatter.SubHeaderContext {
	h := maps.Clone(header)
	for _, f := range fields {
		h[f] = ""
	}
	return h
}
