package scyllastate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state/dsstate"
	dshelp "github.com/ipfs/boxo/datastore/dshelp"
	ds "github.com/ipfs/go-datastore"
	codec "github.com/ugorji/go/codec"
)

// serialEntry is one element of upstream dsstate's serialized stream:
// a msgpack map {k: dshelp key of the CID without the leading "/",
// v: the pin protobuf}.
type serialEntry struct {
	Key   string `codec:"k"`
	Value []byte `codec:"v"`
}

// Marshal writes the whole state to w in upstream dsstate's format, so
// that dsstate.Unmarshal (and raft snapshots) can read it.
func (s *ScyllaState) Marshal(w io.Writer) error {
	enc := codec.NewEncoder(w, dsstate.DefaultHandle())
	var (
		mu sync.Mutex
		n  atomic.Int64
	)
	err := s.scan(context.Background(), func(row *pinRow) error {
		key := dshelp.NewKeyFromBinary(row.cid).BaseNamespace()
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(serialEntry{Key: key, Value: row.pin}); err != nil {
			return fmt.Errorf("encoding pin: %w", err)
		}
		if c := n.Add(1); c%listProgressEvery == 0 {
			logger.Infof("state export in progress: %d pins so far", c)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("marshaling state: %w", err)
	}
	logger.Infof("state export finished: %d pins", n.Load())
	return nil
}

// Unmarshal reads a stream written by Marshal or by upstream dsstate and
// adds every pin, Config.WriteConcurrency writes at a time. Like dsstate,
// it does not remove pins that are not in the stream.
func (s *ScyllaState) Unmarshal(r io.Reader) error {
	dec := codec.NewDecoder(r, dsstate.DefaultHandle())
	b := s.Batch()
	n := 0
	for {
		var entry serialEntry
		if err := dec.Decode(&entry); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("unmarshaling state: %w", err)
		}
		kb, err := dshelp.BinaryFromDsKey(ds.NewKey(entry.Key))
		if err != nil {
			return fmt.Errorf("unmarshaling state: bad key %q: %w", entry.Key, err)
		}
		c, err := api.CastCid(kb)
		if err != nil {
			return fmt.Errorf("unmarshaling state: bad cid in key %q: %w", entry.Key, err)
		}
		row, err := rowFromProto(c, entry.Value)
		if err != nil {
			return fmt.Errorf("unmarshaling state: %w", err)
		}
		if err := b.queue(context.Background(), pinWrite(row)); err != nil {
			return fmt.Errorf("unmarshaling state: %w", err)
		}
		if n++; n%listProgressEvery == 0 {
			logger.Infof("state import in progress: %d pins so far", n)
		}
	}
	if err := b.Commit(context.Background()); err != nil {
		return fmt.Errorf("unmarshaling state: %w", err)
	}
	logger.Infof("state import finished: %d pins", n)
	return nil
}
