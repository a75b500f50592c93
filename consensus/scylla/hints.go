package scylla

import (
	"context"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	peer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

// hints are empty pubsub messages that tell the other peers to read the
// change feed now instead of at their next poll. They carry no data: a
// lost hint only delays a change by PollInterval, and a forged one only
// costs a read. Only trusted peers' hints are accepted.
type hints struct {
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	self  peer.ID
}

func newHints(c *Consensus) (*hints, error) {
	name := "scylla-hints/" + c.cfg.ClusterName
	if mh, err := multihash.Sum([]byte(name), multihash.MD5, -1); err == nil {
		name = "scylla-hints/" + mh.B58String()
	}
	err := c.pubsub.RegisterTopicValidator(name, func(ctx context.Context, _ peer.ID, msg *pubsub.Message) bool {
		return c.IsTrustedPeer(ctx, msg.GetFrom())
	})
	if err != nil {
		return nil, err
	}
	topic, err := c.pubsub.Join(name)
	if err != nil {
		_ = c.pubsub.UnregisterTopicValidator(name)
		return nil, err
	}
	sub, err := topic.Subscribe()
	if err != nil {
		_ = topic.Close()
		_ = c.pubsub.UnregisterTopicValidator(name)
		return nil, err
	}
	return &hints{topic: topic, sub: sub, self: c.host.ID()}, nil
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

func (h *hints) publish(ctx context.Context) {
	if err := h.topic.Publish(ctx, []byte{1}); err != nil {
		logger.Debugf("publishing a hint: %s", err)
	}
}

func (h *hints) close() {
	h.sub.Cancel()
	_ = h.topic.Close()
}
