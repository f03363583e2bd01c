package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

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
}

// ErrUnreadable is an image archive that could not be read to its end or
// is not what `docker save` writes: the image was not (fully) searched.
var ErrUnreadable = errors.New("the image could not be read")

// Scan searches an image archive as `docker save` writes it (layers as
// tar, possibly gzip-compressed, configs and manifests as JSON) for every
// form of every value (Needles): in every file of every layer, the names of
// those files, the config and its history, and the legacy per-layer JSON.
// It reports each value at most once per file, with file names that hold a
// value masked.
//
// Anything that keeps it from reading the whole image is an error matching
// ErrUnreadable, never a clean report: a truncated archive or layer, a
// layer compressed in a way it cannot read, an archive without a
// manifest.json, or a manifest naming a config or layer the archive lacks.
func Scan(archive io.Reader, secrets []Secret) (Report, error) {
	ns := Needles(secrets)
	defer redact.Clear(ns)
	s := &scanner{m: redact.NewMatcher(ns), secrets: secrets, read: map[string]bool{}, links: map[string]string{}}
	ra := newReadAhead(archive)
	defer ra.stop()
	tr := tar.NewReader(ra)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s.report, unreadable("the image archive: %w", err)
		}
		name := path.Clean(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeSymlink:
			s.links[name] = path.Join(path.Dir(name), hdr.Linkname)
			continue
		case tar.TypeLink:
			s.links[name] = path.Clean(hdr.Linkname)
			continue
		default:
			continue
		}
		if name == "manifest.json" {
			b, err := io.ReadAll(io.LimitReader(tr, 64<<20))
			if err != nil {
				return s.report, unreadable("manifest.json: %w", err)
			}
			s.manifest = b
			if err := s.search(bytes.NewReader(b), name, ""); err != nil {
				return s.report, err
			}
		} else if err := s.blob(tr, name); err != nil {
			return s.report, err
		}
		s.read[name] = true
	}
	return s.report, s.complete()
}

func unreadable(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrUnreadable, fmt.Errorf(format, args...))
}

type scanner struct {
	m        *redact.Matcher
	secrets  []Secret
	report   Report
	read     map[string]bool   // regular files of the archive read to their end
	links    map[string]string // links of the archive to their targets
	manifest []byte
}

// complete checks that the archive held everything its manifest names,
// so that an archive cut short between two files is not taken for a whole
// image.
func (s *scanner) complete() error {
	if s.manifest == nil {
		return unreadable("the image archive has no manifest.json")
	}
	var manifest []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(s.manifest, &manifest); err != nil {
		return unreadable("manifest.json: %w", err)
	}
	if len(manifest) == 0 {
		return unreadable("manifest.json names no image")
	}
	layers := map[string]bool{}
	for _, img := range manifest {
		for i, f := range append([]string{img.Config}, img.Layers...) {
			target, ok := s.resolve(f)
			if !ok {
				return unreadable("the image archive lacks %s, which manifest.json names", f)
			}
			if i > 0 {
				layers[target] = true
			}
		}
	}
	s.report.Layers = len(layers)
	return nil
}

// resolve follows links to a file that was read.
func (s *scanner) resolve(name string) (string, bool) {
	name = path.Clean(name)
	for range 16 {
		if s.read[name] {
			return name, true
		}
		target, ok := s.links[name]
		if !ok {
			return "", false
		}
		name = target
	}
	return "", false
}

// blob scans one file of the archive: a layer (tar, maybe gzipped) is
// opened and each of its files scanned; anything else is scanned as is.
func (s *scanner) blob(r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		return unreadable("%s: %w", name, err)
	}
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return unreadable("%s: %w", name, err)
		}
		defer zr.Close()
		inner := bufio.NewReaderSize(zr, 1<<20)
		ihead, err := inner.Peek(512)
		if err != nil && !errors.Is(err, io.EOF) {
			return unreadable("%s: %w", name, err)
		}
		if isTar(ihead) {
			return s.layer(inner, name)
		}
		return s.search(inner, name, "")
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return unreadable("%s is zstd-compressed, which the leak check cannot read", name)
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return unreadable("%s is xz-compressed, which the leak check cannot read", name)
	case isTar(head):
		return s.layer(br, name)
	}
	return s.search(br, name, "")
}

// layer scans the files of a layer, and their names.
func (s *scanner) layer(r io.Reader, blob string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return unreadable("layer %s: %w", blob, err)
		}
		// Names and link targets can hold a value too.
		seen := map[int]bool{}
		s.m.Each([]byte(hdr.Name+"\x00"+hdr.Linkname), func(k int) bool {
			n := s.m.Needles()[k]
			if !seen[n.Tag] {
				seen[n.Tag] = true
				s.leak(n, blob, hdr.Name+" (file name)")
			}
			return true
		})
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if err := s.search(tr, blob, hdr.Name); err != nil {
			return err
		}
	}
}

func (s *scanner) leak(n redact.Needle, blob, file string) {
	sec := s.secrets[n.Tag]
	s.report.Leaks = append(s.report.Leaks, Leak{
		SecretID: sec.ID, Version: sec.Version, Previous: sec.Previous, Encoding: n.Encoding,
		Blob: redact.Mask(blob, s.m.Needles()), Path: redact.Mask(file, s.m.Needles()),
	})
}

func isTar(head []byte) bool {
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}

// search streams r in chunks, keeping an overlap as long as the longest
// needle less one, so a value split across two chunks is still found. It
// reads r to its end: an error on the way is ErrUnreadable.
func (s *scanner) search(r io.Reader, blob, file string) error {
	keep := max(s.m.MaxLen()-1, 0)
	const chunk = 1 << 20
	buf := make([]byte, 0, chunk+keep)
	defer func() { clear(buf[:cap(buf)]) }()
	seen := map[int]bool{}
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		atEOF := errors.Is(err, io.EOF)
		if err != nil && !atEOF {
			where := blob
			if file != "" {
				where += ": " + redact.Mask(file, s.m.Needles())
			}
			return unreadable("%s: %w", where, err)
		}
		if len(buf) == cap(buf) || atEOF {
			s.m.Each(buf, func(k int) bool {
				nd := s.m.Needles()[k]
				if !seen[nd.Tag] {
					seen[nd.Tag] = true
					s.leak(nd, blob, file)
				}
				return true
			})
			if atEOF {
				return nil
			}
			k := min(keep, len(buf))
			copy(buf, buf[len(buf)-k:])
			buf = buf[:k]
		}
	}
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

// readAhead reads the archive in a goroutine of its own, a few chunks
// ahead of the search: the engine streams `docker save` while the last
// chunk is searched, instead of waiting for it.
type readAhead struct {
	chunks chan []byte
	free   chan []byte
	done   chan struct{}
	err    error // set before chunks is closed
	cur    []byte
	buf    []byte
}

const readAheadChunk, readAheadDepth = 1 << 20, 4

func newReadAhead(r io.Reader) *readAhead {
	ra := &readAhead{chunks: make(chan []byte, readAheadDepth), free: make(chan []byte, readAheadDepth+1), done: make(chan struct{})}
	for range readAheadDepth + 1 {
		ra.free <- make([]byte, readAheadChunk)
	}
	go func() {
		defer func() {
			close(ra.chunks)
			select {
			case <-ra.done:
				// Stopped early: wipe what the search will not read.
				for b := range ra.chunks {
					clear(b)
				}
			default:
			}
		}()
		for {
			var b []byte
			select {
			case b = <-ra.free:
			case <-ra.done:
				return
			}
			n, err := io.ReadFull(r, b)
			if n > 0 {
				select {
				case ra.chunks <- b[:n]:
				case <-ra.done:
					clear(b)
					return
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				// ReadFull's short last chunk: the reader said EOF.
				// A reader that fails with ErrUnexpectedEOF itself
				// (a truncated stream) is caught by the tar reader,
				// which finds the archive cut short.
				ra.err = io.EOF
				return
			}
			if err != nil {
				ra.err = err
				return
			}
		}
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		b, ok := <-ra.chunks
		if !ok {
			return 0, ra.err
		}
		ra.buf, ra.cur = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// stop ends the goroutine without waiting for it (it may be blocked on
// the reader, which the caller closes next) and wipes the chunks: they
// held the image, values and all.
func (ra *readAhead) stop() {
	close(ra.done)
	if ra.buf != nil {
		clear(ra.buf[:cap(ra.buf)])
	}
	for {
		select {
		case b, ok := <-ra.chunks:
			if !ok {
				return
			}
			clear(b)
		case b := <-ra.free:
			clear(b)
		default:
			return
		}
	}
}
