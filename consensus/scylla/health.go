package scylla

import (
	"errors"
	"time"
)

// ErrStarting is returned by DatabaseHealth until the peer is ready
// (connected, schema checked, caught up with the change feed).
var ErrStarting = errors.New("starting: connecting to the database or catching up with the change feed")

// DatabaseHealth tells, without waiting, whether this peer's database
// calls currently succeed: nil when they do, the last error after several
// failures in a row (see scyllastate.ScyllaState.Healthy), ErrStarting
// before the peer is ready and ErrShutdown after.
func (c *Consensus) DatabaseHealth() error {
	if c.ctx.Err() != nil {
		return ErrShutdown
	}
	select {
	case <-c.readyCh:
	default:
		return ErrStarting
	}
	if ok, err := c.store.Healthy(); !ok {
		return err
	}
	return nil
}

// ClockSkewAllowance is the clock skew between peers that feed_overlap
// must cover on top of the longest write.
const ClockSkewAllowance = clockSkewAllowance

// AliveWithin is how recent the feed position of a peer must be for the
// other peers to take it for alive, with the settings of cfg: a live peer
// saves its position, which trails now by feed_overlap, every
// checkpoint_interval. The live peer with the smallest ID completes the
// writes of writers that died.
func AliveWithin(cfg *Config) time.Duration {
	return cfg.FeedOverlap + 3*cfg.CheckpointInterval + time.Minute
}
