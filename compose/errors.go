package compose

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/errdefs"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/docker-vault/docker-vault/internal/yamledit"
)

// LoadError is a project that does not load, said as where and why: the
// file, the line and column as far as they are known, and a reason that
// never quotes the file.
//
// compose-go, its dotenv parser and the conversions behind them quote the
// text they fail on: `unterminated quoted value "<value>`, `Invalid
// template: "<value>${x"`, `invalid containerPort: <value>`, a YAML
// pattern error with the value in it. That text may be a password with an
// unclosed quote or a token holding "${", so every error of the loader is
// rewritten into a LoadError (or a YAMLError) by explain, and the original
// message is dropped.
type LoadError struct {
	// File is absolute; "" when compose-go named no file and the key was
	// found in none.
	File string
	// Line and Column are 1-based; 0 when not known.
	Line, Column int
	// Reason says what is wrong, naming keys and variables, never values.
	Reason string
	// kind is compose-go's errdefs sentinel the error carried, if any.
	kind error
}

func (e *LoadError) Error() string {
	switch {
	case e.File == "":
		return "failed to load compose project: " + e.Reason
	case e.Line == 0:
		return e.File + ": " + e.Reason
	case e.Column == 0:
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Reason
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Column) + ": " + e.Reason
}

// Unwrap gives compose-go's errdefs sentinel (ErrInvalid, ErrNotFound...)
// for errors.Is, and nothing of the original message.
func (e *LoadError) Unwrap() error { return e.kind }

const interpolationHint = `"${" must be followed by a variable name and "}" (write "$$" for a literal "$")`

// envFileError explains why compose's dotenv parser rejected an env file:
// the line and key of the statement at fault and what is wrong with it.
// parse is that parser with the same lookup and format, run on a part of
// content to find the statement.
func envFileError(path string, content []byte, err error, parse func([]byte) error) *LoadError {
	e := &LoadError{File: path, kind: sentinel(err)}
	line, key, syntax, ok := yamledit.LocateEnvError(content, parse)
	if ok {
		e.Line = line
	}
	in := ""
	if key != "" {
		in = " in the value of " + key
	}
	msg := err.Error()
	var ite *template.InvalidTemplateError
	var mre *template.MissingRequiredError
	switch {
	case errors.As(err, &ite):
		e.Reason = "invalid interpolation format" + in + ": " + interpolationHint
	case errors.As(err, &mre):
		e.Reason = missingRequired(mre, strings.TrimPrefix(in, " "), content)
	case strings.Contains(msg, ": unterminated quoted value"):
		e.Reason = "unterminated quote" + in
	case strings.Contains(msg, ": unexpected character "):
		e.Reason = "invalid character in a variable name"
	case strings.Contains(msg, ": key cannot contain a space"):
		e.Reason = "a variable name cannot contain a space"
	case strings.Contains(msg, "unsupported env_file format "):
		// The format is a word from the compose file, not a value.
		e.Reason = msg[strings.Index(msg, "unsupported env_file format "):]
	case syntax != nil:
		var se *yamledit.EnvSyntaxError
		if errors.As(syntax, &se) {
			e.Reason = se.Reason + in
		}
	}
	if e.Reason == "" {
		e.Reason = "compose cannot read this env file" + in
	}
	return e
}

// missingRequired says which variable a ${VAR:?message} found unset, with
// the message when it is written as is in the file: a message made by
// interpolation (`${A:?${B}}`) could be a value and is left out.
func missingRequired(mre *template.MissingRequiredError, in string, written []byte) string {
	s := "required variable " + mre.Variable + " is missing a value"
	if in != "" {
		s += " (" + in + ")"
	}
	if mre.Reason != "" && strings.Contains(string(written), "?"+mre.Reason+"}") {
		s += ": " + mre.Reason
	}
	return s
}

// sentinel is the errdefs condition err carries.
func sentinel(err error) error {
	for _, s := range []error{errdefs.ErrNotFound, errdefs.ErrInvalid, errdefs.ErrUnsupported, errdefs.ErrIncompatible, errdefs.ErrDisabled} {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// passThrough: errors already safe to print as they are.
func passThrough(err error) bool {
	var le *LoadError
	var ye *YAMLError
	return errors.As(err, &le) || errors.As(err, &ye) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
