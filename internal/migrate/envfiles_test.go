package migrate

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestUsedNames lists what keeps a .env line: every way a compose file can
// still refer to the variable, and lines that do not.
func TestUsedNames(t *testing.T) {
	text := `services:
  a:
    image: x:${TAG:-latest}
    command: echo $PLAIN and $${ESCAPED} and $$LITERAL and $$$AFTER_LITERAL
    environment:
      - LISTED
      - "QUOTED_LISTED" # a comment
      - SET_IN_LIST=1
      KEY_ONLY:
      KEY_NULL: null
      KEY_TILDE: ~
      KEY_SET: value
      KEY_EMPTY_STRING: ""
  b:
    environment: [FLOW_A, FLOW_SET=1, "FLOW_Q"]
  c:
    environment: {FLOW_KEY, FLOW_NULL: null, FLOW_VALUE: v}
`
	used := usedNames([][]byte{[]byte(text)})
	for _, name := range []string{"TAG", "PLAIN", "ESCAPED", "AFTER_LITERAL", "LISTED", "QUOTED_LISTED", "KEY_ONLY", "KEY_NULL", "KEY_TILDE", "FLOW_A", "FLOW_Q", "FLOW_KEY", "FLOW_NULL"} {
		assert.Check(t, used[name], name)
	}
	for _, name := range []string{"LITERAL", "SET_IN_LIST", "KEY_SET", "KEY_EMPTY_STRING", "FLOW_SET", "FLOW_VALUE", "latest"} {
		assert.Check(t, !used[name], name)
	}
	assert.Check(t, is.Equal(used["1"], false))
}
