// Package treetest records a folder as seen from outside (every entry's
// mode, size, modification time and, for files, sha256) so that a test
// can tell whether anything in it changed.
package treetest

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Entry is what a folder entry looks like from outside: a change to any
// of these is a modification.
type Entry struct {
	Mode  fs.FileMode
	Size  int64
	Mtime time.Time
	Sum   string
}

// Tree maps the paths under a root (relative) to their entries.
type Tree map[string]Entry

// Snapshot records every entry under root.
func Snapshot(t testing.TB, root string) Tree {
	t.Helper()
	tree := Tree{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Mode: info.Mode(), Size: info.Size(), Mtime: info.ModTime()}
		if info.Mode().IsRegular() {
			if e.Sum, err = fileSum(path); err != nil {
				return err
			}
		}
		rel, _ := filepath.Rel(root, path)
		tree[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// RequireSame reports every entry removed, created or changed between
// before and after, as a modification of the source.
func RequireSame(t testing.TB, before, after Tree) {
	t.Helper()
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			t.Errorf("source modified: %s was removed", p)
		case a != b:
			t.Errorf("source modified: %s was %+v, is %+v", p, b, a)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("source modified: %s was created", p)
		}
	}
}
