package buildx

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Leak is where a value was found in an image.
type Leak struct {
	SecretID string `json:"secret"`
	Encoding string `json:"encoding"` // raw, base64, hex
	Blob     string `json:"blob"`     // the file of the image archive: a layer, the config
	Path     string `json:"path"`     // the file inside a layer, if any
}

func (l Leak) String() string {
	where := l.Blob
	if l.Path != "" {
		where += ": " + l.Path
	}
	return fmt.Sprintf("secret %s (%s) found in %s", l.SecretID, l.Encoding, where)
}

type needle struct {
	id, encoding string
	b            []byte
}

// minNeedle is the shortest encoded form searched for: shorter ones match
// by chance in any large image.
const minNeedle = 6

// needles are the forms a value may take in an image: raw, hex (both
// cases) and base64 (standard and URL alphabets, at the three byte
// alignments a value can have inside a larger encoded blob).
func needles(secrets []Secret) []needle {
	var out []needle
	add := func(id, enc string, b []byte) {
		if len(b) >= minNeedle {
			out = append(out, needle{id, enc, b})
		}
	}
	for _, s := range secrets {
		v := s.Value
		if len(v) == 0 {
			continue
		}
		add(s.ID, "raw", v)
		h := hex.EncodeToString(v)
		add(s.ID, "hex", []byte(h))
		add(s.ID, "hex", []byte(strings.ToUpper(h)))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for k := 0; k < 3; k++ {
				buf := append(make([]byte, k), v...)
				e := enc.EncodeToString(buf)
				// Drop the leading characters that mix in the k bytes
				// before the value, and the trailing group that mixes in
				// whatever follows it (unless the value ends a group).
				start := (k + 2) / 3 * 4
				end := len(e)
				if (len(buf))%3 != 0 {
					end = (len(buf) / 3) * 4
				} else {
					end = strings.IndexByte(e, '=')
					if end < 0 {
						end = len(e)
					}
				}
				if start < end {
					add(s.ID, "base64", []byte(e[start:end]))
				}
			}
		}
	}
	return out
}

// Scan searches an image archive as `docker save` writes it (layers as
// tar, possibly gzip-compressed, configs and manifests as JSON) for every
// form of every value. It reports each secret at most once per file.
func Scan(archive io.Reader, secrets []Secret) ([]Leak, error) {
	ns := needles(secrets)
	if len(ns) == 0 {
		return nil, nil
	}
	var leaks []Leak
	tr := tar.NewReader(archive)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return leaks, nil
		}
		if err != nil {
			return leaks, fmt.Errorf("failed to read the image archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		found, err := scanBlob(tr, hdr.Name, ns)
		if err != nil {
			return leaks, err
		}
		leaks = append(leaks, found...)
	}
}

// scanBlob scans one file of the archive: a layer (tar, maybe gzipped) is
// opened and each of its files scanned; anything else is scanned as is.
func scanBlob(r io.Reader, name string, ns []needle) ([]Leak, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, _ := br.Peek(512)
	var inner io.Reader
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", name, err)
		}
		defer zr.Close()
		inner = zr
	case isTar(head):
		inner = br
	}
	if inner == nil {
		return search(br, name, "", ns)
	}
	var leaks []Leak
	tr := tar.NewReader(inner)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return leaks, nil
		}
		if err != nil {
			// Not a tar after all (a gzipped blob of something else):
			// scan what it is.
			return leaks, nil
		}
		// Names and link targets can hold a value too.
		for _, n := range ns {
			if bytes.Contains([]byte(hdr.Name+"\x00"+hdr.Linkname), n.b) {
				leaks = append(leaks, Leak{SecretID: n.id, Encoding: n.encoding, Blob: name, Path: hdr.Name + " (file name)"})
			}
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		found, err := search(tr, name, hdr.Name, ns)
		if err != nil {
			return leaks, err
		}
		leaks = append(leaks, found...)
	}
}

func isTar(head []byte) bool {
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}

// search streams r in chunks, keeping an overlap as long as the longest
// needle so a value split across two chunks is still found.
func search(r io.Reader, blob, path string, ns []needle) ([]Leak, error) {
	maxLen := 0
	for _, n := range ns {
		maxLen = max(maxLen, len(n.b))
	}
	const chunk = 1 << 20
	buf := make([]byte, 0, chunk+maxLen)
	seen := map[string]bool{}
	var leaks []Leak
	for {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		for _, nd := range ns {
			if !seen[nd.id] && bytes.Contains(buf, nd.b) {
				seen[nd.id] = true
				leaks = append(leaks, Leak{SecretID: nd.id, Encoding: nd.encoding, Blob: blob, Path: path})
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return leaks, nil
		}
		if err != nil {
			return leaks, fmt.Errorf("failed to read %s: %w", blob, err)
		}
		keep := min(maxLen-1, len(buf))
		copy(buf, buf[len(buf)-keep:])
		buf = buf[:keep]
	}
}
