package scylla

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/libp2p/go-libp2p"
	host "github.com/libp2p/go-libp2p/core/host"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
)

// hintHost is a libp2p host on the loopback that counts the direct hints
// it accepts, from the peers trusted says.
type hintHost struct {
	host.Host
	woken atomic.Int64
	stop  func()
}

func newHintHost(t *testing.T, trusted func(peer.ID) bool) *hintHost {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	hh := &hintHost{Host: h}
	s := &hintStreams{host: h, trusted: func(_ context.Context, p peer.ID) bool { return trusted(p) }}
	hh.stop = s.listen(func() { hh.woken.Add(1) })
	t.Cleanup(func() { hh.stop(); _ = h.Close() })
	return hh
}

func connect(t *testing.T, a, b host.Host) {
	t.Helper()
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// waitWoken waits until h was woken want times (and checks that it is not
// woken more).
func (h *hintHost) waitWoken(t *testing.T, want int64, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.woken.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(2 * hintGap)
	if got := h.woken.Load(); got != want {
		t.Fatalf("%s: woken %d times, want %d", what, got, want)
	}
}

// A pin allocated to some peers wakes those peers only, directly, and
// sends no pubsub message (which every peer verifies, forwards and reads
// the feed for); a pin for every peer goes through pubsub; a connected
// peer that cannot take a direct hint gets the pubsub one; an untrusted
// sender's direct hint wakes nobody; a peer without a connection is left
// to its poll.
func TestHintsGoToTheAllocatedPeersOnly(t *testing.T) {
	all := func(peer.ID) bool { return true }
	writer := newHintHost(t, all)
	b, c := newHintHost(t, all), newHintHost(t, all)
	var stranger peer.ID
	strict := newHintHost(t, func(p peer.ID) bool { return p != stranger })
	old, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0")) // a peer without direct hints
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	for _, h := range []host.Host{b, c, strict, old} {
		connect(t, writer, h)
	}
	topic := &fakeTopic{}
	h := &hints{topic: topic, sub: &fakeSub{}, self: writer.ID(), direct: &hintStreams{host: writer, trusted: func(context.Context, peer.ID) bool { return true }}}
	defer h.close()
	ctx := context.Background()

	pin := api.PinWithOpts(statetest.Cid(1), api.PinOptions{ReplicationFactorMin: 1, ReplicationFactorMax: 2})
	pin.Allocations = []peer.ID{writer.ID(), b.ID()}
	h.publish(ctx, hintTargets(pin, writer.ID()))
	b.waitWoken(t, 1, "the allocated peer")
	c.waitWoken(t, 0, "a peer the pin is not allocated to")
	if n := topic.count(); n != 0 {
		t.Fatalf("a pin allocated to one other peer sent %d pubsub hints, want 0", n)
	}

	pin.Allocations = []peer.ID{writer.ID()}
	h.publish(ctx, hintTargets(pin, writer.ID()))
	time.Sleep(2 * hintGap)
	if b.woken.Load() != 1 || c.woken.Load() != 0 || topic.count() != 0 {
		t.Fatal("a pin allocated to the writer alone hinted other peers")
	}

	everywhere := api.PinWithOpts(pin.Cid, api.PinOptions{ReplicationFactorMin: -1, ReplicationFactorMax: -1})
	h.publish(ctx, hintTargets(everywhere, writer.ID()))
	deadline := time.Now().Add(5 * time.Second)
	for topic.count() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := topic.count(); n != 1 {
		t.Fatalf("a pin for every peer sent %d pubsub hints, want 1", n)
	}

	h.publish(ctx, []peer.ID{old.ID()})
	for topic.count() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := topic.count(); n != 2 {
		t.Fatalf("a hint to a peer without direct hints: %d pubsub hints in all, want 2 (the fallback)", n)
	}

	stranger = writer.ID()
	h.publish(ctx, []peer.ID{strict.ID()})
	strict.waitWoken(t, 0, "a peer that does not trust the writer")

	// A peer this one has no connection to is not dialled, and costs no
	// pubsub message: it sees the change at its next poll.
	far := newHintHost(t, all)
	before := topic.count()
	h.publish(ctx, []peer.ID{far.ID()})
	far.waitWoken(t, 0, "a peer without a connection to the writer")
	if n := topic.count(); n != before {
		t.Fatalf("a hint to a peer without a connection sent %d pubsub hints, want none", n-before)
	}
	if len(writer.Network().ConnsToPeer(far.ID())) != 0 {
		t.Fatal("a hint dialled a peer this one had no connection to")
	}
}
