//go:build linux

package service

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// checkFreeSpace fails when dir's file system lacks room for a copy of
// need bytes (plus 5% and 16 MiB of margin).
func checkFreeSpace(dir string, need int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil // unknown: the copy itself reports a full disk
	}
	free := st.Bavail * uint64(st.Bsize)
	want := uint64(need) + uint64(need)/20 + 16<<20
	if free < want {
		return fmt.Errorf("the copy of the source needs %.1f MiB in %s, which has %.1f MiB free: "+
			"use --work-dir on a file system with more room", float64(want)/(1<<20), dir, float64(free)/(1<<20))
	}
	return nil
}
