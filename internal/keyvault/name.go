package keyvault

import "regexp"

// nameRule is the service's rule for secret names.
var nameRule = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)

// ValidSecretName tells whether s can name a Key Vault secret: 1-127
// letters, digits and hyphens. Names are case-insensitive, so two names
// that differ only in case are one secret. Every layer checks names with
// this one rule: the x-vault mapping (so a bad name is reported against the
// compose secret that made it), and the store itself (so a typo becomes a
// clear error instead of a 400, or a request to an unexpected path).
func ValidSecretName(s string) bool { return nameRule.MatchString(s) }
