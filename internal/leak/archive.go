package leak

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path"
)

// Archive is what Search.Archive read of an image archive.
type Archive struct {
	// Layers is the number of distinct layers the manifest names, every
	// one of them read to its end.
	Layers int
	// ImageLayers are the files of the first image's layers, bottom
	// first, as the manifest lists them with links followed: the blobs
	// hits name. A caller maps a hit's Blob to a layer with it.
	ImageLayers []string
	// Read is the size of the archive, every byte of which was read.
	Read int64
}

// Archive searches an image archive as `docker save` writes it (layers as
// tar, possibly gzip-compressed; configs and manifests as JSON): every
// file of every layer, the names of those files, the config and its
// history, the legacy per-layer JSON. skip, when not nil, names blobs
// whose search is not needed: they are still read to their end (the
// archive is one stream), not searched.
//
// Anything that keeps it from reading the whole archive is an error
// matching ErrUnreadable, never a clean report: a truncated archive or
// layer, a layer compressed in a way it cannot read, an archive without a
// manifest.json, or a manifest naming a config or layer the archive lacks.
func (s *Search) Archive(archive io.Reader, skip func(blob string) bool) (Archive, error) {
	a := &archiveState{read: map[string]bool{}, links: map[string]string{}}
	ra := newReadAhead(archive)
	defer ra.stop()
	tr := tar.NewReader(ra)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Archive{}, unreadable("the image archive: %w", err)
		}
		name := path.Clean(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeSymlink:
			a.links[name] = path.Join(path.Dir(name), hdr.Linkname)
			continue
		case tar.TypeLink:
			a.links[name] = path.Clean(hdr.Linkname)
			continue
		default:
			continue
		}
		switch {
		case name == "manifest.json":
			b, err := io.ReadAll(io.LimitReader(tr, 64<<20))
			if err != nil {
				return Archive{}, unreadable("manifest.json: %w", err)
			}
			a.manifest = b
			if err := s.Reader(bytes.NewReader(b), name, ""); err != nil {
				return Archive{}, err
			}
		case skip != nil && skip(name):
			if _, err := io.Copy(io.Discard, tr); err != nil {
				return Archive{}, unreadable("%s: %w", name, err)
			}
		default:
			if err := s.Blob(tr, name); err != nil {
				return Archive{}, err
			}
		}
		a.read[name] = true
	}
	// The tar reader stops at the end-of-archive blocks: read on to the
	// end of the stream (padding), after which the goroutine is done with
	// n (it closed chunks after its last write).
	if _, err := io.Copy(io.Discard, ra); err != nil {
		return Archive{}, unreadable("the image archive: %w", err)
	}
	out, err := a.complete()
	out.Read = ra.n
	return out, err
}

type archiveState struct {
	read     map[string]bool   // regular files of the archive read to their end
	links    map[string]string // links of the archive to their targets
	manifest []byte
}

// complete checks that the archive held everything its manifest names,
// so that an archive cut short between two files is not taken for a whole
// image.
func (a *archiveState) complete() (Archive, error) {
	var out Archive
	if a.manifest == nil {
		return out, unreadable("the image archive has no manifest.json")
	}
	var manifest []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(a.manifest, &manifest); err != nil {
		return out, unreadable("manifest.json: %w", err)
	}
	if len(manifest) == 0 {
		return out, unreadable("manifest.json names no image")
	}
	layers := map[string]bool{}
	for n, img := range manifest {
		for i, f := range append([]string{img.Config}, img.Layers...) {
			target, ok := a.resolve(f)
			if !ok {
				return out, unreadable("the image archive lacks %s, which manifest.json names", f)
			}
			if i > 0 {
				layers[target] = true
				if n == 0 {
					out.ImageLayers = append(out.ImageLayers, target)
				}
			}
		}
	}
	out.Layers = len(layers)
	return out, nil
}

// resolve follows links to a file that was read.
func (a *archiveState) resolve(name string) (string, bool) {
	name = path.Clean(name)
	for range 16 {
		if a.read[name] {
			return name, true
		}
		target, ok := a.links[name]
		if !ok {
			return "", false
		}
		name = target
	}
	return "", false
}

// readAhead reads the archive in a goroutine of its own, a few chunks
// ahead of the search: the engine streams `docker save` while the last
// chunk is searched, instead of waiting for it.
type readAhead struct {
	chunks chan []byte
	free   chan []byte
	done   chan struct{}
	err    error // set before chunks is closed
	n      int64 // bytes read, set before chunks is closed
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
			ra.n += int64(n)
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
