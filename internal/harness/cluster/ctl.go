package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// ctlTimeout bounds one ipfs-cluster-ctl call.
const ctlTimeout = 30 * time.Second

// DefaultMetrics are the metrics WaitMetrics waits for when given none:
// the ones adding content or allocating pins need.
var DefaultMetrics = []string{"ping", "freespace"}

// Ctl runs ipfs-cluster-ctl (Bin) against the REST API of Peer.
type Ctl struct {
	Peer *Peer
	Bin  string
}

// Args is the command line of ipfs-cluster-ctl with args, against the
// peer's REST API.
func (c Ctl) Args(args ...string) ([]string, error) {
	port, err := c.Peer.RESTAPIPort()
	if err != nil {
		return nil, err
	}
	return append([]string{c.Bin, "--host", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}, args...), nil
}

// JSON runs ipfs-cluster-ctl --enc=json ARGS and decodes each JSON value
// it prints with each; its stderr goes to stderr (nil: dropped).
func (c Ctl) JSON(ctx context.Context, stderr io.Writer, each func(json.RawMessage) error, args ...string) error {
	argv, err := c.Args(append([]string{"--enc=json"}, args...)...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ipfs-cluster-ctl %v: %w", args, err)
	}
	dec := json.NewDecoder(&out)
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("ipfs-cluster-ctl %v: %w", args, err)
		}
		if err := each(v); err != nil {
			return err
		}
	}
}

// Count is how many JSON values `ipfs-cluster-ctl --enc=json ARGS`
// prints (items of `status`, pins of `pin ls`).
func (c Ctl) Count(ctx context.Context, args ...string) (int, error) {
	n := 0
	err := c.JSON(ctx, os.Stderr, func(json.RawMessage) error { n++; return nil }, args...)
	return n, err
}

// StatusIs tells whether every peer reports status for cid (and at least
// one reports one).
func (c Ctl) StatusIs(ctx context.Context, cid, status string) (bool, error) {
	all, n := true, 0
	err := c.JSON(ctx, os.Stderr, func(v json.RawMessage) error {
		var info struct {
			PeerMap map[string]struct {
				Status string `json:"status"`
			} `json:"peer_map"`
		}
		if err := json.Unmarshal(v, &info); err != nil {
			return fmt.Errorf("status of %s: %w", cid, err)
		}
		for _, p := range info.PeerMap {
			n++
			all = all && p.Status == status
		}
		return nil
	}, "status", cid)
	return err == nil && all && n > 0, err
}

// HasMetric tells whether the peer has a valid metric name of its own.
func (c Ctl) HasMetric(ctx context.Context, name string) (bool, error) {
	id, err := c.Peer.ID()
	if err != nil {
		return false, err
	}
	found := false
	err = c.JSON(ctx, nil, func(v json.RawMessage) error {
		var ms []struct {
			Peer  string `json:"peer"`
			Valid bool   `json:"valid"`
		}
		if err := json.Unmarshal(v, &ms); err != nil {
			return fmt.Errorf("metrics %s: %w", name, err)
		}
		for _, m := range ms {
			found = found || (m.Peer == id && m.Valid)
		}
		return nil
	}, "health", "metrics", name)
	return found, err
}

// WaitMetrics waits, each up to timeout, until the peer has its own
// metrics (DefaultMetrics when none): adding content or allocating pins
// right after a peer starts fails until they are there, as upstream.
func (c Ctl) WaitMetrics(ctx context.Context, timeout time.Duration, metrics ...string) error {
	if len(metrics) == 0 {
		metrics = DefaultMetrics
	}
	for _, m := range metrics {
		// Each call is bounded by ctlTimeout, not by the poll's timeout:
		// a timeout of 0 still asks once.
		err := proc.Poll(ctx, timeout, proc.FirstPoll, 500*time.Millisecond, func(context.Context) (bool, error) {
			ok, _ := c.HasMetric(ctx, m)
			return ok, nil
		})
		if errors.Is(err, proc.ErrTimeout) {
			return fmt.Errorf("no %s metric from the peer in %s after %s: %w", m, c.Peer.Dir, timeout, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
