package yamledit

import (
	"bytes"
	"fmt"
	"regexp"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

var plainEnvValue = regexp.MustCompile(`^[A-Za-z0-9_./:@%+,=-]*$`)

// Replace rewrites the statement that defines key (the last one, which is
// the one compose reads) as `newKey=newValue`, in place, and drops earlier
// statements of key. The rest of the file stays byte for byte. newValue is
// written bare, so it must not need quoting (a /run/secrets path or a secret
// name never does).
func (e *EnvFile) Replace(key, newKey, newValue string) error {
	if newKey == key || newKey == "" {
		return fmt.Errorf("%s: %w: %s must be renamed to another variable", e.filename, ErrUnsupported, key)
	}
	if !plainEnvValue.MatchString(newValue) {
		return fmt.Errorf("%s: %w: value for %s needs quoting", e.filename, ErrUnsupported, newKey)
	}
	last := -1
	for i, s := range e.stmts {
		if s.key == key {
			last = i
		}
	}
	if last < 0 {
		return fmt.Errorf("%s: %w: no variable %s", e.filename, ErrNotFound, key)
	}
	s := e.stmts[last]
	out := append([]byte{}, e.data[:s.start]...)
	out = append(out, newKey+"="+newValue...)
	out = append(out, e.data[s.end:]...)
	stmts, err := scanEnv(e.filename, out)
	if err != nil {
		return fmt.Errorf("%s: %w: the rewritten statement does not read back", e.filename, ErrUnsupported)
	}
	e.data, e.stmts = out, stmts
	for {
		// Earlier definitions of key would now win over nothing: drop them.
		found := false
		for _, st := range e.stmts {
			if st.key == key {
				found = true
			}
		}
		if !found || !e.Remove(key) {
			break
		}
	}
	// As Remove does: compose's own parser must read the result as the
	// input with that one change.
	got, err := dotenv.ParseWithLookup(bytes.NewReader(e.data), func(string) (string, bool) { return "x", true })
	if err != nil || got[newKey] != newValue {
		return fmt.Errorf("%s: %w: the rewritten file reads differently in compose", e.filename, ErrUnsupported)
	}
	if _, still := got[key]; still {
		return fmt.Errorf("%s: %w: %s is still defined", e.filename, ErrUnsupported, key)
	}
	return nil
}
