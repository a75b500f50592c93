// Package kubotest gives integration tests a real kubo daemon: `bin/ipfs`
// (built by `make kubo`, or the binary named by IPFS_BIN), started offline
// on free loopback ports in a throwaway folder and stopped when the test
// ends. A missing binary fails the test with instructions; it is never
// skipped.
package kubotest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/kubo"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// modulePath is the first line of the repository's go.mod.
const modulePath = "module github.com/ipfs-cluster-scylla/ipfs-cluster-scylla\n"

// Kubo is one running kubo daemon of a test.
type Kubo struct {
	*kubo.Daemon
}

// RepoRoot is the folder of the repository's go.mod, found from the
// test's working directory (its package folder) upwards.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte(modulePath)) {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("kubotest: the repository's go.mod is not above the working directory")
		}
		dir = up
	}
}

// Bin is the kubo binary the tests run: IPFS_BIN, or bin/ipfs of the
// repository.
func Bin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("IPFS_BIN")
	if bin == "" {
		bin = filepath.Join(RepoRoot(t), "bin", "ipfs")
	}
	if st, err := os.Stat(bin); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("kubotest: no kubo binary at %s: run `make kubo` (or set IPFS_BIN)", bin)
	}
	return bin
}

// Start starts an offline kubo daemon (a pin of content it lacks fails at
// once) and stops it when the test ends.
func Start(t testing.TB) *Kubo {
	t.Helper()
	g := &proc.Group{}
	var d *kubo.Daemon
	t.Cleanup(func() {
		if err := g.StopAll(20 * time.Second); err != nil {
			t.Errorf("stopping kubo: %s", err)
		}
		if t.Failed() && d != nil {
			t.Logf("the last lines of kubo's log (%s):\n%s", d.Dir, proc.Tail(d.Proc.LogPath, 20))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := kubo.StartOffline(ctx, g, Bin(t), t.TempDir())
	if err != nil {
		t.Fatalf("starting kubo: %s", err)
	}
	return &Kubo{Daemon: d}
}

// NodeAddr is the multiaddress of the RPC API, for ipfshttp.node_multiaddress.
func (k *Kubo) NodeAddr() ma.Multiaddr {
	return ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", k.APIPort))
}

// call POSTs to /api/v0/PATH with the query q and an optional file body,
// and returns the response body; a status other than 200 is an error.
func (k *Kubo) call(path string, q url.Values, file []byte) ([]byte, error) {
	var body bytes.Buffer
	ctype := ""
	if file != nil {
		mw := multipart.NewWriter(&body)
		fw, err := mw.CreateFormFile("file", "file")
		if err != nil {
			return nil, err
		}
		if _, err := fw.Write(file); err != nil {
			return nil, err
		}
		if err := mw.Close(); err != nil {
			return nil, err
		}
		ctype = mw.FormDataContentType()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := fmt.Sprintf("http://127.0.0.1:%d/api/v0/%s?%s", k.APIPort, path, q.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, &body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("kubo %s: %w", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("kubo %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("kubo %s: %s: %s", path, resp.Status, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// add runs `ipfs add` of data with the given options and returns the CID.
func (k *Kubo) add(t testing.TB, data []byte, q url.Values) api.Cid {
	t.Helper()
	out, err := k.call("add", q, data)
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Hash string }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("kubo add: %s: %q", err, out)
	}
	c, err := api.DecodeCid(res.Hash)
	if err != nil {
		t.Fatalf("kubo add: %s", err)
	}
	return c
}

// Add stores data in the daemon without pinning it (`ipfs add
// --pin=false`): a later pin finds the blocks.
func (k *Kubo) Add(t testing.TB, data []byte) api.Cid {
	t.Helper()
	return k.add(t, data, url.Values{"pin": {"false"}, "cid-version": {"0"}})
}

// HashOnly is the CID `ipfs add --only-hash` gives data: content the
// daemon does not hold.
func (k *Kubo) HashOnly(t testing.TB, data []byte) api.Cid {
	t.Helper()
	return k.add(t, data, url.Values{"only-hash": {"true"}, "pin": {"false"}, "cid-version": {"0"}})
}

// Pinned tells whether the daemon holds a recursive pin of c.
func (k *Kubo) Pinned(t testing.TB, c api.Cid) bool {
	t.Helper()
	out, err := k.call("pin/ls", url.Values{"arg": {c.String()}, "type": {"recursive"}}, nil)
	if err != nil {
		if strings.Contains(err.Error(), "is not pinned") {
			return false
		}
		t.Fatal(err)
	}
	return bytes.Contains(out, []byte(c.String()))
}

// Pin pins c recursively through the daemon's own API (`ipfs pin add`),
// as a user or an earlier process would, outside the cluster.
func (k *Kubo) Pin(t testing.TB, c api.Cid) {
	t.Helper()
	if _, err := k.call("pin/add", url.Values{"arg": {c.String()}}, nil); err != nil {
		t.Fatal(err)
	}
	if !k.Pinned(t, c) {
		t.Fatalf("kubo pin/add %s answered, yet the pin is not listed", c)
	}
}
