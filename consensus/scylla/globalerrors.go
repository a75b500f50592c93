package scylla

import (
	"context"
	"encoding/json"
	"fmt"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	rpc "github.com/libp2p/go-libp2p-gorpc"
	peer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/rpcproxy"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

// A cluster-wide status filtered on errors (`ipfs-cluster-ctl status
// --filter error`) is answered from the database: every peer's tracker
// stores its failed operations there (see tracker), so one peer can list
// them all, streaming, without asking the others. Upstream's
// Cluster.StatusAll instead gathers every peer's answer into one map
// before it sends the first line, which with a million pins in error
// holds gigabytes in the peer for minutes.

// WrapAPI returns a, an API component of upstream's (the REST API), with
// an RPC client of its own (see internal/rpcproxy) on which
// Cluster.StatusAll filtered on pin or unpin errors is answered from the
// errors stored in the database; every other call goes to the cluster as
// before. onlySelf lists this peer's errors only (a follower peer, as
// upstream does); peerName is this peer's name, for its lines when its
// own ping metric is not known yet.
//
// The answer differs from upstream's in three ways: an error a tracker
// has not stored (within a second of the failure, or longer while the
// database refuses the write) is not listed; a pin being retried is
// listed with its stored error until the retry ends; and a peer that does
// not answer has its stored errors listed, not cluster_error lines.
func (c *Consensus) WrapAPI(a ipfscluster.API, onlySelf bool, peerName string) ipfscluster.API {
	return &errorStatusAPI{API: a, c: c, onlySelf: onlySelf, peerName: peerName, pinsetReadable: c.pinsetReadable}
}

type errorStatusAPI struct {
	ipfscluster.API
	c        *Consensus
	onlySelf bool
	peerName string
	// pinsetReadable tells whether the shared pinset can be read now
	// (Consensus.pinsetReadable).
	pinsetReadable func(context.Context) error
}

// SetClient gives the API a client whose Cluster service answers
// StatusAll on errors from the database.
func (a *errorStatusAPI) SetClient(client *rpc.Client) {
	override := &ErrorStatusCluster{Cluster: rpcproxy.NewCluster(client), errs: a}
	proxied, err := rpcproxy.NewClient(a.c.host, client, map[string]any{"Cluster": override})
	if err != nil {
		logger.Errorf("the API's status --filter error reads the peers, not the database: %s", err)
		proxied = client
	}
	a.API.SetClient(proxied)
}

// ErrorStatusCluster is the Cluster RPC service of the wrapped API: it
// forwards every call but StatusAll on errors. It is exported for the RPC
// server only.
type ErrorStatusCluster struct {
	*rpcproxy.Cluster
	errs *errorStatusAPI
}

// storedErrorFilter tells whether filter asks only for statuses the
// database holds (pin_error, unpin_error; cluster_error, which names a
// peer that did not answer, is left out of a listing that asks no peer).
func storedErrorFilter(filter api.TrackerStatus) bool {
	return filter&errorStatuses != 0 && filter&^(errorStatuses|api.TrackerStatusClusterError) == 0
}

// StatusAll answers a filter on errors from the database, and forwards
// any other (see checkedStatusAll).
func (s *ErrorStatusCluster) StatusAll(ctx context.Context, in <-chan api.TrackerStatus, out chan<- api.GlobalPinInfo) error {
	filter := <-in // as upstream: one filter
	if storedErrorFilter(filter) {
		return s.errs.statusAll(ctx, filter, out)
	}
	fwd := make(chan api.TrackerStatus, 1)
	fwd <- filter
	close(fwd)
	if !filter.Match(pinsetStatuses) {
		// Operations in memory only: no pinset to read.
		return s.Cluster.StatusAll(ctx, fwd, out)
	}
	return s.checkedStatusAll(ctx, fwd, out)
}

// checkedStatusAll forwards a cluster-wide status that lists the shared
// pinset, and fails when it has no line because the pinset cannot be
// read. Upstream's cluster lists a peer whose status fails as
// cluster_error on the CIDs the other peers sent: when every peer fails
// (the database is down), it has no CID and answers as for an empty
// pinset. An empty answer is thus checked against the database.
func (s *ErrorStatusCluster) checkedStatusAll(ctx context.Context, in <-chan api.TrackerStatus, out chan<- api.GlobalPinInfo) error {
	return s.checked(ctx, "gave a status", func(ctx context.Context, lines chan<- api.GlobalPinInfo) error {
		return s.Cluster.StatusAll(ctx, in, lines)
	}, out)
}

// RecoverAll forwards a cluster-wide recover, checked as a status (see
// checkedStatusAll): every peer failing to read its stored errors would
// otherwise answer as if none had failed.
func (s *ErrorStatusCluster) RecoverAll(ctx context.Context, in <-chan struct{}, out chan<- api.GlobalPinInfo) error {
	return s.checked(ctx, "recovered a pin", func(ctx context.Context, lines chan<- api.GlobalPinInfo) error {
		return s.Cluster.RecoverAll(ctx, in, lines)
	}, out)
}

// checked streams the lines of call to out, and closes it; when call
// sent none and the shared pinset cannot be read, it fails, saying that
// no peer did what.
func (s *ErrorStatusCluster) checked(ctx context.Context, what string, call func(context.Context, chan<- api.GlobalPinInfo) error, out chan<- api.GlobalPinInfo) error {
	defer close(out)
	lines := make(chan api.GlobalPinInfo, 64)
	errc := make(chan error, 1)
	go func() { errc <- call(ctx, lines) }()
	sent := 0
	for gpi := range lines {
		select {
		case out <- gpi:
			sent++
		case <-ctx.Done():
			for range lines { // drain: the call ends on ctx
			}
			return ctx.Err()
		}
	}
	if err := <-errc; err != nil || sent > 0 {
		return err
	}
	if err := s.errs.pinsetReadable(ctx); err != nil {
		return fmt.Errorf("no peer %s, and the shared pinset cannot be read: %w", what, err)
	}
	return nil
}

// statusAll streams to out, and closes it, the CIDs in error on the
// cluster's peers (this peer alone with onlySelf), each with the error of
// every peer that stored one.
func (a *errorStatusAPI) statusAll(ctx context.Context, filter api.TrackerStatus, out chan<- api.GlobalPinInfo) error {
	defer close(out)
	if err := a.c.notReady(); err != nil {
		return err
	}
	st, err := a.c.Store(ctx)
	if err != nil {
		return err
	}
	members := []peer.ID{a.c.host.ID()}
	if !a.onlySelf {
		if members, err = a.c.Peers(ctx); err != nil {
			return fmt.Errorf("listing the cluster's peers: %w", err)
		}
	}
	infos := a.peerInfos(ctx)
	names := make([]string, len(members))
	byName := make(map[string]peer.ID, len(members))
	for i, p := range members {
		names[i] = p.String()
		byName[names[i]] = p
	}
	return st.MergedTrackerErrors(ctx, names, func(c api.Cid, errs []scyllastate.PeerTrackerError) error {
		var gpi api.GlobalPinInfo
		for _, e := range errs {
			pid := byName[e.Peer]
			pi := storedErrorInfo(e.TrackerError, pid, infos[pid])
			if !pi.Status.Match(filter) {
				continue
			}
			// As GlobalPinInfo.Add, keyed by the peer's name as read
			// (Add would encode its ID again for every line).
			if gpi.PeerMap == nil {
				gpi = api.GlobalPinInfo{
					Cid: pi.Cid, Name: pi.Name, Allocations: pi.Allocations, Origins: pi.Origins,
					Created: pi.Created, Metadata: pi.Metadata, PeerMap: make(map[string]api.PinInfoShort, len(errs)),
				}
			}
			gpi.PeerMap[e.Peer] = pi.PinInfoShort
		}
		if gpi.PeerMap == nil {
			return nil
		}
		select {
		case out <- gpi:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// peerInfo is what a peer's status line says of it, from its ping metric
// (the fields upstream's ping metric carries).
type peerInfo struct {
	Peername      string          `json:"peer_name,omitempty"`
	IPFSID        peer.ID         `json:"ipfs_id,omitempty"`
	IPFSAddresses []api.Multiaddr `json:"ipfs_addresses,omitempty"`
}

// peerInfos reads the peers' latest ping metrics; a peer without one has
// empty fields (this peer: its name).
func (a *errorStatusAPI) peerInfos(ctx context.Context) map[peer.ID]peerInfo {
	infos := map[peer.ID]peerInfo{a.c.host.ID(): {Peername: a.peerName}}
	var metrics []api.Metric
	select {
	case <-a.c.rpcReady: // the cluster gave the consensus its client
	case <-ctx.Done():
		return infos
	}
	if err := a.c.rpcClient.CallContext(ctx, "", "PeerMonitor", "LatestMetrics", "ping", &metrics); err != nil {
		logger.Debugf("ping metrics for the error status: %s", err)
		return infos
	}
	for _, m := range metrics {
		var pi peerInfo
		if err := json.Unmarshal([]byte(m.Value), &pi); err == nil && (pi.IPFSID != "" || pi.Peername != "") {
			infos[m.Peer] = pi
		}
	}
	return infos
}

// storedErrorInfo is the status line of an error stored by peer p.
func storedErrorInfo(e scyllastate.TrackerError, p peer.ID, info peerInfo) api.PinInfo {
	status := api.TrackerStatusPinError
	if e.Unpin {
		status = api.TrackerStatusUnpinError
	}
	return api.PinInfo{
		Cid:         e.Cid,
		Name:        e.Pin.Name,
		Peer:        p,
		Allocations: e.Pin.Allocations,
		Origins:     e.Pin.Origins,
		Created:     e.Pin.Timestamp,
		Metadata:    e.Pin.Metadata,
		PinInfoShort: api.PinInfoShort{
			PeerName:      info.Peername,
			IPFS:          info.IPFSID,
			IPFSAddresses: info.IPFSAddresses,
			Status:        status,
			TS:            e.FailedAt,
			Error:         e.Error,
			AttemptCount:  e.Attempts,
		},
	}
}
