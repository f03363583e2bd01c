package composeyaml

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	yaml4 "go.yaml.in/yaml/v4"
)

// Failure is where and why compose's parser (yaml v4) refuses a file.
type Failure struct {
	// Line and Column are 1-based; 0 when yaml v4 gave no position.
	Line, Column int
	Msg          string
	// Context names the construct the problem is in ("while parsing a
	// flow sequence") and where it starts; ContextLine is 0 when there is
	// none, or when it is the document's first line (yaml v4 prints no
	// position there, and a message pointing at line 1 says nothing).
	Context                    string
	ContextLine, ContextColumn int
	// Offset is the byte offset of an encoding error, -1 when none.
	Offset int
}

var v3Line = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Locate places a YAML syntax error that yaml.v3 (the nodes this layer
// reads) reported on data. yaml.v3 gives a line only, and for parser errors
// the line where the enclosing construct starts; compose's parser (yaml v4)
// says where the problem is, with a column, so it is asked and wins when it
// knows. The SyntaxError's Line is 0 when neither knows; the Failure is
// yaml v4's, for a caller that names the context or maps an offset.
func Locate(file string, data []byte, v3err error) (*SyntaxError, Failure) {
	e := &SyntaxError{File: file, Msg: strings.TrimPrefix(v3err.Error(), "yaml: ")}
	if m := v3Line.FindStringSubmatch(v3err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Column, e.Msg = 1, m[2]
	}
	f := v4Failure(data)
	if f.Line > 0 {
		e.Line, e.Column, e.Msg = f.Line, f.Column, f.Msg
	}
	return e, f
}

// v4Failure decodes data document by document with yaml v4 and describes
// its first error.
func v4Failure(data []byte) Failure {
	dec := yaml4.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml4.Node
		err := dec.Decode(&n)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			return Failure{Offset: -1}
		}
		return describe(err)
	}
}

// describe reads yaml v4's error. Its error types are internal, hence
// reflection, and their marks differ by origin: the scanner's hold a
// 1-based line and 0-based column, the parser's both 0-based, and the
// composer's (the only one returned as a pointer) a node's 1-based line
// and column. Reader (encoding) errors hold a byte offset instead.
func describe(err error) Failure {
	f := Failure{Offset: -1}
	for ; err != nil; err = errors.Unwrap(err) {
		v := reflect.ValueOf(err)
		composer := v.Kind() == reflect.Pointer
		if composer {
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			continue
		}
		t := v.Type().Name()
		if t == "ReaderError" {
			if o := v.FieldByName("Offset"); o.Kind() == reflect.Int && o.Int() >= 0 {
				f.Offset = int(o.Int())
			}
			continue
		}
		if t != "ParserError" && t != "ScannerError" {
			continue
		}
		line, col, ok := mark(v.FieldByName("Mark"), composer, t == "ParserError")
		msg := v.FieldByName("Message")
		if !ok || line < 1 || msg.Kind() != reflect.String {
			continue
		}
		f.Line, f.Column, f.Msg = line, col, msg.String()
		cm, ctx := v.FieldByName("ContextMark"), v.FieldByName("ContextMessage")
		if ctx.Kind() == reflect.String && ctx.String() != "" && !reflect.DeepEqual(cm.Interface(), v.FieldByName("Mark").Interface()) {
			if raw := cm.FieldByName("Line"); raw.Kind() == reflect.Int && raw.Int() != 0 {
				f.Context = ctx.String()
				f.ContextLine, f.ContextColumn, _ = mark(cm, composer, t == "ParserError")
			}
		}
		return f
	}
	return f
}

// mark converts a yaml v4 mark to a 1-based line and column.
func mark(m reflect.Value, composer, parser bool) (line, col int, ok bool) {
	if !m.IsValid() || m.Kind() != reflect.Struct {
		return 0, 0, false
	}
	l, c := m.FieldByName("Line"), m.FieldByName("Column")
	if l.Kind() != reflect.Int || c.Kind() != reflect.Int {
		return 0, 0, false
	}
	line, col = int(l.Int()), int(c.Int())
	switch {
	case composer:
	case parser:
		line, col = line+1, col+1
	default:
		col++
	}
	return line, col, true
}
