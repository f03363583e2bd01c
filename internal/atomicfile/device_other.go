//go:build !unix

package atomicfile

import "os"

// device is unknown here: a link or rename across file systems fails
// when it is tried, and Replace puts back what it had done.
func device(os.FileInfo) (uint64, bool) { return 0, false }
