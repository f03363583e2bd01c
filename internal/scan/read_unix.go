//go:build unix

package scan

import (
	"io/fs"
	"syscall"
)

// readWhole is os.ReadFile without the runtime poller: a regular file
// cannot be polled, yet os.Open tries to register every file it opens,
// which costs two more system calls a file. A tree scan with Key Vault
// values reads every file of the tree, so it reads them as git grep
// does: open, fstat, read, close. The bytes are read into buf when it is
// large enough.
func readWhole(path string, buf []byte) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	size := 512
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) == nil && st.Size > 0 && int64(int(st.Size)) == st.Size {
		size = int(st.Size) + 1 // one more, so the read that says EOF needs no growth
	}
	b := buf[:0]
	if cap(b) < size {
		b = make([]byte, 0, size)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}
