package scylla

import (
	"sync"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// applied remembers what this peer last told its tracker about each CID
// recently, so that re-reading the pin for every event (its own events
// included) does not repeat an identical Track or Untrack. Repeats are not
// only wasted IPFS calls: upstream's operation tracker updates a queued
// operation's pin without a lock (a data race in optracker), which a
// duplicate Track of an in-flight pin triggers.
type applied struct {
	mu sync.Mutex
	m  map[string]appliedEntry
}

type appliedEntry struct {
	present bool
	ts      time.Time // the pin's Timestamp when present
	at      time.Time // when it was applied
}

func newApplied() *applied { return &applied{m: map[string]appliedEntry{}} }

// same tells whether the last call for c already was this one.
func (a *applied) same(c api.Cid, present bool, ts time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[c.KeyString()]
	return ok && e.present == present && (!present || e.ts.Equal(ts))
}

func (a *applied) record(c api.Cid, present bool, ts time.Time) {
	a.mu.Lock()
	a.m[c.KeyString()] = appliedEntry{present: present, ts: ts, at: time.Now()}
	a.mu.Unlock()
}

// forget drops the entries applied before t.
func (a *applied) forget(t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, e := range a.m {
		if e.at.Before(t) {
			delete(a.m, k)
		}
	}
}
