// Package leak searches what an image is made of for secret values: a
// stream of bytes, a layer (a tar, possibly gzip-compressed, or the
// directory the storage driver keeps it in), and a whole image archive as
// `docker save` writes it. It is the one search both the build's leak
// check and `scan --image` use.
//
// Every form of every value (redact.Needles) is looked for in one pass
// with a redact.Matcher. Each value is reported at most once per file, and
// a file name that holds a value is masked: a Hit never holds a value.
package leak

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/docker-vault/docker-vault/internal/redact"
)

// ErrUnreadable is an image, layer or archive that could not be read to
// its end or is not what it should be: it was not (fully) searched.
var ErrUnreadable = errors.New("the image could not be read")

func unreadable(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrUnreadable, fmt.Errorf(format, args...))
}

// Hit is one value found in one file.
type Hit struct {
	Tag      int    // the Tag of the needle found: which value
	Encoding string // the form it was found in (redact.Encodings)
	// Blob is the file of the archive (a layer, the config) or the name
	// the caller gave the reader or layer searched; masked.
	Blob string
	// Path is the file inside a layer, "" for a blob searched as is;
	// masked. A value in a file's name (or link target) is reported with
	// Path "NAME (file name)".
	Path string
}

// Search looks for the matcher's needles. Its counters say what it read.
type Search struct {
	m   *redact.Matcher
	hit func(Hit)
	// Files is the number of files searched; Bytes the bytes read from
	// them (a layer's tar headers and skipped blobs not counted).
	Files int
	Bytes int64
}

// New returns a Search for the needles of m, which calls hit for each
// value found in a file, once per value and file.
func New(m *redact.Matcher, hit func(Hit)) *Search {
	return &Search{m: m, hit: hit}
}

// Mask masks every needle in s.
func (s *Search) Mask(str string) string { return redact.Mask(str, s.m.Needles()) }

func (s *Search) report(k int, blob, file string) {
	n := s.m.Needles()[k]
	s.hit(Hit{Tag: n.Tag, Encoding: n.Encoding, Blob: s.Mask(blob), Path: s.Mask(file)})
}

// chunk is how much Reader searches at once.
const chunk = 1 << 20

// Reader streams r in chunks, keeping an overlap as long as the longest
// needle less one, so a value split across two chunks is still found. It
// reads r to its end: an error on the way is ErrUnreadable. blob and file
// name what r is, for the hits and the error.
func (s *Search) Reader(r io.Reader, blob, file string) error {
	keep := max(s.m.MaxLen()-1, 0)
	buf := make([]byte, 0, chunk+keep)
	// The buffer held the file, values and all.
	defer func() { clear(buf[:cap(buf)]) }()
	seen := map[int]bool{}
	s.Files++
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		s.Bytes += int64(n)
		atEOF := errors.Is(err, io.EOF)
		if err != nil && !atEOF {
			where := blob
			if file != "" {
				where += ": " + s.Mask(file)
			}
			return unreadable("%s: %w", where, pathless(err))
		}
		if len(buf) == cap(buf) || atEOF {
			s.m.Each(buf, func(k int) bool {
				if tag := s.m.Needles()[k].Tag; !seen[tag] {
					seen[tag] = true
					s.report(k, blob, file)
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

// name searches a file's name and link target, which can hold a value too.
func (s *Search) name(blob, name, link string) {
	seen := map[int]bool{}
	s.m.Each([]byte(name+"\x00"+link), func(k int) bool {
		if tag := s.m.Needles()[k].Tag; !seen[tag] {
			seen[tag] = true
			s.report(k, blob, name+" (file name)")
		}
		return true
	})
}

// Blob searches one file of an image archive: a layer (tar, maybe
// gzipped) is opened and each of its files searched; anything else (a
// config, a manifest) is searched as is. A layer compressed in a way it
// cannot read (zstd, xz) is ErrUnreadable.
func (s *Search) Blob(r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, chunk)
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
		inner := bufio.NewReaderSize(zr, chunk)
		ihead, err := inner.Peek(512)
		if err != nil && !errors.Is(err, io.EOF) {
			return unreadable("%s: %w", name, err)
		}
		if isTar(ihead) {
			return s.Layer(inner, name)
		}
		return s.Reader(inner, name, "")
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return unreadable("%s is zstd-compressed, which the leak check cannot read", name)
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return unreadable("%s is xz-compressed, which the leak check cannot read", name)
	case isTar(head):
		return s.Layer(br, name)
	}
	return s.Reader(br, name, "")
}

func isTar(head []byte) bool {
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}

// Layer searches the files of a layer given as an uncompressed tar, and
// their names.
func (s *Search) Layer(r io.Reader, blob string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return unreadable("layer %s: %w", blob, err)
		}
		s.name(blob, hdr.Name, hdr.Linkname)
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if err := s.Reader(tr, blob, hdr.Name); err != nil {
			return err
		}
	}
}

// Dir searches a layer as the storage driver keeps it: the directory of
// its files (overlay's diff directory), and their names. Paths are
// slash-separated and relative to dir, as in a layer's tar. Symbolic
// links are never followed (their targets are searched as names); other
// files than regular ones (overlay's whiteouts among them) are not read.
// It stops, with ctx's error, when ctx is done.
func (s *Search) Dir(ctx context.Context, dir, blob string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, relErr := filepath.Rel(dir, p)
		if relErr != nil {
			// Its message quotes the path, unmasked.
			return unreadable("layer %s: a file outside its directory", blob)
		}
		rel = filepath.ToSlash(rel)
		if err != nil {
			return unreadable("layer %s: %s: %w", blob, s.Mask(rel), pathless(err))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		link := ""
		if d.Type()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return unreadable("layer %s: %s: %w", blob, s.Mask(rel), pathless(err))
			}
		}
		s.name(blob, rel, link)
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return unreadable("layer %s: %s: %w", blob, s.Mask(rel), pathless(err))
		}
		defer f.Close()
		return s.Reader(f, blob, rel)
	})
}

// pathless drops the path an *fs.PathError quotes (Open, Read, ReadDir,
// Readlink): a file's path in a layer can hold a value, and the error
// names the file already, masked.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
