package scylla

import (
	"context"
	"errors"
	"time"

	host "github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	peer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// hintProtocol is the libp2p protocol of direct hints: the sender opens a
// stream, writes one byte and closes it. The connection is authenticated,
// so the receiver knows the sender without a signature.
const hintProtocol protocol.ID = "/ipfs-cluster-scylla/hint/1.0.0"

// hintStreamTimeout bounds the reading of one direct hint.
const hintStreamTimeout = 5 * time.Second

// hintStreams sends and receives hints directly between two peers (see
// hints): one stream per hint, on the connection the cluster peers keep.
type hintStreams struct {
	host    host.Host
	trusted func(context.Context, peer.ID) bool
}

// errHintNoConn: a direct hint is only sent on an open connection.
var errHintNoConn = errors.New("no connection to the peer")

// send opens a stream to peer to, on a connection already open (it never
// dials: cluster peers need not all be connected to each other, and a
// dial that fails takes time), and writes the hint; ctx bounds it. It
// returns errHintNoConn when there is no connection.
func (s *hintStreams) send(ctx context.Context, to peer.ID) error {
	if s.host.Network().Connectedness(to) != network.Connected {
		return errHintNoConn
	}
	st, err := s.host.NewStream(network.WithNoDial(ctx, "hints go to connected peers"), to, hintProtocol)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	if _, err := st.Write([]byte{1}); err != nil {
		_ = st.Reset()
		return err
	}
	return st.Close()
}

// listen calls wake for every direct hint of a trusted peer, until stop is
// called. Each hint is read by its own short-lived handler goroutine
// (libp2p's), which returns within hintStreamTimeout.
func (s *hintStreams) listen(wake func()) (stop func()) {
	s.host.SetStreamHandler(hintProtocol, func(st network.Stream) {
		defer func() { _ = st.Close() }()
		from := st.Conn().RemotePeer()
		ctx, cancel := context.WithTimeout(context.Background(), hintStreamTimeout)
		defer cancel()
		if !s.trusted(ctx, from) {
			_ = st.Reset()
			return
		}
		_ = st.SetReadDeadline(time.Now().Add(hintStreamTimeout))
		var b [1]byte
		if n, _ := st.Read(b[:]); n == 1 {
			wake()
		}
	})
	return func() { s.host.RemoveStreamHandler(hintProtocol) }
}
