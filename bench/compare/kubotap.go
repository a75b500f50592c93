package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// kuboTap is a reverse proxy between one peer and its kubo: the peer's
// ipfs_connector points at it. It records when the peer first asked kubo
// to pin each watched CID (POST /api/v0/pin/add?arg=CID), which is when
// that peer's pin tracker acted on the pin: the moment a new pin has
// reached that peer, timed in the harness's clock at sub-millisecond
// resolution, without polling the peer.
type kuboTap struct {
	port  int
	srv   *http.Server
	done  chan struct{} // closed when Serve has returned
	watch map[string]bool

	mu    sync.Mutex
	first map[string]time.Time
}

// startKuboTap listens on a free loopback port and forwards to the kubo
// API at kuboPort. watch is the set of CIDs to time; it is read, never
// written, by the tap.
func startKuboTap(kuboPort int, watch map[string]bool) (*kuboTap, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("kubo tap: %w", err)
	}
	t := &kuboTap{port: port, done: make(chan struct{}), watch: watch, first: map[string]time.Time{}}
	target := &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", kuboPort)}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1 // pin/add streams its progress
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		// A peer that stops cancels its requests: not worth a line.
		if r.Context().Err() == nil {
			logf("warning: kubo tap on port %d: %s %s: %v", port, r.Method, r.URL.Path, err)
		}
		w.WriteHeader(http.StatusBadGateway)
	}
	t.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/v0/pin/add" {
				t.saw(r.URL.Query()["arg"], time.Now())
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() {
		defer close(t.done)
		if err := t.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("warning: kubo tap on port %d: %v", port, err)
		}
	}()
	return t, nil
}

// saw records the first request to pin each watched CID of args.
func (t *kuboTap) saw(args []string, at time.Time) {
	for _, a := range args {
		c := strings.TrimPrefix(a, "/ipfs/")
		if !t.watch[c] {
			continue
		}
		t.mu.Lock()
		if _, ok := t.first[c]; !ok {
			t.first[c] = at
		}
		t.mu.Unlock()
	}
}

// pinnedAt is when the peer first asked its kubo to pin c.
func (t *kuboTap) pinnedAt(c string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.first[c]
	return at, ok
}

// close stops the tap and waits for its server goroutine.
func (t *kuboTap) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := t.srv.Shutdown(ctx)
	if err != nil {
		_ = t.srv.Close()
	}
	<-t.done
	return err
}
