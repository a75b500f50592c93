package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// httpClient talks to the REST APIs; requests carry their own deadlines.
var httpClient = &http.Client{Transport: &http.Transport{
	MaxIdleConns:        64,
	MaxIdleConnsPerHost: 64,
	IdleConnTimeout:     30 * time.Second,
}}

// restPinAdd is POST /pins/{cid}?{query}; an empty query takes the
// cluster's default options (replication -1: allocated everywhere).
func restPinAdd(ctx context.Context, port int, cid, query string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d/pins/%s", port, cid)
	if query != "" {
		url += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /pins/%s: %s: %s", cid, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// addLoad is the outcome of a REST pin add run.
type addLoad struct {
	Wall      time.Duration
	Latencies []time.Duration // of the successful adds
	Errors    int
	FirstErr  error
}

// runAddLoad adds every cid through POST /pins at `clients` concurrent
// clients, the k-th request to the peer at ports[k % len(ports)] (round
// robin), with the options of query (see restPinAdd). progress is called
// at every quarter of the pins.
func runAddLoad(ctx context.Context, ports []int, cids []string, query string, clients int, progress func(done int)) addLoad {
	type job struct {
		port int
		cid  string
	}
	work := make(chan job)
	var (
		mu  sync.Mutex
		res addLoad
		wg  sync.WaitGroup
	)
	step := max(len(cids)/4, 1)
	done := 0
	t0 := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				s := time.Now()
				err := restPinAdd(ctx, j.port, j.cid, query)
				d := time.Since(s)
				mu.Lock()
				if err != nil {
					res.Errors++
					if res.FirstErr == nil {
						res.FirstErr = err
					}
				} else {
					res.Latencies = append(res.Latencies, d)
				}
				done++
				if done%step == 0 && progress != nil {
					progress(done)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for k, c := range cids {
		select {
		case work <- job{ports[k%len(ports)], c}:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	res.Wall = time.Since(t0)
	return res
}

// restCount streams GET path (a streaming NDJSON endpoint such as
// /allocations?filter=all or /peers) and counts the objects. A stream
// error reported in the X-Stream-Error trailer is returned.
func restCount(ctx context.Context, port int, path string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return 0, nil
	case http.StatusOK:
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	// Count lines (one JSON object each) rather than decode: the client
	// must not be the bottleneck at a million pins. The first object is
	// decoded to check that the stream is what we think it is.
	br := bufio.NewReaderSize(resp.Body, 1<<20)
	first, err := br.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return 0, fmt.Errorf("GET %s: %w", path, err)
	}
	if len(bytes.TrimSpace(first)) == 0 {
		return 0, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(first, &obj); err != nil {
		return 0, fmt.Errorf("GET %s: first object: %w", path, err)
	}
	if e, ok := obj["code"]; ok && obj["message"] != nil {
		return 0, fmt.Errorf("GET %s: error %v: %v", path, e, obj["message"])
	}
	n := 1
	buf := make([]byte, 1<<20)
	for {
		k, err := br.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("GET %s after %d objects: %w", path, n, err)
		}
	}
	if e := resp.Trailer.Get("X-Stream-Error"); e != "" {
		return n, fmt.Errorf("GET %s: stream error: %s", path, e)
	}
	return n, nil
}

// restUp tells whether GET /id answers with an id (within 5 s).
func restUp(ctx context.Context, port int) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/id", port), nil)
	if err != nil {
		return false
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var id struct {
		ID string `json:"id"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&id) == nil && id.ID != ""
}
