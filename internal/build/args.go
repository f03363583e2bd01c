package build

import (
	"path/filepath"
	"strings"
)

// BuildArgs is what docker vault needs to know of the user's buildx build
// arguments. They are read, never changed.
type BuildArgs struct {
	Context    string   // the build context: the last argument, "." if none
	Dockerfile string   // -f/--file, or Context/Dockerfile
	Target     string   // --target
	Load       bool     // --load, or --output type=docker without dest=
	Tags       []string // -t/--tag
	IIDFile    string   // --iidfile

	// Output is set when the user chose where the image goes (--load,
	// --push, -o). Without it the builder decides: buildx's docker driver,
	// the default on a plain Docker Engine, loads the image into the engine.
	Output bool
	// ToStdout is set when the result goes to stdout as a tarball (-o -,
	// or an output with dest=-): stdout then carries bytes, not text.
	ToStdout bool
}

// valueFlags are the buildx build flags that take a value, so that their
// value is not mistaken for the context. Flags not listed are treated as
// booleans; the context must then be the last argument (as buildx's own
// usage puts it).
var valueFlags = map[string]bool{
	"--add-host": true, "--allow": true, "--annotation": true, "--attest": true, "--build-arg": true,
	"--build-context": true, "--builder": true, "--cache-from": true, "--cache-to": true, "--call": true,
	"--cgroup-parent": true, "-f": true, "--file": true, "--iidfile": true, "--label": true, "--metadata-file": true,
	"--network": true, "--no-cache-filter": true, "-o": true, "--output": true, "--platform": true, "--progress": true,
	"--provenance": true, "--sbom": true, "--secret": true, "--shm-size": true, "--ssh": true, "-t": true, "--tag": true,
	"--target": true, "--ulimit": true, "--policy": true, "--resource": true,
}

// valueShorthands are the one-letter flags of buildx build that take a
// value; pflag accepts it attached (-fDockerfile, -f=Dockerfile), after a
// cluster of boolean shorthands (-qf Dockerfile), or as the next argument.
var valueShorthands = map[byte]string{'f': "--file", 't': "--tag", 'o': "--output"}

// ParseBuildArgs reads the user's buildx build arguments.
func ParseBuildArgs(args []string) BuildArgs {
	var b BuildArgs
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		var name, value string
		hasValue := false
		if strings.HasPrefix(a, "--") {
			name, value, hasValue = strings.Cut(a, "=")
		} else {
			// A shorthand cluster: booleans up to the first shorthand
			// that takes a value, which takes the rest.
			name = ""
			for j := 1; j < len(a); j++ {
				if long, ok := valueShorthands[a[j]]; ok {
					name = long
					if rest := strings.TrimPrefix(a[j+1:], "="); j+1 < len(a) {
						value, hasValue = rest, true
					}
					break
				}
			}
			if name == "" {
				continue
			}
		}
		if !hasValue && valueFlags[name] && i+1 < len(args) {
			value = args[i+1]
			i++
		}
		switch name {
		case "-f", "--file":
			b.Dockerfile = value
		case "--target":
			b.Target = value
		case "--load":
			b.Load = !hasValue || value == "true"
			b.Output = true
		case "--push":
			b.Output = true
		case "-o", "--output":
			if isDockerLoad(value) {
				b.Load = true
			}
			if toStdout(value) {
				b.ToStdout = true
			}
			b.Output = true
		case "-t", "--tag":
			b.Tags = append(b.Tags, value)
		case "--iidfile":
			b.IIDFile = value
		}
	}
	b.Context = "."
	if len(positional) > 0 {
		b.Context = positional[len(positional)-1]
	}
	if b.Dockerfile == "" && !b.RemoteContext() && b.Context != "-" {
		b.Dockerfile = filepath.Join(b.Context, "Dockerfile")
	}
	return b
}

// isDockerLoad tells whether an --output value loads the image into the
// engine: type=docker writes a tarball instead when it has a dest.
func isDockerLoad(spec string) bool {
	if spec == "" {
		return false
	}
	docker, dest := false, false
	for _, field := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(field, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "type":
			docker = v == "docker"
		case "dest":
			dest = v != ""
		}
	}
	return docker && !dest
}

// toStdout tells whether an --output value writes to stdout: "-", or a
// dest=- field.
func toStdout(spec string) bool {
	if spec == "-" {
		return true
	}
	for _, field := range strings.Split(spec, ",") {
		if k, v, _ := strings.Cut(field, "="); strings.EqualFold(strings.TrimSpace(k), "dest") && v == "-" {
			return true
		}
	}
	return false
}

// RemoteContext tells whether the context is a URL (git, https) that
// buildx fetches itself, so its Dockerfile cannot be read here.
func (b BuildArgs) RemoteContext() bool {
	c := b.Context
	return strings.Contains(c, "://") || strings.HasPrefix(c, "git@") || strings.HasPrefix(c, "github.com/")
}
