package scylla

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The repairs of all peers together read at most repair_read_rate pins per
// second: a peer's share shrinks as peers join, so the database's load
// stays the same.
func TestRepairPaceSharesTheRate(t *testing.T) {
	peers := 1
	p := &repairPace{every: 9 * time.Second, rate: 1000, timeout: time.Second,
		peers: func(context.Context) (int, error) { return peers, nil }}
	ctx := context.Background()
	cases := []struct {
		peers int
		read  int64
		want  time.Duration
	}{
		{1, 1000, 9 * time.Second},     // small slice: repair_interval paces
		{1, 100000, 100 * time.Second}, // 100k pins at 1000/s
		{24, 10000, 240 * time.Second}, // 24 peers: 1000/24 pins/s each
		{3, 0, 9 * time.Second},        // an empty slice
		{24, 100, 9 * time.Second},     // still never faster than repair_interval allows
	}
	for _, c := range cases {
		peers = c.peers
		if got := p.after(ctx, c.read); got != c.want {
			t.Errorf("%d peers, %d pins read: wait %s, want %s", c.peers, c.read, got, c.want)
		}
	}
	// Over a cycle, 24 peers read 24 × their share: the cluster's rate.
	peers = 24
	var total time.Duration
	for range 100 {
		total += p.after(ctx, 10000)
	}
	if rate := float64(24*100*10000) / total.Seconds(); rate > 1000.5 {
		t.Errorf("24 peers read %.0f pins/s together, over repair_read_rate 1000", rate)
	}
}

func TestRepairPaceWithoutLimitOrPeers(t *testing.T) {
	ctx := context.Background()
	p := &repairPace{every: time.Second, rate: 0}
	if got := p.after(ctx, 1e9); got != time.Second {
		t.Errorf("repair_read_rate 0 (no limit): wait %s, want repair_interval/recover_slices (1s)", got)
	}
	fail := false
	p = &repairPace{every: time.Second, rate: 100, timeout: time.Second, peers: func(context.Context) (int, error) {
		if fail {
			return 0, errors.New("the peer monitor does not answer")
		}
		return 4, nil
	}}
	if got := p.after(ctx, 100); got != 4*time.Second {
		t.Fatalf("4 peers, 100 pins at 100/s: wait %s, want 4s", got)
	}
	fail = true
	if got := p.after(ctx, 100); got != 4*time.Second {
		t.Errorf("the peer count cannot be read: wait %s, want 4s (the last count)", got)
	}
}
