//go:build scylla

// Command cluster runs a whole IPFS Cluster peer on the shared pinset, as
// `ipfs-cluster-service daemon` does, from a configuration folder made by
// `ipfs-cluster-service init --datastore scylla`, until Ctrl-C:
//
//	go run -tags scylla ./docs/examples/cluster ~/.ipfs-cluster
//
// Upstream's ipfscluster.NewCluster takes a Consensus, not a State: the
// store comes with the scylla consensus (consensus/scylla), which also
// tells the pin tracker of every peer about every change. service.NewPeer
// builds it, with the host, the APIs, the tracker and the monitor, from
// service.json. It needs the "scylla" build tag, like the daemon.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
	scyllacons "github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/consensus/scylla"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/service"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: cluster CONFIG_FOLDER")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1]); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dir string) (err error) {
	// service.json with the CLUSTER_* environment overrides (including
	// CLUSTER_SCYLLASTATE_*), identity.json; every section validated.
	h, err := config.NewLoadedHelper(filepath.Join(dir, "service.json"), filepath.Join(dir, "identity.json"))
	if err != nil {
		return err
	}
	if h.Consensus() != config.Scylla {
		return fmt.Errorf("%s holds a %s configuration: make one with `ipfs-cluster-service init --datastore scylla`", dir, h.Consensus())
	}
	fmt.Printf("keyspace %s on %v\n", h.Configs().ScyllaState.Keyspace, h.Configs().ScyllaState.Hosts)

	peer, err := service.NewPeer(ctx, h, service.Options{Stats: true})
	if err != nil {
		return err
	}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err = errors.Join(err, peer.Shutdown(shutdownCtx))
	}()

	// Ready: connected, schema checked, the change feed caught up.
	select {
	case <-peer.Cluster.Ready():
	case <-ctx.Done():
		return peer.Err()
	}
	cons, ok := peer.Consensus.(*scyllacons.Consensus)
	if !ok {
		return fmt.Errorf("the peer runs a %T consensus", peer.Consensus)
	}
	st, err := cons.Store(ctx) // the shared store itself (a *scyllastate.ScyllaState)
	if err != nil {
		return err
	}
	probe, err := api.DecodeCid("bafkqaaa") // the CID of empty content
	if err != nil {
		return err
	}
	has, err := st.Has(ctx, probe)
	if err != nil {
		return err
	}
	fmt.Printf("peer %s ready; the empty CID is pinned: %t\n", peer.Host.ID(), has)

	<-ctx.Done() // Ctrl-C
	return nil
}
