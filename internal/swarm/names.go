package swarm

import "regexp"

// validName is the swarm's rule for object names (swarmkit's
// validateNameOrID): letters and digits at both ends, '-', '_' and '.'
// inside, at most 64 characters.
var validName = regexp.MustCompile(`^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`)

// ValidName tells whether name can name a swarm secret.
func ValidName(name string) bool {
	return len(name) <= 64 && validName.MatchString(name)
}
