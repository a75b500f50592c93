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

// entryIn is serialEntry as decodeEntry reads it. A field other than k
// and v (no Marshal writes one) is decoded and ignored, as dsstate does,
// rather than skipped: ugorji skips a value by reserving its declared
// length at once, up to 4 GiB for six bytes of input.
type entryIn serialEntry

// CodecMissingField ignores a field other than k and v.
func (*entryIn) CodecMissingField([]byte, any) bool { return true }

// CodecMissingFields has nothing to add: entryIn is never encoded.
func (*entryIn) CodecMissingFields() map[string]any { return nil }

// newEntryDecoder reads a Marshal stream with dsstate's handle. It refuses
// an entry written as an array of more than two values (ugorji would skip
// the others as above); no Marshal writes one.
func newEntryDecoder(r io.Reader) *codec.Decoder {
	h := dsstate.DefaultHandle()
	if mh, ok := h.(*codec.MsgpackHandle); ok {
		mh.ErrorIfNoField = true
	}
	return codec.NewDecoder(r, h)
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
	dec := newEntryDecoder(r)
	b := s.Batch()
	n := 0
	for {
		row, err := decodeEntry(dec)
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
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

// decodeEntry reads the next entry of a Marshal stream from dec and builds
// the row of its pin. It returns io.EOF at the end of the stream, and
// io.ErrUnexpectedEOF when the stream ends inside an entry (a truncated
// file must not import as a smaller pinset).
func decodeEntry(dec *codec.Decoder) (pinRow, error) {
	var entry entryIn
	start := dec.NumBytesRead()
	if err := dec.Decode(&entry); err != nil {
		if errors.Is(err, io.EOF) && dec.NumBytesRead() > start {
			return pinRow{}, fmt.Errorf("the stream ends inside an entry, at byte %d (truncated?): %w", dec.NumBytesRead(), io.ErrUnexpectedEOF)
		}
		return pinRow{}, err
	}
	kb, err := dshelp.BinaryFromDsKey(ds.NewKey(entry.Key))
	if err != nil {
		return pinRow{}, fmt.Errorf("bad key %q: %w", entry.Key, err)
	}
	c, err := api.CastCid(kb)
	if err != nil {
		return pinRow{}, fmt.Errorf("bad cid in key %q: %w", entry.Key, err)
	}
	return rowFromProto(c, entry.Value)
}
