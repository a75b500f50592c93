package scylla

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/statetest"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// fakeRedoStore records how the changes of dead writers are completed.
type fakeRedoStore struct {
	writers     []scyllastate.WriterInfo
	events      []scyllastate.Event
	reannounced []scyllastate.Event
	done        []string
}

func (s *fakeRedoStore) Writers(context.Context) ([]scyllastate.WriterInfo, error) {
	return s.writers, nil
}

func (s *fakeRedoStore) Events(_ context.Context, from, to time.Time, fn func(scyllastate.Event) error) error {
	for _, e := range s.events {
		if !e.Time().Before(from) && !e.Time().After(to) {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *fakeRedoStore) Reannounce(_ context.Context, e scyllastate.Event) error {
	s.reannounced = append(s.reannounced, e)
	return nil
}

func (s *fakeRedoStore) MarkWriterDone(_ context.Context, id string, _ time.Time) error {
	s.done = append(s.done, id)
	return nil
}

// The changes of a dead writer are announced again (row, then a fresh
// event), whatever the event consistency: its own events may have landed
// behind every reader's sweep.
func TestRedoAnnouncesTheChangesOfADeadWriterAgain(t *testing.T) {
	now := time.Now()
	safe := now.Add(-time.Hour)
	ev := func(n int, writer string, at time.Time) scyllastate.Event {
		e := event(n, scyllastate.OpPin, at, at)
		e.Writer = writer
		return e
	}
	st := &fakeRedoStore{
		writers: []scyllastate.WriterInfo{
			{ID: "peer-a", Position: now},
			{ID: "dead", Heartbeat: now.Add(-time.Hour + time.Second), SafeBefore: safe},
		},
		events: []scyllastate.Event{
			ev(1, "dead", safe.Add(time.Second)),
			ev(2, "dead", safe.Add(2*time.Second)),
			ev(3, "peer-a", safe.Add(3*time.Second)),
			ev(4, "dead", safe.Add(-time.Second)), // before its safe point: complete
			{ID: scyllastate.NewEventID(safe.Add(4 * time.Second)), Cid: statetest.Cid(5), Writer: "dead", Legacy: true},
		},
	}
	rd := newRedo(st, "peer-a", time.Minute, 30*time.Second)
	if err := rd.others(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(st.reannounced) != 2 || !st.reannounced[0].Cid.Equals(statetest.Cid(1)) || !st.reannounced[1].Cid.Equals(statetest.Cid(2)) {
		t.Fatalf("announced again: %v; want the dead writer's changes since its safe point (1 and 2)", st.reannounced)
	}
	if len(st.done) != 1 || st.done[0] != "dead" {
		t.Fatalf("writers marked done: %v", st.done)
	}
}
