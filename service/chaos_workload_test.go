//go:build scylla && integration && faults

package service_test

// The workload of a chaos run: clients that pin and unpin random CIDs of
// a small pool through the peers' REST APIs, and the reads of the peers'
// views (pinset, tracker status, IPFS) that the checks use.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// chaosKeys hands out the CIDs of the workload: a pool of poolSize live
// keys; a key is retired after opsPerKey operations and a fresh one takes
// its place (as Jepsen's independent keys), so that each CID's history
// stays short enough to check while operations on it still overlap.
type chaosKeys struct {
	mu        sync.Mutex
	rng       *rand.Rand
	pool      []int
	used      map[int]int
	next      int
	opsPerKey int
}

func newChaosKeys(seed int64, poolSize, opsPerKey int) *chaosKeys {
	k := &chaosKeys{rng: rand.New(rand.NewSource(seed)), used: map[int]int{}, opsPerKey: opsPerKey}
	for range poolSize {
		k.pool = append(k.pool, k.next)
		k.next++
	}
	return k
}

// pick returns a live key and counts an operation on it.
func (k *chaosKeys) pick() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := k.rng.Intn(len(k.pool))
	key := k.pool[i]
	k.used[key]++
	if k.used[key] >= k.opsPerKey {
		k.pool[i] = k.next
		k.next++
	}
	return key
}

// count returns the number of keys used so far.
func (k *chaosKeys) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.next
}

// chaosCidBase keeps the chaos CIDs apart from the other tests' (the
// keyspace is fresh anyway).
const chaosCidBase = 7_000_000

// client runs one client until ctx ends or it has made maxOps
// operations. Each request has its own timeout: the run's end does not
// cut one short.
func (r *chaosRun) client(ctx context.Context, id int, rng *rand.Rand, maxOps int) {
	p := r.peers[id%len(r.peers)]
	hc := &http.Client{Timeout: r.requestTimeout}
	process := r.history.newProcess()
	for n := 0; n < maxOps && ctx.Err() == nil; n++ {
		key := r.keys.pick()
		kind := opPin
		if rng.Intn(2) == 0 {
			kind = opUnpin
		}
		op := chaosOp{Process: process, Client: id, Peer: p.name, Kind: kind, Key: key, Cid: r.cid(key).String()}
		op.Call = r.history.now()
		op.Outcome, op.Detail = r.request(hc, p, kind, op.Cid)
		op.Return = r.history.now()
		r.history.add(op)
		if op.Outcome == outcomeUnknown {
			// The operation may still be in flight: the next ones
			// belong to a new process.
			process = r.history.newProcess()
		}
		pause := between(rng, r.think/2, r.think*3/2)
		if op.Outcome == outcomeFailed && op.Detail == refused {
			// The peer is down: no point in hammering it.
			pause += time.Second
		}
		if !sleep(ctx, pause) {
			return
		}
	}
}

// refused is the detail of a request to a peer that is down.
const refused = "connection refused"

// request pins or unpins a CID through a peer's REST API and classifies
// the outcome.
func (r *chaosRun) request(client *http.Client, p *chaosPeer, kind, cid string) (chaosOutcome, string) {
	var req *http.Request
	var err error
	switch kind {
	case opPin:
		req, err = http.NewRequest(http.MethodPost, p.rest+"/pins/"+cid+"?replication-min=-1&replication-max=-1", nil)
	default:
		req, err = http.NewRequest(http.MethodDelete, p.rest+"/pins/"+cid, nil)
	}
	if err != nil {
		return outcomeFailed, err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			// Nothing was sent: the peer is down.
			return outcomeFailed, refused
		}
		return outcomeUnknown, shortErr(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusOK:
		return outcomeOK, ""
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return outcomeFailed, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, apiMessage(body))
	default:
		return outcomeUnknown, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, apiMessage(body))
	}
}

// apiMessage extracts the message of an API error body.
func apiMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return shortString(e.Message)
	}
	return shortString(strings.TrimSpace(string(body)))
}

func shortErr(err error) string { return shortString(err.Error()) }

func shortString(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// peerView is what one peer shows of every CID.
type peerView struct {
	pinset map[string]bool   // GET /allocations: the shared pinset read by this peer
	status map[string]string // GET /pins?local=true: this peer's tracker status
	ipfs   map[string]bool   // its IPFS (mock) pin ls
}

// view reads a peer's pinset, tracker status and IPFS pins.
func (r *chaosRun) view(ctx context.Context, p *chaosPeer) (peerView, error) {
	v := peerView{pinset: map[string]bool{}, status: map[string]string{}, ipfs: map[string]bool{}}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := getStream(ctx, p.rest+"/allocations?filter=pin", func(d *json.Decoder) error {
		var pin api.Pin
		if err := d.Decode(&pin); err != nil {
			return err
		}
		v.pinset[pin.Cid.String()] = true
		return nil
	})
	if err != nil {
		return v, fmt.Errorf("%s: GET /allocations: %w", p.name, err)
	}
	err = getStream(ctx, p.rest+"/pins?local=true", func(d *json.Decoder) error {
		var gpi api.GlobalPinInfo
		if err := d.Decode(&gpi); err != nil {
			return err
		}
		for _, info := range gpi.PeerMap {
			v.status[gpi.Cid.String()] = info.Status.String()
		}
		return nil
	})
	if err != nil {
		return v, fmt.Errorf("%s: GET /pins?local=true: %w", p.name, err)
	}
	var ls struct {
		Keys map[string]struct{ Type string }
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://%s:%d/api/v0/pin/ls", p.ipfs.Addr, p.ipfs.Port), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return v, fmt.Errorf("%s: IPFS pin/ls: %w", p.name, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&ls); err != nil {
		return v, fmt.Errorf("%s: IPFS pin/ls: %w", p.name, err)
	}
	for c := range ls.Keys {
		v.ipfs[c] = true
	}
	return v, nil
}

// getStream reads one of the REST API's streams of JSON objects.
func getStream(ctx context.Context, url string, each func(*json.Decoder) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil
	case http.StatusOK:
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, apiMessage(body))
	}
	d := json.NewDecoder(resp.Body)
	for d.More() {
		if err := each(d); err != nil {
			return err
		}
	}
	// Read to the end for the trailer.
	_, _ = io.Copy(io.Discard, resp.Body)
	if e := resp.Trailer.Get("X-Stream-Error"); e != "" {
		return fmt.Errorf("stream error: %s", e)
	}
	return nil
}
