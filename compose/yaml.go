package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/docker-vault/docker-vault/internal/composeyaml"
	yaml "go.yaml.in/yaml/v3"
)

// This file parses compose files into the yaml.v3 nodes positions are
// read from; composeyaml holds the checks and the error positions, this
// package only its message policy (quote nothing from the file).

// parseYAML decodes every document of a compose file into yaml.v3 nodes,
// and refuses aliases no loader can expand, before anything expands one:
// compose-go, or the merge-key walks of this package.
func parseYAML(path string, b []byte) ([]*yaml.Node, error) {
	docs, err := decodeYAML(path, b)
	if err != nil {
		return nil, err
	}
	return docs, composeyaml.CheckAliases(path, docs...)
}

// decodeYAML decodes every document of a compose file into yaml.v3 nodes.
func decodeYAML(path string, b []byte) ([]*yaml.Node, error) {
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, yamlError(path, b, err)
		}
		docs = append(docs, &n)
	}
}

// yamlError places a YAML error (composeyaml.Locate), at 1:1 when no
// parser knows where, names the construct it is in and keeps the message
// from quoting the file.
func yamlError(path string, b []byte, v3err error) error {
	e, f := composeyaml.Locate(path, b, v3err)
	if e.Line == 0 {
		e.Line, e.Column = 1, 1
	}
	if f.Line > 0 && f.ContextLine > 0 {
		e.Msg += fmt.Sprintf(" (%s that starts at line %d, column %d)", f.Context, f.ContextLine, max(f.ContextColumn, 1))
	}
	e.Msg = yamlMessage(e.Msg)
	return e
}

// yamlQuoted is quoted text. The parsers quote single syntax characters
// ("did not find expected ',' or ']'"), kept, and in a few messages a
// name or key, dropped.
var yamlQuoted = regexp.MustCompile(`'[^']*'|"[^"]*"`)

// yamlMessage keeps a YAML parser's message from quoting the file: an
// unquoted password that starts with "*" reads as an alias, and the
// parser names it ("unknown anchor '<value>' referenced").
func yamlMessage(msg string) string {
	if strings.HasPrefix(msg, "unknown anchor ") {
		return `unknown anchor referenced (quote a value that starts with "*")`
	}
	msg = yamlQuoted.ReplaceAllStringFunc(msg, func(q string) string {
		if utf8.RuneCountInString(q) <= 3 {
			return q
		}
		return ""
	})
	return strings.Join(strings.Fields(msg), " ")
}
