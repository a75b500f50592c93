package scylla

import (
	"container/heap"
	"sync"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// deferredSet holds the CIDs of the pins the applier could not queue
// because the tracker held pin_queue_limit pins, until they are tracked
// (see applier.drainDeferred). It keeps one entry per CID, with the write
// timestamp of the change to track, and nothing else: the pin itself is
// re-read from its row when there is room, so that a pin changed or
// unpinned meanwhile is tracked as it is then, or not at all. Entries
// leave the set when tracked, when a newer change of their CID reaches
// the tracker (an unpin, a pin queued at once), or when replaced by a
// newer deferred change; the heap of pending entries is rebuilt when
// replaced entries make up most of it. So the memory it takes follows the
// number of CIDs waiting, and those are the pins that must be tracked;
// it holds at most limit of them (see overflow for the others).
//
// Pending entries are handed out newest write timestamp first, as
// upstream's tracker queues recent pins before old ones.
type deferredSet struct {
	mu    sync.Mutex
	items map[string]*deferredItem
	queue deferredHeap // pending entries; replaced or removed ones are skipped
	later []*deferredItem
	seq   uint64
	// limit bounds the entries (0: no bound); see add.
	limit int
	// wake is signalled when an entry is added.
	wake chan struct{}
}

// deferredItem is one deferred pin.
type deferredItem struct {
	key   string
	cid   api.Cid
	ts    int64 // write timestamp of the deferred change
	seq   uint64
	state itemState
	tries int
	at    time.Time // when a retried entry is due
}

type itemState int8

const (
	pending  itemState = iota // in the heap
	inFlight                  // handed out by pop
	waiting                   // in later, due at at
)

func newDeferredSet(limit int) *deferredSet {
	return &deferredSet{items: map[string]*deferredItem{}, limit: limit, wake: make(chan struct{}, 1)}
}

// add defers the pin of CID c with write timestamp ts, replacing an
// older entry of c. It returns false, and keeps nothing, when the set
// holds limit entries and none of c.
func (d *deferredSet) add(key string, c api.Cid, ts int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, ok := d.items[key]
	switch {
	case ok && cur.ts > ts:
		return true
	case !ok && d.limit > 0 && len(d.items) >= d.limit:
		return false
	}
	d.seq++
	it := &deferredItem{key: key, cid: c, ts: ts, seq: d.seq}
	d.items[key] = it
	heap.Push(&d.queue, heapEntry{key: key, ts: ts, seq: it.seq})
	d.compact()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return true
}

// remove drops the entry of a CID, if any.
func (d *deferredSet) remove(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.items, key)
}

// current tells whether the entry of key is still the one handed out
// with seq.
func (d *deferredSet) current(key string, seq uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	it, ok := d.items[key]
	return ok && it.seq == seq
}

// has tells whether a change of key with write timestamp ts (or newer)
// is deferred.
func (d *deferredSet) has(key string, ts int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	it, ok := d.items[key]
	return ok && it.ts >= ts
}

// len is the number of deferred pins.
func (d *deferredSet) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.items)
}

// ready is the number of deferred pins that are not waiting for a retry.
func (d *deferredSet) ready() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.items)
	for _, it := range d.later {
		if cur, ok := d.items[it.key]; ok && cur == it {
			n--
		}
	}
	return n
}

// pop hands out the pending entry with the newest write timestamp, after
// moving the retries due by now back to the pending ones. The entry stays
// in the set (so that a change meanwhile can replace or remove it) until
// removed or retried.
func (d *deferredSet) pop(now time.Time) (deferredItem, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	kept := d.later[:0]
	for _, it := range d.later {
		cur, ok := d.items[it.key]
		switch {
		case !ok || cur != it:
		case it.at.After(now):
			kept = append(kept, it)
		default:
			it.state = pending
			heap.Push(&d.queue, heapEntry{key: it.key, ts: it.ts, seq: it.seq})
		}
	}
	clear(d.later[len(kept):])
	d.later = kept
	for d.queue.Len() > 0 {
		e := heap.Pop(&d.queue).(heapEntry)
		it, ok := d.items[e.key]
		if !ok || it.seq != e.seq || it.state != pending {
			continue
		}
		it.state = inFlight
		return *it, true
	}
	return deferredItem{}, false
}

// retry puts an entry handed out by pop back, due after a back-off that
// grows with its tries (at most maxDeferredBackoff), unless it was
// replaced or removed meanwhile.
func (d *deferredSet) retry(it deferredItem, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, ok := d.items[it.key]
	if !ok || cur.seq != it.seq {
		return
	}
	cur.tries++
	backoff := min(time.Second<<min(cur.tries-1, 16), maxDeferredBackoff)
	cur.state, cur.at = waiting, now.Add(backoff)
	d.later = append(d.later, cur)
}

// maxDeferredBackoff bounds the wait before a deferred pin whose row
// did not show its change yet is tried again.
const maxDeferredBackoff = time.Minute

// compact rebuilds the heap when replaced or removed entries make up most
// of it; d.mu is held.
func (d *deferredSet) compact() {
	if d.queue.Len() <= 2*len(d.items)+1024 {
		return
	}
	q := make(deferredHeap, 0, len(d.items))
	for _, it := range d.items {
		if it.state == pending {
			q = append(q, heapEntry{key: it.key, ts: it.ts, seq: it.seq})
		}
	}
	heap.Init(&q)
	d.queue = q
}

// heapEntry is a pending entry in the heap.
type heapEntry struct {
	key string
	ts  int64
	seq uint64
}

// deferredHeap is a max-heap by write timestamp.
type deferredHeap []heapEntry

func (h deferredHeap) Len() int           { return len(h) }
func (h deferredHeap) Less(i, j int) bool { return h[i].ts > h[j].ts }
func (h deferredHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deferredHeap) Push(x any)        { *h = append(*h, x.(heapEntry)) }
func (h *deferredHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = heapEntry{}
	*h = old[:len(old)-1]
	return e
}
