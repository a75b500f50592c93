package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/test"
)

func TestAllocatedPinsetSpreadsEveryPinOverRFPeers(t *testing.T) {
	var ids []string
	for range 4 {
		id, err := test.RandPeerID()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id.String())
	}
	path := filepath.Join(t.TempDir(), "p.ndjson")
	if err := writeAllocatedPinset(path, "s", 8, 2, ids); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	held := map[libp2ppeer.ID]int{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var p api.Pin
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p.ReplicationFactorMin != 2 || p.ReplicationFactorMax != 2 || len(p.Allocations) != 2 || p.Allocations[0] == p.Allocations[1] {
			t.Fatalf("pin %d: rf %d/%d, allocations %v; want 2 distinct peers at rf 2", n, p.ReplicationFactorMin, p.ReplicationFactorMax, p.Allocations)
		}
		for _, a := range p.Allocations {
			held[a]++
		}
		n++
	}
	if n != 8 {
		t.Fatalf("%d pins, want 8", n)
	}
	for _, id := range ids {
		pid, _ := libp2ppeer.Decode(id)
		if held[pid] != 4 {
			t.Errorf("peer %s holds %d pins, want 4 (16 copies over 4 peers)", id, held[pid])
		}
	}
	if err := writeAllocatedPinset(path, "s", 1, 5, ids); err == nil {
		t.Error("replication 5 over 4 peers was accepted")
	}
}

func TestOutsidePeerIsANewValidPeer(t *testing.T) {
	a, err := outsidePeer()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := outsidePeer()
	if _, err := libp2ppeer.Decode(a); err != nil || a == b {
		t.Errorf("outsidePeer gave %q and %q (decode error %v): want two distinct valid IDs", a, b, err)
	}
}
