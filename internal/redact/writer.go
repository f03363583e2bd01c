package redact

import (
	"io"
	"sync"
)

// Writer masks values in a stream on its way to another writer: every
// needle is replaced by the mask (MaskText, unless a value holds '*'). A value split across two writes is still
// masked: the bytes at the end of a write that could be the beginning of a
// needle are held back until the next write shows whether they are, so
// output is delayed by at most MaxLen-1 bytes, and only while it could be
// part of a value (output that ends in a newline is passed on at once
// unless a value holds a newline). Nothing else is buffered. Close passes
// on what is held back.
//
// Matches are taken from left to right, the longest at each position, so
// the output does not depend on how the stream is split into writes.
type Writer struct {
	mu     sync.Mutex
	w      io.Writer
	m      *Matcher
	held   []byte
	out    []byte
	hits   map[int]int
	closed bool
}

// NewWriter returns a Writer that masks ns in what it passes to w.
func NewWriter(w io.Writer, ns []Needle) *Writer {
	return &Writer{w: w, m: NewMatcher(ns), hits: map[int]int{}}
}

// Write masks p and passes on all of it that cannot be the beginning of a
// value.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, io.ErrClosedPipe
	}
	if len(w.m.needles) == 0 {
		return w.w.Write(p)
	}
	if err := w.process(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close passes on the bytes held back. It does not close the underlying
// writer.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.process(nil, true)
	clear(w.held)
	w.held = nil
	return err
}

func (w *Writer) process(p []byte, final bool) error {
	buf := append(w.held, p...)
	out, n, _ := w.m.mask(w.out[:0], buf, final, func(k int) { w.hits[w.m.needles[k].Tag]++ })
	// Keep the unconsumed tail at the start of the buffer, and wipe what
	// is past it: it held the bytes just passed on, values' forms included
	// until they were masked.
	rest := copy(buf, buf[n:])
	clear(buf[rest:])
	w.held = buf[:rest]
	var err error
	if len(out) > 0 {
		_, err = w.w.Write(out)
	}
	clear(out)
	w.out = out[:0]
	return err
}

// Hits returns, by needle tag, how many times a value was masked.
func (w *Writer) Hits() map[int]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[int]int, len(w.hits))
	for k, v := range w.hits {
		out[k] = v
	}
	return out
}
