//go:build unix

package service

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockFile is the lock a running peer (or state command) holds in its
// configuration folder, as upstream's.
const lockFile = "cluster.lock"

// checkNotLocked fails with ErrSourceRunning when a process holds the
// lock of folder. It only reads: taking the lock would create and then
// remove the lock file in the source folder.
func checkNotLocked(folder string) error {
	path := filepath.Join(folder, lockFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed by its last holder on exit
	}
	if err != nil {
		return fmt.Errorf("checking whether the peer of %s runs: %w", folder, err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil {
		return fmt.Errorf("checking the lock %s: %w", path, err)
	}
	if lk.Type != unix.F_UNLCK {
		return fmt.Errorf("%w: process %d holds %s: stop that peer (or the command using its folder) first",
			ErrSourceRunning, lk.Pid, path)
	}
	return nil
}
