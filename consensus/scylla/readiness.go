package scylla

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// A peer waits for its database up to ready_timeout (30 minutes by
// default) before it is ready. Meanwhile the calls that other peers make
// to its tracker and need the shared pinset (status, recover) must not
// wait with it: upstream's cluster-wide status waits for every peer's
// answer, so one peer waiting for its database would hold up the status
// of the whole cluster. They fail at once with ErrNotReady instead, which
// upstream shows as that peer's cluster_error.

// notReadyGrace is how long those calls wait for a peer that is starting
// before they fail: a start whose database answers is done well within
// it (a status asked right after the REST API is up waits for it, as
// upstream's does), a start waiting for its database is not.
const notReadyGrace = 10 * time.Second

// ErrNotReady is returned, wrapped with the database's hosts and the last
// error of the start when there is one, by the tracker calls that need the shared pinset while
// this peer is not ready (see Consensus.Ready).
var ErrNotReady = errors.New("peer not ready: waiting for its database")

// notReady tells, waiting at most readyGrace, whether the shared pinset
// can be used: nil once the peer is ready, ErrShutdown after Shutdown,
// else ErrNotReady with the database's hosts and the last error of the start
// (a step that failed and is being retried). The connection attempts
// retried inside scyllastate.New are only logged: while the database is
// unreachable the error names the hosts it waits for.
func (c *Consensus) notReady() error {
	if c.ctx.Err() != nil {
		return ErrShutdown
	}
	select {
	case <-c.readyCh:
		return nil
	default:
	}
	if c.readyGrace > 0 {
		t := time.NewTimer(c.readyGrace)
		defer t.Stop()
		select {
		case <-c.readyCh:
			return nil
		case <-c.ctx.Done():
			return ErrShutdown
		case <-t.C:
		}
	}
	detail := "connecting, or catching up with the change feed"
	if last := c.startErr.Load(); last != nil {
		detail = *last
	}
	return fmt.Errorf("%w at %s (%s)", ErrNotReady, strings.Join(c.stateCfg.Hosts, ","), detail)
}

// noteStartError records the last error of a step of the start, which
// notReady reports.
func (c *Consensus) noteStartError(what string, err error) {
	msg := fmt.Sprintf("%s: %s", what, err)
	c.startErr.Store(&msg)
}

// probeCid is the CID the check of the shared pinset reads (the empty
// identity CID: any would do).
var probeCid = func() api.Cid {
	c, err := api.DecodeCid("bafkqaaa")
	if err != nil {
		panic(err)
	}
	return c
}()

// pinsetReadable tells, with one read, whether the shared pinset can be
// read now: nil if so, else why (not ready yet, the database's error).
func (c *Consensus) pinsetReadable(ctx context.Context) error {
	if err := c.notReady(); err != nil {
		return err
	}
	if _, err := c.store.Has(ctx, probeCid); err != nil {
		return err
	}
	return nil
}
