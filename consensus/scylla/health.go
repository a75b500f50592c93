package scylla

import "errors"

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
