package scylla

import (
	"sync"

	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// keyedMutex is one mutex per CID, held only while in use.
type keyedMutex struct {
	mu sync.Mutex
	m  map[api.Cid]*keyedEntry
}

// keyedEntry is the mutex of one CID and the number of its users
// (holding or waiting).
type keyedEntry struct {
	mu    sync.Mutex
	users int
}

// lock locks c and returns its unlock.
func (k *keyedMutex) lock(c api.Cid) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[api.Cid]*keyedEntry{}
	}
	e := k.m[c]
	if e == nil {
		e = &keyedEntry{}
		k.m[c] = e
	}
	e.users++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.users--; e.users == 0 {
			delete(k.m, c)
		}
		k.mu.Unlock()
	}
}
