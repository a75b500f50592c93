package pinset

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// The CIDs of the recorded runs (bench/results/failing-pins.md) must stay
// the same, or the figures are no longer comparable; the expected values
// were computed apart (Python: hashlib, base32).
func TestCIDIsTheOneOfTheRecordedRuns(t *testing.T) {
	for _, c := range []struct {
		series string
		i      int
		want   string
	}{
		{"scylla-50", 0, "bafkreid54v4o65xcjfdai63rii64ib7u6d743tkdpahauywkncyc66lsdq"},
		{"scylla-100000", 99999, "bafkreibxkudrswta3rbgtjke7g7tlmhwhiy6tb24huqe7djbo2vwrpyzya"},
	} {
		if got := CID(c.series, c.i).String(); got != c.want {
			t.Errorf("CID(%s, %d) = %s, want %s", c.series, c.i, got, c.want)
		}
	}
}

func TestWriteNDJSONWritesNPinsStateImportReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pins.ndjson")
	if err := WriteNDJSON(path, "s", 3); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc, i := bufio.NewScanner(f), 0
	for ; sc.Scan(); i++ {
		var p api.Pin
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if !p.Cid.Equals(api.NewCid(CID("s", i))) || p.ReplicationFactorMin != -1 || !p.Timestamp.Equal(Timestamp) {
			t.Fatalf("line %d: %+v", i+1, p)
		}
	}
	if i != 3 {
		t.Fatalf("%d pins, want 3", i)
	}
}
