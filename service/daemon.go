package service

import (
	"context"
	"fmt"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/ipfs-cluster/ipfs-cluster/cmdutils"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

// Run runs a peer until a signal (SIGINT, SIGTERM, SIGHUP) or a fatal
// error stops it: it bootstraps to the given peers in the background and
// notifies systemd when ready. It returns an error when the peer could
// not start or shut down badly.
func Run(h *config.Helper, opts Options, bootstrap []ma.Multiaddr) error {
	logger.Info("Initializing. For verbose output run with \"-l debug\". Please wait...")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	peer, err := NewPeer(ctx, h, opts)
	if err != nil {
		return err
	}
	go func() {
		for _, addr := range bootstrap {
			logger.Infof("bootstrapping to %s", addr)
			if err := peer.Cluster.Join(ctx, addr); err != nil {
				logger.Errorf("bootstrap to %s failed: %s", addr, err)
			}
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
		case <-peer.Cluster.Ready():
			_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)
		}
	}()
	if err := cmdutils.HandleSignals(ctx, cancel, peer.Cluster, peer.Host, peer.DHT, peer.Store); err != nil {
		return fmt.Errorf("closing the peer: %w", err)
	}
	return peer.Err()
}
