//go:build scylla && integration && faults

package service_test

// The history of a chaos run and its linearizability check: every
// operation a client invoked, with its outcome, checked per CID as a
// register (pinned or not) with porcupine.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// chaosOutcome is what a client learnt of an operation.
type chaosOutcome string

const (
	// outcomeOK: acknowledged (HTTP 200).
	outcomeOK chaosOutcome = "ok"
	// outcomeFailed: it certainly did not happen (HTTP 4xx, or the
	// connection was refused: nothing was sent).
	outcomeFailed chaosOutcome = "failed"
	// outcomeUnknown: it may or may not have happened, now or later
	// (timeout, HTTP 5xx, connection lost after the request was sent).
	outcomeUnknown chaosOutcome = "unknown"
)

// Operation kinds.
const (
	opPin   = "pin"
	opUnpin = "unpin"
	opRead  = "read"
)

// chaosOp is one operation of the history. Times are from the start of
// the run, on this process's monotonic clock (the skewed clocks are only
// the writers' in the store).
type chaosOp struct {
	ID int `json:"id"`
	// Process is porcupine's client: a client takes a new one after an
	// operation of unknown outcome, which may still be in flight, so that
	// the operations of one process never overlap (as Jepsen does).
	Process int           `json:"process"`
	Client  int           `json:"client"`
	Peer    string        `json:"peer"`
	Kind    string        `json:"op"`
	Key     int           `json:"key"`
	Cid     string        `json:"cid"`
	Call    time.Duration `json:"call_ns"`
	Return  time.Duration `json:"return_ns"`
	Outcome chaosOutcome  `json:"outcome"`
	// Pinned is the value a read returned.
	Pinned bool `json:"pinned,omitempty"`
	// Detail is the HTTP status or the error.
	Detail string `json:"detail,omitempty"`
}

func (o chaosOp) String() string {
	s := fmt.Sprintf("#%d %8.3fs..%8.3fs client %d (process %d) via %s: %s %s", o.ID, o.Call.Seconds(), o.Return.Seconds(), o.Client, o.Process, o.Peer, o.Kind, o.Cid)
	if o.Kind == opRead {
		s += fmt.Sprintf(" -> pinned=%t", o.Pinned)
	}
	s += " => " + string(o.Outcome)
	if o.Detail != "" {
		s += " (" + o.Detail + ")"
	}
	return s
}

// chaosHistory records operations from many goroutines.
type chaosHistory struct {
	start time.Time

	mu      sync.Mutex
	ops     []chaosOp
	nextID  int
	nextPID int
}

func newChaosHistory(start time.Time) *chaosHistory { return &chaosHistory{start: start} }

func (h *chaosHistory) now() time.Duration { return time.Since(h.start) }

// newProcess returns a fresh porcupine process ID.
func (h *chaosHistory) newProcess() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextPID++
	return h.nextPID - 1
}

// add records a completed operation and returns it with its ID.
func (h *chaosHistory) add(op chaosOp) chaosOp {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.ID = h.nextID
	h.nextID++
	h.ops = append(h.ops, op)
	return op
}

// snapshot returns the operations by call time.
func (h *chaosHistory) snapshot() []chaosOp {
	h.mu.Lock()
	defer h.mu.Unlock()
	ops := append([]chaosOp(nil), h.ops...)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	return ops
}

// counts returns the operations by kind and outcome, e.g. "pin/ok".
func countOps(ops []chaosOp) map[string]int {
	n := map[string]int{}
	for _, o := range ops {
		n[o.Kind+"/"+string(o.Outcome)]++
		n[string(o.Outcome)]++
	}
	return n
}

// regInput is the input of one operation for the register model.
type regInput struct {
	Key     int
	Kind    string
	Unknown bool
	Op      chaosOp
}

// registerModel is one register per CID: pinned or not, initially not.
// A pin sets it, an unpin clears it, a read returns it. Unpinning an
// unpinned CID is refused by the API (404: a definite failure, dropped),
// so every acknowledged unpin is a write of "unpinned"; the model does
// not need its precondition (dropping it only allows more histories).
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[int][]porcupine.Operation{}
		var keys []int
		for _, op := range history {
			k := op.Input.(regInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Ints(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return false },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		switch in.Kind {
		case opPin:
			return true, true
		case opUnpin:
			return true, false
		default: // read
			return output.(bool) == state.(bool), state
		}
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		s := in.Kind + " " + in.Op.Cid
		if in.Kind == opRead {
			s += fmt.Sprintf(" -> %s", pinnedWord(output.(bool)))
		}
		if in.Unknown {
			s += " (outcome unknown: " + in.Op.Detail + ")"
		}
		return s + " via " + in.Op.Peer
	},
	DescribeState: func(state any) string { return pinnedWord(state.(bool)) },
	DescribeOperationMetadata: func(info any) string {
		if info == nil {
			return ""
		}
		return info.(chaosOp).String()
	},
}

func pinnedWord(b bool) string {
	if b {
		return "pinned"
	}
	return "unpinned"
}

// porcupineOps turns the history into porcupine's operations: definite
// failures are dropped; operations of unknown outcome never return (they
// may take effect at any time after their call, or never).
func porcupineOps(ops []chaosOp) []porcupine.Operation {
	var out []porcupine.Operation
	for _, o := range ops {
		if o.Outcome == outcomeFailed {
			continue
		}
		ret := int64(o.Return)
		if o.Outcome == outcomeUnknown {
			ret = math.MaxInt64
		}
		out = append(out, porcupine.Operation{
			ClientId: o.Process,
			Input:    regInput{Key: o.Key, Kind: o.Kind, Unknown: o.Outcome == outcomeUnknown, Op: o},
			Call:     int64(o.Call),
			Output:   o.Pinned,
			Return:   ret,
			Metadata: o,
		})
	}
	return out
}

// linearizability is the verdict of the check.
type linearizability struct {
	result  porcupine.CheckResult
	info    porcupine.LinearizationInfo
	illegal []int // keys whose history is not linearizable
	checked int   // keys checked
	took    time.Duration
}

// checkLinearizable checks every CID's history. timeout bounds the
// whole search (porcupine answers Unknown when it runs out).
func checkLinearizable(ops []chaosOp, timeout time.Duration) linearizability {
	start := time.Now()
	pops := porcupineOps(ops)
	res, info := porcupine.CheckOperationsVerbose(registerModel, pops, timeout)
	l := linearizability{result: res, info: info, checked: len(registerModel.Partition(pops))}
	if res == porcupine.Illegal {
		// Name the keys: each partition again, alone (the failing ones
		// fail fast).
		for _, part := range registerModel.Partition(pops) {
			if porcupine.CheckOperationsTimeout(registerModel, part, timeout) == porcupine.Illegal {
				l.illegal = append(l.illegal, part[0].Input.(regInput).Key)
			}
		}
	}
	l.took = time.Since(start)
	return l
}

// keyHistory prints the operations of one key, failures included.
func keyHistory(ops []chaosOp, key int) string {
	var b strings.Builder
	for _, o := range ops {
		if o.Key == key {
			b.WriteString("    " + o.String() + "\n")
		}
	}
	return b.String()
}

// writeVisualization writes porcupine's HTML view of the check, with the
// faults as annotations, to path.
func writeVisualization(l linearizability, faults []faultRecord, path string) error {
	var ann []porcupine.Annotation
	for _, f := range faults {
		end := f.At + f.Held
		ann = append(ann, porcupine.Annotation{
			Tag:             "nemesis " + f.Lane,
			Start:           int64(f.At),
			End:             int64(end),
			Description:     f.Kind + " " + f.Target,
			Details:         f.String(),
			BackgroundColor: "#f6d3d3",
		})
	}
	l.info.AddAnnotations(ann)
	return porcupine.VisualizePath(registerModel, l.info, path)
}

// writeJSON writes v, indented, to path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
