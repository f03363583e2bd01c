// Package safefmt prints the types that hold secret values. fmt prints a
// struct's fields for %v, %+v, %s and %d, and a []byte field as text or
// numbers: a type whose fields may hold a value implements Format with
// this package, so that every verb prints what its String and GoString
// say (names, paths, versions) and nothing else.
package safefmt

import (
	"fmt"
	"io"
	"strconv"
)

// Redacting is a type that describes itself without its values.
type Redacting interface {
	fmt.Stringer
	fmt.GoStringer
}

// Format writes v's GoString for %#v, its String quoted for %q, and its
// String for every other verb; width, precision and flags are ignored.
func Format(f fmt.State, verb rune, v Redacting) {
	var s string
	switch {
	case verb == 'v' && f.Flag('#'):
		s = v.GoString()
	case verb == 'q':
		s = strconv.Quote(v.String())
	default:
		s = v.String()
	}
	_, _ = io.WriteString(f, s)
}
