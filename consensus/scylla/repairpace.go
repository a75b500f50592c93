package scylla

import (
	"context"
	"time"
)

// repairPace spaces the slice repairs of a peer: one slice every
// repair_interval/recover_slices, and no faster than the peer's share of
// repair_read_rate, the pins per second the repairs of all the cluster's
// peers may read together. Each peer takes rate/N for itself, N being the
// trusted peers it knows: the database's load from repairs then stays
// the same whatever the number of peers, and a cycle over a large pinset
// takes longer instead.
type repairPace struct {
	every time.Duration // repair_interval/recover_slices
	rate  int           // repair_read_rate; 0: no limit
	// peers counts the trusted peers this peer knows, itself included.
	peers func(ctx context.Context) (int, error)
	// timeout bounds peers.
	timeout time.Duration

	lastPeers int // the last count that could be read
}

// after returns the wait before the next slice repair, after one that
// read n entries (pins and unpin markers).
func (p *repairPace) after(ctx context.Context, n int64) time.Duration {
	if p.rate <= 0 || n <= 0 {
		return p.every
	}
	peers := p.count(ctx)
	share := float64(p.rate) / float64(peers)
	byRate := time.Duration(float64(n) / share * float64(time.Second))
	return max(p.every, byRate)
}

// count returns the number of trusted peers, at least 1; when it cannot be
// read, the last known count.
func (p *repairPace) count(ctx context.Context) int {
	if p.peers != nil {
		ctx, cancel := context.WithTimeout(ctx, p.timeout)
		n, err := p.peers(ctx)
		cancel()
		if err == nil && n > 0 {
			p.lastPeers = n
		}
	}
	return max(p.lastPeers, 1)
}
