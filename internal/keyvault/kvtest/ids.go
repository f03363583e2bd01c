package kvtest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
)

// Identifiers. Versions and request ids come from the seeded stream, so a
// run with the same RandSeed repeats them; the identity's GUIDs, tokens and
// IDENTITY_HEADER come from crypto/rand.

// RandSeed is the seed of this run's version ids, request ids and fault
// decisions: Options.RandSeed, or the one drawn when that was zero.
func (s *Server) RandSeed() int64 { return s.randSeed }

// newVersionID returns a 32-hex version id like the service's.
func (s *Server) newVersionID() string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	var b [16]byte
	for i := range b {
		b[i] = byte(s.idRNG.Uint32())
	}
	return hex.EncodeToString(b[:])
}

func (s *Server) newRequestID() string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	var b [16]byte
	for i := range b {
		b[i] = byte(s.idRNG.Uint32())
	}
	return formatGUID(b)
}

// randomSeed draws a positive seed from crypto/rand: never zero, which
// means "draw one", so a printed seed repeats the run it came from.
func randomSeed() int64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if v := int64(binary.LittleEndian.Uint64(b[:]) >> 1); v != 0 {
			return v
		}
	}
}

func randomGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return formatGUID(b)
}

func formatGUID(b [16]byte) string {
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("kvtest: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
