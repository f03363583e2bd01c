// Package composecli knows the docker compose command line as far as docker
// vault hands it on: which of compose's global flags are not the project's
// and whether they take a value. build --compose and the compose/up
// commands sort the arguments they are given with it.
package composecli

// GlobalValueFlags are docker compose's global flags that take a value and
// are not the project's (-f, -p, --profile, --project-directory and
// --env-file are, and docker vault reads them itself).
var GlobalValueFlags = map[string]bool{"--ansi": true, "--parallel": true, "--progress": true}

// GlobalBoolFlags are docker compose's global flags that take no value and
// are not the project's.
var GlobalBoolFlags = map[string]bool{"--compatibility": true, "--all-resources": true}
