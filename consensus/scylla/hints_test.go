package scylla

import (
	"context"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	peer "github.com/libp2p/go-libp2p/core/peer"
)

// fakeTopic counts the hints published; fakeSub delivers messages from
// a channel.
type fakeTopic struct {
	mu    sync.Mutex
	sends int
}

func (t *fakeTopic) Publish(context.Context, []byte, ...pubsub.PubOpt) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sends++
	return nil
}

func (t *fakeTopic) Close() error { return nil }

func (t *fakeTopic) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sends
}

type fakeSub struct{ msgs chan *pubsub.Message }

func (s *fakeSub) Next(ctx context.Context) (*pubsub.Message, error) {
	select {
	case m := <-s.msgs:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *fakeSub) Cancel() {}

func hintFrom(p peer.ID) *pubsub.Message {
	return &pubsub.Message{Message: &pb.Message{From: []byte(p)}}
}

func TestABurstOfChangesSendsTwoHintsAtMost(t *testing.T) {
	topic := &fakeTopic{}
	h := &hints{topic: topic, sub: &fakeSub{}, self: "me"}
	for range 100 {
		h.publish(context.Background(), nil)
	}
	h.close() // waits for the hint sent at the end of the gap
	if n := topic.count(); n < 1 || n > 2 {
		t.Fatalf("100 changes within %s sent %d hints, want 1 or 2", hintGap, n)
	}
	h.publish(context.Background(), nil) // after close: nothing
	time.Sleep(2 * hintGap)
	if n := topic.count(); n > 2 {
		t.Fatalf("a closed hint topic sent %d hints", n)
	}
}

func TestOnlyOtherPeersHintsWakeTheFeed(t *testing.T) {
	sub := &fakeSub{msgs: make(chan *pubsub.Message, 3)}
	h := &hints{topic: &fakeTopic{}, sub: sub, self: "me"}
	sub.msgs <- hintFrom("me")
	sub.msgs <- hintFrom("other")
	woken := make(chan struct{}, 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(ctx, func() { woken <- struct{}{} }) }()
	select {
	case <-woken:
	case <-time.After(5 * time.Second):
		t.Fatal("another peer's hint did not wake the feed")
	}
	cancel()
	<-done
	if len(woken) != 0 {
		t.Fatalf("this peer's own hint woke the feed too")
	}
}
