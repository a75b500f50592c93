package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	fslock "github.com/ipfs/go-fs-lock"
)

// lockFileName is the lock file in the configuration folder: one
// command at a time (daemon, init over existing files, state commands).
const lockFileName = "cluster.lock"

func lockFolder(folder string) (io.Closer, error) {
	if err := os.MkdirAll(folder, 0o700); err != nil {
		return nil, err
	}
	lk, err := fslock.Lock(folder, lockFileName)
	if err != nil {
		return nil, fmt.Errorf("obtaining the execution lock: %w. If no other %s is running, remove %s, "+
			"or make sure the folder is writable", err, programName, filepath.Join(folder, lockFileName))
	}
	return lk, nil
}
