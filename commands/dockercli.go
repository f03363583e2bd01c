package commands

import (
	"errors"
	"os"
	"strings"

	"github.com/docker-vault/docker-vault/internal/runner"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli-plugins/metadata"
)

// dockerBinary is the docker CLI that ran the plugin.
func dockerBinary() string {
	if bin := os.Getenv(metadata.ReexecEnvvar); bin != "" {
		return bin
	}
	return "docker"
}

// globalValueFlags are the docker CLI's own options that take a value.
var globalValueFlags = map[string]bool{
	"--config": true, "-c": true, "--context": true, "-H": true, "--host": true,
	"-l": true, "--log-level": true, "--tlscacert": true, "--tlscert": true, "--tlskey": true,
}

// globalArgs are the docker CLI's own options the plugin was run with (the
// arguments before the plugin's name), so that a docker command the plugin
// runs talks to the same engine with the same config: --context, -H,
// --config, TLS.
func globalArgs() []string {
	return globalArgsOf(os.Args[1:])
}

func globalArgsOf(args []string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return append([]string(nil), args[:i]...)
		}
		if globalValueFlags[a] {
			i++ // its value, which may well be "vault"
		}
	}
	return nil
}

// childStatus makes a child's exit code (runner.ExitError) the plugin's
// own, as docker does for its plugins; a child a signal killed (no exit
// code) makes it 1.
func childStatus(err error) error {
	var ee *runner.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ee.Code < 0 {
		return cli.StatusError{StatusCode: 1, Status: ee.Name + " was killed by a signal"}
	}
	return cli.StatusError{StatusCode: ee.Code, Status: ee.Error()}
}
