//go:build !linux

package envrun

// SystemLimits are this system's limits: none known in advance, the
// child's start reports E2BIG.
func SystemLimits() Limits { return Limits{} }
