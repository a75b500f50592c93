package scylla

import (
	"context"
	"errors"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	peer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

// hintGap is the shortest time between two hints of a peer: a busy peer
// sends one hint for many changes, and its readers do one read for them.
const hintGap = 50 * time.Millisecond

// hints tell other peers to read the change feed now instead of at their
// next poll. They carry no data: a lost hint only delays a change by
// PollInterval, and a forged one only costs a read. Only trusted peers'
// hints are accepted.
//
// A change that only some peers must act on (a pin with allocations: its
// allocated peers) is hinted to those peers alone, directly (see
// hintStreams); the others see it at their next poll. A change for every
// peer (replication -1) goes to all of them as an empty pubsub message.
// So the cost of a change does not grow with the number of peers: a
// pubsub message is signed, verified and forwarded by every peer, and
// every peer it wakes reads the feed.
type hints struct {
	topic  hintTopic
	sub    hintSubscription
	self   peer.ID
	direct hintSender // nil: every hint goes through pubsub

	mu       sync.Mutex
	last     time.Time
	pending  *time.Timer
	closed   bool
	everyone bool             // the next hint goes to every peer
	targets  map[peer.ID]bool // else to these peers
	sends    sync.WaitGroup   // sends in flight, waited for by close
}

// hintSender sends hints to one peer directly and receives them (see
// hintStreams).
type hintSender interface {
	send(ctx context.Context, to peer.ID) error
	// listen calls wake for every direct hint until stop is called.
	listen(wake func()) (stop func())
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
	if h.direct != nil {
		defer h.direct.listen(wake)()
	}
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

// publish sends a hint to the peers in to (nil: every peer) now, or,
// when one was sent less than hintGap ago, once at the end of the gap for
// all the changes made meanwhile.
func (h *hints) publish(_ context.Context, to []peer.ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || (to != nil && len(to) == 0) {
		return
	}
	if to == nil || h.direct == nil {
		h.everyone = true
	} else {
		if h.targets == nil {
			h.targets = map[peer.ID]bool{}
		}
		for _, p := range to {
			h.targets[p] = true
		}
	}
	if h.pending != nil {
		return
	}
	h.sends.Add(1)
	wait := hintGap - time.Since(h.last)
	if wait <= 0 {
		h.last = time.Now()
		everyone, targets := h.take()
		go func() { defer h.sends.Done(); h.send(everyone, targets) }()
		return
	}
	h.pending = time.AfterFunc(wait, func() {
		defer h.sends.Done()
		h.mu.Lock()
		h.pending = nil
		h.last = time.Now()
		closed := h.closed
		everyone, targets := h.take()
		h.mu.Unlock()
		if !closed {
			h.send(everyone, targets)
		}
	})
}

// take returns and clears the peers the next hint goes to; h.mu is held.
func (h *hints) take() (bool, map[peer.ID]bool) {
	everyone, targets := h.everyone, h.targets
	h.everyone, h.targets = false, nil
	return everyone, targets
}

// send hints every peer through pubsub, or each target directly. A
// target this peer has no connection to is not hinted: it sees the change
// at its next poll (cluster peers need not be connected to each other; a
// pubsub message would cost every peer). A target that refuses the direct
// hint (a peer of an older version) gets the pubsub hint instead.
func (h *hints) send(everyone bool, targets map[peer.ID]bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if !everyone {
		for p := range targets {
			if p == h.self {
				continue
			}
			err := h.direct.send(ctx, p)
			if err == nil || errors.Is(err, errHintNoConn) {
				continue
			}
			logger.Debugf("hinting %s directly: %s; hinting every peer instead", p, err)
			everyone = true
			break
		}
	}
	if !everyone {
		return
	}
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
