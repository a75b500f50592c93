// Command metrics serves the store's Prometheus metrics and a read-only
// health check over HTTP, until Ctrl-C or SIGTERM:
//
//	metrics -listen 127.0.0.1:8080    # then GET /metrics and /health
//
// A cluster peer needs none of this: with state.scyllastate.metrics_enabled
// and `daemon --stats` it serves the same metrics on its own /metrics
// (observations.metrics.prometheus_endpoint).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address of the HTTP server")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, listen string) error {
	cfg := &scyllastate.Config{Keyspace: "ipfs_pins_example", MetricsEnabled: true}
	if err := cfg.Default(); err != nil {
		return err
	}
	if err := cfg.ApplyEnvVars(); err != nil {
		return err
	}

	// The store registers its metrics on the registry given with
	// WithRegistry (by default: upstream's observations.PromRegistry,
	// which a peer serves). promhttp.Handler() would serve only
	// prometheus.DefaultRegisterer, without them.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	connectCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := scyllastate.New(connectCtx, cfg, scyllastate.WithRegistry(reg))
	if err != nil {
		return err
	}
	defer st.Close()

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if err := healthy(r.Context(), st); err != nil {
			http.Error(w, "UNHEALTHY: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "OK")
	})
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("serving http://%s/metrics and /health", listen)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Graceful shutdown: stop serving, then close the store (deferred).
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelShutdown()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Print("shut down")
	return nil
}

// healthCID (the CID of empty content) is never pinned: Has reads one
// partition and finds nothing.
var healthCID = mustCid("bafkqaaa")

func mustCid(s string) api.Cid {
	c, err := api.DecodeCid(s)
	if err != nil {
		panic(err)
	}
	return c
}

// healthy reads from the database, within 5 seconds. It writes nothing: a
// test pin added to a cluster's pinset would be pinned by its peers.
func healthy(ctx context.Context, st *scyllastate.ScyllaState) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := st.Has(ctx, healthCID)
	return err
}
