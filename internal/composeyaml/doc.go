// Package composeyaml is the YAML layer the read side (compose) and the
// write side (yamledit) share: the checks every compose file passes before
// anything else reads it, the one merge-key walker, the one reading of a
// service's environment: entries (EnvEntries), and the one syntax-error
// type with file:line:column.
package composeyaml

import "fmt"

// SyntaxError is a compose file that is not YAML a compose loader can read,
// formatted "file:line:column: message". Msg never quotes the file: a value
// there may be a secret.
type SyntaxError struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}
