//go:build linux

package service

import (
	"strings"
	"testing"
)

func TestMigrateCopyNeedsRoomAndSaysWhereToFindIt(t *testing.T) {
	dir := t.TempDir()
	err := checkFreeSpace(dir, 1<<60)
	if err == nil || !strings.Contains(err.Error(), "--work-dir") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("copying an exabyte: want an error naming %s and --work-dir, got %v", dir, err)
	}
	if err := checkFreeSpace(dir, 1<<10); err != nil {
		t.Fatalf("copying a KiB: %s", err)
	}
}
