package build

import (
	"fmt"
	"io"
	"strings"

	"github.com/docker-vault/docker-vault/internal/leak"
	"github.com/docker-vault/docker-vault/internal/redact"
)

// Leak is where a value was found in an image.
type Leak struct {
	SecretID string `json:"secret"`
	// Version is the Key Vault version of a previous value (Previous),
	// empty for the value the build used.
	Version  string `json:"version,omitempty"`
	Previous bool   `json:"previous,omitempty"`
	Encoding string `json:"encoding"` // one of redact.Encodings
	Blob     string `json:"blob"`     // the file of the image archive: a layer, the config
	Path     string `json:"path"`     // the file inside a layer, if any; masked where it holds a value
}

func (l Leak) String() string {
	where := l.Blob
	if l.Path != "" {
		where += ": " + l.Path
	}
	what := l.Encoding
	if l.Previous {
		what += ", previous version " + shortVersion(l.Version)
	}
	return fmt.Sprintf("secret %s (%s) found in %s", l.SecretID, what, where)
}

// shortVersion is how a message names a Key Vault version: its first 8
// characters, as the swarm secrets sync creates are named.
func shortVersion(v string) string {
	if len(v) > 8 {
		return v[:8]
	}
	return v
}

// Needles are the forms of every value of secrets (redact.Needles), each
// tagged with the index of its secret. Values shorter than redact.MinLen
// give none (see ShortNotes). Clear them with redact.Clear when done.
func Needles(secrets []Secret) []redact.Needle {
	var ns []redact.Needle
	for i, s := range secrets {
		ns = append(ns, redact.Needles(i, s.Value)...)
	}
	return ns
}

// ShortNotes names, by secret id and never by value, the values too short
// to be masked or searched for.
func ShortNotes(secrets []Secret) []Note {
	var notes []Note
	for _, s := range secrets {
		if len(s.Value) == 0 || len(s.Value) >= redact.MinLen {
			continue
		}
		if s.Previous {
			notes = append(notes, Note(fmt.Sprintf("leak check: secret %s: previous version %s is shorter than %d bytes: not searched", s.ID, shortVersion(s.Version), redact.MinLen)))
			continue
		}
		notes = append(notes, Note(fmt.Sprintf("secret %s: the value is shorter than %d bytes: too short to be masked in the output or searched for in the image", s.ID, redact.MinLen)))
	}
	return notes
}

// Report is what a Scan read and found.
type Report struct {
	Leaks []Leak
	// Layers is the number of layers of the image, every one of them
	// read to its end.
	Layers int
	// Bytes is the size of the archive, read to its end.
	Bytes int64
}

// ErrUnreadable is an image archive that could not be read to its end or
// is not what `docker save` writes: the image was not (fully) searched.
var ErrUnreadable = leak.ErrUnreadable

// Scan searches an image archive as `docker save` writes it for every form
// of every value (Needles) with the leak package's search, the one
// `docker vault scan --image` uses too: in every file of every layer, the
// names of those files, the config and its history, and the legacy
// per-layer JSON. It reports each value at most once per file, with file
// names that hold a value masked.
//
// Anything that keeps it from reading the whole image is an error matching
// ErrUnreadable, never a clean report (see leak.Search.Archive).
func Scan(archive io.Reader, secrets []Secret) (Report, error) {
	ns := Needles(secrets)
	defer redact.Clear(ns)
	var report Report
	s := leak.New(redact.NewMatcher(ns), func(h leak.Hit) {
		sec := secrets[h.Tag]
		report.Leaks = append(report.Leaks, Leak{
			SecretID: sec.ID, Version: sec.Version, Previous: sec.Previous, Encoding: h.Encoding,
			Blob: h.Blob, Path: h.Path,
		})
	})
	a, err := s.Archive(archive, nil)
	if err != nil {
		return report, err
	}
	report.Layers, report.Bytes = a.Layers, a.Read
	return report, nil
}

// Failure says what a Scan of image with leaks found, one leak a line, and
// what to do.
func (r Report) Failure(image string) string {
	var lines []string
	cached := false
	for _, l := range r.Leaks {
		lines = append(lines, "  "+l.String())
		cached = cached || l.Previous
	}
	hint := "read secrets only in the RUN step that mounts them, and do not copy /run/secrets or anything derived from it into a layer."
	if cached {
		hint += " A previous version's value comes from a step served from cache: rebuild with --no-cache, and declare 'ARG " + VersionsArg + "' so that a rotation re-runs the steps that use a secret."
	}
	return fmt.Sprintf("image %s holds secret values:\n%s\nRemove the image (docker image rm %s): %s", image, strings.Join(lines, "\n"), image, hint)
}

// Summary says what a clean Scan of image searched, and how: "no value of
// 3 secrets (current and 5 previous versions) found in image app:1: 4
// layers, the config or the history (raw, hex, base64, JSON-escaped, URL-encoded)".
// Values too short to search are not counted.
func Summary(secrets []Secret, r Report, image string) string {
	current := map[string]bool{}
	versions := map[string]bool{} // previous ones, by Key Vault secret and version
	for _, s := range secrets {
		if len(s.Value) < redact.MinLen {
			continue
		}
		if s.Previous {
			versions[strings.ToLower(s.KVName)+"/"+s.Version] = true
		} else {
			current[s.ID] = true
		}
	}
	previous := len(versions)
	which := "current version only"
	switch {
	case len(current) > 1 && previous == 0:
		which = "current versions only"
	case previous == 1:
		which = "current and 1 previous version"
	case previous > 1:
		which = fmt.Sprintf("current and %d previous versions", previous)
	}
	return fmt.Sprintf("no value of %s (%s) found in image %s: %s, the config or the history (%s)",
		plural(len(current), "secret"), which, image, plural(r.Layers, "layer"), strings.Join(redact.Encodings, ", "))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
