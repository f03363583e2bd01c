package secretfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/docker-vault/docker-vault/internal/imageinfo"
)

// Who may read a secret file, for migrate (which creates the files) and
// Sync (which rewrites them) alike.
//
// Under plain Compose a `file:` secret is a bind mount of the host file: the
// container sees the file itself, with its host owner and mode, and Compose
// ignores the secret's uid, gid and mode outside Swarm. A service whose
// process runs as root reads a 0600 file of any owner; one that runs as
// another user (the service's user:, or the image's USER) gets "Permission
// denied" at start, unless the file is readable by all. A chown to the
// container's uid would need root on the host and would name a host user
// that has nothing to do with the container, so such a file is 0444
// instead.
//
// What keeps other host users out is then the folder: the secrets folder is
// 0700, so no one but its owner (and root) can reach the files in it,
// whatever their mode. The bind mount is made by the engine, which is
// root, and inside the container the file is mounted at /run/secrets/NAME
// with no host folder above it, so the folder's mode does not get in the
// container's way. A file readable by others is therefore written only in a
// folder they cannot enter: an existing folder with a looser mode is
// refused with an error (never tightened behind the user's back: it may be
// shared on purpose), and a folder that does not exist is created 0700.
// Files that only root services use keep 0600, so that a folder loosened
// later exposes nothing of theirs.
const (
	// FolderPerm is the mode of a secrets folder migrate or Sync creates.
	FolderPerm fs.FileMode = 0o700
	// OwnerPerm is the mode of a file that only root services read.
	OwnerPerm fs.FileMode = 0o600
	// ReadablePerm is the mode of a file a non-root service reads.
	ReadablePerm fs.FileMode = 0o444
)

// Perm is the mode of a secret file: ReadablePerm when a service that uses
// it runs as a user other than root, else OwnerPerm. On Windows, where a
// file's mode is only its read-only attribute (which would stop a rename
// over it) and Docker Desktop's bind mounts do not carry it into the
// container, it is always OwnerPerm.
func Perm(nonRoot bool) fs.FileMode {
	if nonRoot && !noModes {
		return ReadablePerm
	}
	return OwnerPerm
}

// NonRootServices names the services of p whose user: is someone other
// than root, for Desired.Perm. A service without user: counts as root
// here: sync reads no image, so an image's USER is migrate's to see
// (migrate writes the file 0444, and a rewrite keeps that mode).
func NonRootServices(p *types.Project) map[string]bool {
	out := map[string]bool{}
	for name, svc := range p.Services {
		if imageinfo.NonRootUser(svc.User) {
			out[name] = true
		}
	}
	return out
}

// PermFor is Perm for a secret the services consumers use, nonRoot naming
// those that run as another user (NonRootServices).
func PermFor(consumers []string, nonRoot map[string]bool) fs.FileMode {
	for _, c := range consumers {
		if nonRoot[c] {
			return Perm(true)
		}
	}
	return OwnerPerm
}

// noModes: the file system has no POSIX modes to rely on (Windows, where
// ACLs decide).
var noModes = runtime.GOOS == "windows"

// ErrExposed is CheckFolder's condition: a file of that mode in that
// folder would be readable by other users of the host.
var ErrExposed = errors.New("would be readable by other users of this host")

// CheckFolder returns an error wrapping ErrExposed when a file of mode perm
// in the folder dir (symlinks followed) could be read by host users other
// than the folder's owner: the file grants group (other) read and the
// folder lets its group (others) through. A folder that does not exist yet
// is fine: it is created FolderPerm. Only dir's own mode counts: it is the
// one migrate and Sync create, and the one the user is told to fix. On
// Windows it checks nothing: modes say nothing there.
func CheckFolder(dir string, perm fs.FileMode) error {
	if noModes {
		return nil
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("failed to check the mode of %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("%s is not a folder", dir)
	}
	if !exposed(st.Mode().Perm(), perm) {
		return nil
	}
	return &exposedError{dir: dir, dirPerm: st.Mode().Perm(), perm: perm}
}

// exposed tells whether a file of mode perm in a folder of mode dirPerm is
// readable by the folder's group or by others.
func exposed(dirPerm, perm fs.FileMode) bool {
	return (perm&0o040 != 0 && dirPerm&0o010 != 0) || (perm&0o004 != 0 && dirPerm&0o001 != 0)
}

type exposedError struct {
	dir           string
	dirPerm, perm fs.FileMode
}

func (e *exposedError) Error() string {
	return fmt.Sprintf("secrets folder %s is mode %04o: a secret file of mode %04o in it %v (a service running as a non-root user needs its file readable by all, so only the folder can keep the host out): run chmod 700 %s, then run again",
		e.dir, e.dirPerm, e.perm, ErrExposed, e.dir)
}

func (e *exposedError) Unwrap() error { return ErrExposed }

// keptPerm is the mode Sync rewrites an existing file with: its own, so
// that a file made readable for a non-root service stays readable (a sync
// must not break the service's next start), without execute bits, or
// write bits for group and others.
func keptPerm(mode fs.FileMode) fs.FileMode {
	return mode.Perm() & 0o644
}
