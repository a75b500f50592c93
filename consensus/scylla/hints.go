package scylla

import (
	"context"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	peer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

// hintGap is the shortest time between two hints of a peer: a busy peer
// sends one hint for many changes, and its readers do one read for them.
const hintGap = 50 * time.Millisecond

// hints are empty pubsub messages that tell the other peers to read the
// change feed now instead of at their next poll. They carry no data: a
// lost hint only delays a change by PollInterval, and a forged one only
// costs a read. Only trusted peers' hints are accepted.
type hints struct {
	topic hintTopic
	sub   hintSubscription
	self  peer.ID

	mu      sync.Mutex
	last    time.Time
	pending *time.Timer
	closed  bool
	sends   sync.WaitGroup // sends in flight, waited for by close
}

// hintTopic is what the hints publish to (a *pubsub.Topic).
type hintTopic interface {
	Publish(ctx context.Context, data []byte, opts ...pubsub.PubOpt) error
	Close() error
}

// hintSubscription is what the hints read from (a *pubsub.Subscription).
type hintSubscription interface {
	Next(ctx context.Context) (*pubsub.Message, error)
	Cancel()
}

// newHints joins the hint topic of a cluster (named after clusterName)
// as peer self; only the messages of peers that trusted accepts are
// delivered.
func newHints(ps *pubsub.PubSub, clusterName string, self peer.ID, trusted func(context.Context, peer.ID) bool) (*hints, error) {
	name := "scylla-hints/" + clusterName
	if mh, err := multihash.Sum([]byte(name), multihash.MD5, -1); err == nil {
		name = "scylla-hints/" + mh.B58String()
	}
	err := ps.RegisterTopicValidator(name, func(ctx context.Context, _ peer.ID, msg *pubsub.Message) bool {
		return trusted(ctx, msg.GetFrom())
	})
	if err != nil {
		return nil, err
	}
	topic, err := ps.Join(name)
	if err != nil {
		_ = ps.UnregisterTopicValidator(name)
		return nil, err
	}
	sub, err := topic.Subscribe()
	if err != nil {
		_ = topic.Close()
		_ = ps.UnregisterTopicValidator(name)
		return nil, err
	}
	return &hints{topic: topic, sub: sub, self: self}, nil
}

// run calls wake for every hint from another peer until ctx ends.
func (h *hints) run(ctx context.Context, wake func()) {
	for {
		msg, err := h.sub.Next(ctx)
		if err != nil {
			return
		}
		if msg.GetFrom() != h.self {
			wake()
		}
	}
}

// publish sends a hint now, or, when one was sent less than hintGap ago,
// once at the end of the gap for all the changes made meanwhile.
func (h *hints) publish(context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.pending != nil {
		return
	}
	h.sends.Add(1)
	wait := hintGap - time.Since(h.last)
	if wait <= 0 {
		h.last = time.Now()
		go func() { defer h.sends.Done(); h.send() }()
		return
	}
	h.pending = time.AfterFunc(wait, func() {
		defer h.sends.Done()
		h.mu.Lock()
		h.pending = nil
		h.last = time.Now()
		closed := h.closed
		h.mu.Unlock()
		if !closed {
			h.send()
		}
	})
}

func (h *hints) send() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.topic.Publish(ctx, []byte{1}); err != nil {
		logger.Debugf("publishing a hint: %s", err)
	}
}

func (h *hints) close() {
	h.mu.Lock()
	h.closed = true
	if h.pending != nil && h.pending.Stop() {
		h.sends.Done() // the timer will not run
	}
	h.mu.Unlock()
	h.sends.Wait()
	h.sub.Cancel()
	_ = h.topic.Close()
}
