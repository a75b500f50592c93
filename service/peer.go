package service

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/go-multierror"
	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/allocator/balanced"
	"github.com/ipfs-cluster/ipfs-cluster/api/ipfsproxy"
	"github.com/ipfs-cluster/ipfs-cluster/api/pinsvcapi"
	"github.com/ipfs-cluster/ipfs-cluster/api/rest"
	uconfig "github.com/ipfs-cluster/ipfs-cluster/config"
	"github.com/ipfs-cluster/ipfs-cluster/informer/disk"
	"github.com/ipfs-cluster/ipfs-cluster/informer/pinqueue"
	"github.com/ipfs-cluster/ipfs-cluster/informer/tags"
	"github.com/ipfs-cluster/ipfs-cluster/ipfsconn/ipfshttp"
	"github.com/ipfs-cluster/ipfs-cluster/monitor/pubsubmon"
	"github.com/ipfs-cluster/ipfs-cluster/observations"
	"github.com/ipfs-cluster/ipfs-cluster/pintracker/stateless"
	ds "github.com/ipfs/go-datastore"
	logging "github.com/ipfs/go-log/v2"
	dual "github.com/libp2p/go-libp2p-kad-dht/dual"
	host "github.com/libp2p/go-libp2p/core/host"
	"go.opencensus.io/tag"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

var logger = logging.Logger("service")

// Options are the daemon flags that change how a peer is built.
type Options struct {
	// Stats enables metrics (like --stats).
	Stats bool
	// Tracing enables tracing (like --tracing).
	Tracing bool
	// Leave makes the peer leave the cluster on shutdown (--leave).
	Leave bool
	// RaftStaging starts raft in staging mode (raft with --bootstrap).
	RaftStaging bool
}

// Peer is a running cluster peer and what it owns.
type Peer struct {
	Cluster *ipfscluster.Cluster
	Host    host.Host
	DHT     *dual.DHT
	Store   ds.Datastore
	// Consensus is the peer's consensus component.
	Consensus ipfscluster.Consensus
	// Tracker is the peer's pin tracker.
	Tracker ipfscluster.PinTracker

	cancel context.CancelFunc
	fatal  <-chan error

	mu       sync.Mutex
	fatalErr error
}

// NewPeer builds every component and the cluster. The peer is running
// when it returns; Ready tells when it can serve.
func NewPeer(ctx context.Context, h *config.Helper, opts Options) (p *Peer, err error) {
	cfgs := h.Configs()
	if opts.Stats {
		cfgs.Metrics.EnableStats = true
	}
	if opts.Leave {
		cfgs.Cluster.LeaveOnShutdown = true
	}
	h.SetupTracing(opts.Tracing)

	ctx, cancel := context.WithCancel(ctx)
	peer := &Peer{cancel: cancel}
	p = peer
	// Components built before a failure are shut down with it; once the
	// cluster exists, it owns them.
	var built []ipfscluster.Component
	defer func() {
		if err != nil {
			for _, c := range built {
				_ = c.Shutdown(context.WithoutCancel(ctx))
			}
			_ = peer.close() // p is nil when an error is returned
		}
	}()

	if p.Store, err = newDatastore(h); err != nil {
		return nil, fmt.Errorf("creating the datastore: %w", err)
	}
	host, bwc, psub, dht, err := ipfscluster.NewClusterHost(ctx, h.Identity(), cfgs.Cluster, p.Store)
	if err != nil {
		return nil, fmt.Errorf("creating the libp2p host: %w", err)
	}
	p.Host, p.DHT = host, dht

	if display, err := h.Manager().ToDisplayJSON(); err == nil {
		logger.Debugf("configuration:\n%s", display)
	}
	if ctx, err = tag.New(ctx, tag.Upsert(observations.HostKey, host.ID().String())); err != nil {
		return nil, err
	}
	if err := observations.SetupMetrics(cfgs.Metrics); err != nil {
		return nil, fmt.Errorf("setting up metrics: %w", err)
	}
	tracer, err := observations.SetupTracing(cfgs.Tracing)
	if err != nil {
		return nil, fmt.Errorf("setting up tracing: %w", err)
	}

	apis, err := newAPIs(ctx, h, host)
	for _, api := range apis {
		built = append(built, api)
	}
	if err != nil {
		return nil, err
	}
	connector, err := ipfshttp.NewConnector(cfgs.Ipfshttp)
	if err != nil {
		return nil, fmt.Errorf("creating the IPFS connector: %w", err)
	}
	built = append(built, connector)
	informers, err := newInformers(h)
	for _, inf := range informers {
		built = append(built, inf)
	}
	if err != nil {
		return nil, err
	}
	if !h.Manager().IsLoadedFromJSON(uconfig.Allocator, cfgs.BalancedAlloc.ConfigKey()) {
		cfgs.BalancedAlloc.AllocateBy = []string{"freespace"} // legacy configs, as upstream
	}
	alloc, err := balanced.New(cfgs.BalancedAlloc)
	if err != nil {
		return nil, fmt.Errorf("creating the allocator: %w", err)
	}
	built = append(built, alloc)
	cons, err := newConsensus(h, host, dht, psub, p.Store, opts.RaftStaging)
	if err != nil {
		return nil, fmt.Errorf("creating the %s consensus: %w", h.Consensus(), err)
	}
	built = append(built, cons)
	informers = append(informers, cons.informers...)
	p.fatal = cons.fatal
	p.Consensus = cons.Consensus
	if cons.wrapREST != nil {
		for i, a := range apis {
			if _, ok := a.(*rest.API); ok {
				apis[i] = cons.wrapREST(a)
			}
		}
	}
	var tracker ipfscluster.PinTracker = stateless.New(cfgs.Statelesstracker, host.ID(), cfgs.Cluster.Peername, cons.State)
	if cons.wrapTracker != nil {
		tracker = cons.wrapTracker(tracker)
	}
	built = append(built, tracker)
	p.Tracker = tracker
	mon, err := pubsubmon.New(ctx, cfgs.Pubsubmon, psub, cons.peersF)
	if err != nil {
		return nil, fmt.Errorf("creating the peer monitor: %w", err)
	}
	p.Cluster, err = ipfscluster.NewCluster(ctx, host, bwc, dht, cfgs.Cluster, p.Store,
		cons, apis, pinLsEachType{connector}, tracker, mon, alloc, informers, tracer)
	if err != nil {
		return nil, fmt.Errorf("creating the cluster: %w", err)
	}
	go p.watchFatal(ctx)
	return p, nil
}

// watchFatal shuts the cluster down when the consensus cannot start.
func (p *Peer) watchFatal(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-p.Cluster.Done():
	case err := <-p.fatal:
		logger.Errorf("shutting down: %s", err)
		p.mu.Lock()
		p.fatalErr = err
		p.mu.Unlock()
		_ = p.Cluster.Shutdown(context.WithoutCancel(ctx))
	}
}

// Err returns why the peer stopped without becoming ready, or nil.
func (p *Peer) Err() error {
	select {
	case <-p.Cluster.Ready():
		return nil
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fatalErr != nil {
		return p.fatalErr
	}
	return errors.New("the peer shut down before it was ready (see the log above)")
}

// Shutdown stops the cluster and closes what the peer owns.
func (p *Peer) Shutdown(ctx context.Context) error {
	var merr *multierror.Error
	if p.Cluster != nil {
		merr = multierror.Append(merr, p.Cluster.Shutdown(ctx))
	}
	merr = multierror.Append(merr, p.close())
	return merr.ErrorOrNil()
}

func (p *Peer) close() error {
	p.cancel()
	var merr *multierror.Error
	if p.DHT != nil {
		merr = multierror.Append(merr, p.DHT.Close())
	}
	if p.Host != nil {
		merr = multierror.Append(merr, p.Host.Close())
	}
	if p.Store != nil {
		merr = multierror.Append(merr, p.Store.Close())
	}
	return merr.ErrorOrNil()
}

func newAPIs(ctx context.Context, h *config.Helper, host host.Host) ([]ipfscluster.API, error) {
	cfgs, man := h.Configs(), h.Manager()
	var apis []ipfscluster.API
	if man.IsLoadedFromJSON(uconfig.API, cfgs.Restapi.ConfigKey()) {
		var api *rest.API
		var err error
		// As upstream: the libp2p endpoint of the REST API only with
		// raft, whose peers are all trusted.
		if h.Consensus() == config.Raft {
			api, err = rest.NewAPIWithHost(ctx, cfgs.Restapi, host)
		} else {
			api, err = rest.NewAPI(ctx, cfgs.Restapi)
		}
		if err != nil {
			return nil, fmt.Errorf("creating the REST API: %w", err)
		}
		apis = append(apis, api)
	}
	if man.IsLoadedFromJSON(uconfig.API, cfgs.Pinsvcapi.ConfigKey()) {
		api, err := pinsvcapi.NewAPI(ctx, cfgs.Pinsvcapi)
		if err != nil {
			return nil, fmt.Errorf("creating the pinning service API: %w", err)
		}
		apis = append(apis, api)
	}
	if man.IsLoadedFromJSON(uconfig.API, cfgs.Ipfsproxy.ConfigKey()) {
		proxy, err := ipfsproxy.New(cfgs.Ipfsproxy)
		if err != nil {
			return nil, fmt.Errorf("creating the IPFS proxy: %w", err)
		}
		apis = append(apis, proxy)
	}
	return apis, nil
}

func newInformers(h *config.Helper) ([]ipfscluster.Informer, error) {
	cfgs, man := h.Configs(), h.Manager()
	var informers []ipfscluster.Informer
	if man.IsLoadedFromJSON(uconfig.Informer, cfgs.DiskInf.ConfigKey()) {
		inf, err := disk.NewInformer(cfgs.DiskInf)
		if err != nil {
			return nil, fmt.Errorf("creating the disk informer: %w", err)
		}
		informers = append(informers, inf)
	}
	if man.IsLoadedFromJSON(uconfig.Informer, cfgs.TagsInf.ConfigKey()) {
		inf, err := tags.New(cfgs.TagsInf)
		if err != nil {
			return nil, fmt.Errorf("creating the tags informer: %w", err)
		}
		informers = append(informers, inf)
	}
	if man.IsLoadedFromJSON(uconfig.Informer, cfgs.PinQueueInf.ConfigKey()) {
		inf, err := pinqueue.New(cfgs.PinQueueInf)
		if err != nil {
			return nil, fmt.Errorf("creating the pinqueue informer: %w", err)
		}
		informers = append(informers, inf)
	}
	return informers, nil
}
