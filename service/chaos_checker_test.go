//go:build scylla && integration && faults

package service_test

// The chaos test's checker on histories written by hand: it needs no
// database, and shows that the check can fail.

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func TestChaosChecker(t *testing.T) {
	s := time.Second
	op := func(key int, kind string, call, ret time.Duration, out chaosOutcome) chaosOp {
		return chaosOp{Key: key, Kind: kind, Call: call, Return: ret, Outcome: out, Peer: "p", Cid: "c"}
	}
	read := func(key int, pinned bool) chaosOp {
		o := op(key, opRead, 100*s, 101*s, outcomeOK)
		o.Pinned = pinned
		return o
	}
	cases := []struct {
		name string
		ops  []chaosOp
		want porcupine.CheckResult
	}{
		{"an acknowledged unpin that followed a pin is lost", []chaosOp{
			op(0, opPin, 0, 1*s, outcomeOK), op(0, opUnpin, 2*s, 3*s, outcomeOK), read(0, true),
		}, porcupine.Illegal},
		{"the unpin won", []chaosOp{
			op(0, opPin, 0, 1*s, outcomeOK), op(0, opUnpin, 2*s, 3*s, outcomeOK), read(0, false),
		}, porcupine.Ok},
		{"an acknowledged pin is lost", []chaosOp{
			op(0, opUnpin, 0, 1*s, outcomeOK), op(0, opPin, 2*s, 3*s, outcomeOK), read(0, false),
		}, porcupine.Illegal},
		{"an unpin of unknown outcome may have happened", []chaosOp{
			op(0, opPin, 0, 1*s, outcomeOK), op(0, opUnpin, 2*s, 3*s, outcomeUnknown), read(0, false),
		}, porcupine.Ok},
		{"or not", []chaosOp{
			op(0, opPin, 0, 1*s, outcomeOK), op(0, opUnpin, 2*s, 3*s, outcomeUnknown), read(0, true),
		}, porcupine.Ok},
		{"an operation of unknown outcome may take effect late", []chaosOp{
			op(0, opPin, 0, 1*s, outcomeUnknown), op(0, opUnpin, 2*s, 3*s, outcomeOK), read(0, true),
		}, porcupine.Ok},
		{"a failed unpin did not happen", []chaosOp{
			op(0, opPin, 0, 1*s, outcomeOK), op(0, opUnpin, 2*s, 3*s, outcomeFailed), read(0, false),
		}, porcupine.Illegal},
		{"a failed pin did not happen", []chaosOp{
			op(0, opPin, 0, 1*s, outcomeFailed), read(0, true),
		}, porcupine.Illegal},
		{"concurrent changes: either may win", []chaosOp{
			op(0, opPin, 0, 3*s, outcomeOK), op(0, opUnpin, 1*s, 2*s, outcomeOK), read(0, true),
		}, porcupine.Ok},
		{"concurrent changes: either may win (2)", []chaosOp{
			op(0, opPin, 0, 3*s, outcomeOK), op(0, opUnpin, 1*s, 2*s, outcomeOK), read(0, false),
		}, porcupine.Ok},
		{"nothing pinned", []chaosOp{read(0, false)}, porcupine.Ok},
		{"CIDs are independent", []chaosOp{
			op(0, opPin, 0, 1*s, outcomeOK), op(1, opUnpin, 2*s, 3*s, outcomeOK), read(0, true), read(1, false),
		}, porcupine.Ok},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range c.ops {
				c.ops[i].ID, c.ops[i].Process = i, i
			}
			l := checkLinearizable(c.ops, 10*time.Second)
			if l.result != c.want {
				t.Fatalf("got %s, want %s", l.result, c.want)
			}
			if c.want == porcupine.Illegal && (len(l.illegal) != 1 || l.illegal[0] != 0) {
				t.Errorf("illegal keys %v, want [0]", l.illegal)
			}
		})
	}

	// The visualization of a failure is written, with the faults.
	ops := []chaosOp{op(0, opPin, 0, 1*s, outcomeOK), op(0, opUnpin, 2*s, 3*s, outcomeOK), read(0, true)}
	for i := range ops {
		ops[i].ID, ops[i].Process = i, i
	}
	l := checkLinearizable(ops, 10*time.Second)
	path := filepath.Join(t.TempDir(), "v.html")
	faults := []faultRecord{{Lane: "db", Kind: "pause-node", Target: "1", At: 1500 * time.Millisecond, Held: time.Second}}
	if err := writeVisualization(l, faults, path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("no visualization: %v", err)
	}
}
