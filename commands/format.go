package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/docker/cli/templates"
)

// formatHelp is the --format flag's help, as docker commands word it.
const formatHelp = `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`

// writeFormatted prints v as JSON ("json"), through a Go template, or, when
// format is empty, with the command's own text renderer.
func writeFormatted(out io.Writer, format string, v any, text func(io.Writer) error) error {
	switch {
	case format == "":
		return text(out)
	case strings.EqualFold(format, "json"):
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	default:
		tmpl, err := templates.Parse(format)
		if err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		if err := tmpl.Execute(out, v); err != nil {
			return fmt.Errorf("template execution error: %w", err)
		}
		_, err = fmt.Fprintln(out)
		return err
	}
}
