package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

// ErrMigrationIncomplete is returned by Migrate when the verification
// finds pins of the source missing from the shared pinset, or different
// there.
var ErrMigrationIncomplete = errors.New("migration incomplete")

// MigrateProgress receives the progress of Migrate, phase by phase; the
// command line draws it on a terminal. Phases: "copy" (bytes of the
// source data copied), "read" (pins counted, total unknown), "write"
// (pins written) and "verify" (pins checked).
type MigrateProgress interface {
	// Phase starts a phase; total is 0 when unknown.
	Phase(name string, total int64)
	// Add advances the current phase by n.
	Add(n int64)
	// Done ends the current phase.
	Done()
}

type noProgress struct{}

func (noProgress) Phase(string, int64) {}
func (noProgress) Add(int64)           {}
func (noProgress) Done()               {}

// MigrateOptions tune Migrate.
type MigrateOptions struct {
	// WorkDir receives the temporary copy of the source data (default:
	// the system's temporary folder). It needs as much free space as
	// the source's datastore (crdt) or raft snapshots take.
	WorkDir string
	// Progress is told about each phase (nil: nothing is drawn).
	Progress MigrateProgress
}

// MigrateReport is what Migrate did.
type MigrateReport struct {
	// Source names the source: "crdt/pebble", "raft"...; SourceData the
	// folder that was copied and SourceBytes its size.
	Source      string
	SourceData  string
	SourceBytes int64
	// Target names the shared pinset: keyspace and hosts.
	Target string
	// Pins is how many pins the source holds; Written how many were
	// written to the shared pinset.
	Pins, Written int64
	// Present, Missing and Different count the verification of every
	// source pin in the shared pinset.
	Present, Missing, Different int64
	// Examples lists a few missing or different CIDs.
	Examples []string
	// TargetPins is how many pins the shared pinset holds at the end
	// (pins of other sources included); -1 if it could not be counted.
	TargetPins int64
}

// OK tells whether every source pin is in the shared pinset, equal.
func (r *MigrateReport) OK() bool {
	return r.Missing == 0 && r.Different == 0 && r.Present == r.Pins
}

// migrateTarget is the shared pinset a migration writes into.
type migrateTarget interface {
	state.ReadOnly
	// Add buffers a pin; Commit writes what is buffered.
	Add(ctx context.Context, pin api.Pin) error
	Commit(ctx context.Context) error
	// BatchSize is the number of pins written per batch; Concurrency
	// the number of reads in flight when verifying.
	BatchSize() int
	Concurrency() int
	// Describe names the pinset for messages.
	Describe() string
	Close() error
}

// Migrate copies the pinset of the stopped crdt or raft peer configured
// by src into the shared Scylla pinset configured by dst, then re-reads
// the source and checks every pin in the shared pinset.
//
// The source is never written: its data folder is copied to a temporary
// folder under opts.WorkDir and read there, and the copy is removed at
// the end. Pins are written as upserts in batches of the store's
// batch_size (1000 at most, so that the progress moves), so running
// Migrate again after an interruption finishes the job without
// duplicates. The error wraps ErrMigrationIncomplete when the
// verification finds missing or different pins; the report is filled as
// far as Migrate got.
func Migrate(ctx context.Context, src, dst *config.Helper, opts MigrateOptions) (*MigrateReport, error) {
	rep := &MigrateReport{TargetPins: -1}
	drawn := opts.Progress != nil
	if !drawn {
		opts.Progress = noProgress{}
	}
	if opts.WorkDir == "" {
		opts.WorkDir = os.TempDir()
	}
	if dst.Consensus() != config.Scylla {
		return rep, fmt.Errorf("%w: the configuration in %s uses the %s consensus: state migrate writes into the "+
			"shared Scylla pinset of the peer given with --config (init it with `init --datastore scylla`)",
			config.ErrBadCombination, filepath.Dir(dst.ConfigPath()), dst.Consensus())
	}
	if src.Consensus() != config.Crdt && src.Consensus() != config.Raft {
		return rep, fmt.Errorf("%w: the peer in %s (--from) uses the %s consensus: state migrate reads crdt or raft peers",
			config.ErrBadCombination, filepath.Dir(src.ConfigPath()), src.Consensus())
	}

	// The database first: no copying gigabytes to learn that it is down.
	target, err := newMigrateTarget(ctx, dst.Configs())
	if err != nil {
		return rep, fmt.Errorf("opening the shared pinset: %w", err)
	}
	defer target.Close()
	rep.Target = target.Describe()

	source, err := openSource(ctx, src, opts.WorkDir, opts.Progress)
	if err != nil {
		return rep, err
	}
	defer func() {
		if err := source.Close(); err != nil {
			logger.Warnf("closing the copy of the source: %s", err)
		}
	}()
	rep.Source, rep.SourceData, rep.SourceBytes = source.Describe, source.Data, source.Bytes

	m := &migration{source: source, target: target, rep: rep, p: opts.Progress, logf: logger.Infof}
	if drawn {
		m.logf = logger.Debugf // the progress is on the terminal
	}
	if err := m.count(ctx); err != nil {
		return rep, err
	}
	if err := m.write(ctx); err != nil {
		return rep, err
	}
	if err := m.verify(ctx); err != nil {
		return rep, err
	}
	if n, err := countPins(ctx, target); err == nil {
		rep.TargetPins = n
	} else {
		logger.Warnf("counting the pins of %s: %s", rep.Target, err)
	}
	if !rep.OK() {
		return rep, fmt.Errorf("%w: %d of %d pins of the source are missing from %s and %d differ there: "+
			"run the same command again to finish", ErrMigrationIncomplete, rep.Missing, rep.Pins, rep.Target, rep.Different)
	}
	return rep, nil
}

// forEachPin calls fn for every pin of st, stopping at the first error.
func forEachPin(ctx context.Context, st state.ReadOnly, fn func(api.Pin) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make(chan api.Pin, 1024)
	errCh := make(chan error, 1)
	go func() { errCh <- st.List(ctx, out) }()
	var fnErr error
	for pin := range out { // List closes out when it ends
		if fnErr != nil {
			continue
		}
		if fnErr = fn(pin); fnErr != nil {
			cancel()
		}
	}
	listErr := <-errCh
	if fnErr != nil {
		return fnErr
	}
	if listErr == nil {
		listErr = ctx.Err()
	}
	return listErr
}

func countPins(ctx context.Context, st state.ReadOnly) (int64, error) {
	var n int64
	err := forEachPin(ctx, st, func(api.Pin) error { n++; return nil })
	return n, err
}

// progressChunk bounds the pins written per commit, for the progress.
const progressChunk = 1000

// migration is one run of Migrate.
type migration struct {
	source *sourceState
	target migrateTarget
	rep    *MigrateReport
	p      MigrateProgress
	// logf logs the progress (batch by batch) unless p draws it.
	logf func(string, ...any)
}

func (m *migration) count(ctx context.Context) error {
	source, rep, p := m.source, m.rep, m.p
	p.Phase("read", 0)
	err := forEachPin(ctx, source, func(api.Pin) error { rep.Pins++; p.Add(1); return nil })
	p.Done()
	if err != nil {
		return fmt.Errorf("reading the %s state: %w", source.Describe, err)
	}
	logger.Infof("the %s state holds %d pins", source.Describe, rep.Pins)
	return nil
}

// writePins writes every source pin, committing every batch_size pins.
func (m *migration) write(ctx context.Context) error {
	source, target, rep, p := m.source, m.target, m.rep, m.p
	// Commit at most batch_size pins at a time, and at most
	// progressChunk so that the progress moves.
	size := int64(min(max(target.BatchSize(), 1), progressChunk))
	var buffered int64
	commit := func() error {
		if err := target.Commit(ctx); err != nil {
			return err
		}
		rep.Written += buffered
		p.Add(buffered)
		buffered = 0
		m.logf("migrate: %d of %d pins written to %s", rep.Written, rep.Pins, rep.Target)
		return nil
	}
	p.Phase("write", rep.Pins)
	err := forEachPin(ctx, source, func(pin api.Pin) error {
		if err := target.Add(ctx, pin); err != nil {
			return fmt.Errorf("writing pin %s: %w", pin.Cid, err)
		}
		if buffered++; buffered >= size {
			return commit()
		}
		return nil
	})
	if err == nil && buffered > 0 {
		err = commit()
	}
	p.Done()
	if err != nil {
		return fmt.Errorf("writing to %s stopped after %d of %d pins (run the same command again to finish: "+
			"pins are upserts): %w", rep.Target, rep.Written, rep.Pins, err)
	}
	return nil
}

// verifyPins re-reads the source and gets every pin from the target.
func (m *migration) verify(ctx context.Context) error {
	source, target, rep, p := m.source, m.target, m.rep, m.p
	var present, missing, different, checked atomic.Int64
	var mu sync.Mutex
	example := func(what string, c api.Cid) {
		mu.Lock()
		defer mu.Unlock()
		if len(rep.Examples) < 10 {
			rep.Examples = append(rep.Examples, what+" "+c.String())
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pins := make(chan api.Pin)
	errCh := make(chan error, 1)
	var wg sync.WaitGroup
	for range max(target.Concurrency(), 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for want := range pins {
				got, err := target.Get(ctx, want.Cid)
				switch {
				case errors.Is(err, state.ErrNotFound):
					missing.Add(1)
					example("missing", want.Cid)
				case err != nil:
					select {
					case errCh <- fmt.Errorf("reading pin %s back: %w", want.Cid, err):
					default:
					}
					cancel()
				case samePin(want, got):
					present.Add(1)
				default:
					different.Add(1)
					example("different", want.Cid)
				}
				p.Add(1)
				if n := checked.Add(1); n%int64(min(max(target.BatchSize(), 1), progressChunk)) == 0 {
					m.logf("migrate: %d of %d pins verified", n, rep.Pins)
				}
			}
		}()
	}
	p.Phase("verify", rep.Pins)
	err := forEachPin(ctx, source, func(pin api.Pin) error {
		select {
		case pins <- pin:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(pins)
	wg.Wait()
	p.Done()
	rep.Present, rep.Missing, rep.Different = present.Load(), missing.Load(), different.Load()
	select {
	case werr := <-errCh:
		err = werr
	default:
	}
	if err != nil {
		return fmt.Errorf("verifying the migration: %w", err)
	}
	logger.Infof("migrate: %d pins verified: %d present and equal, %d missing, %d different",
		checked.Load(), rep.Present, rep.Missing, rep.Different)
	return nil
}

// samePin compares two pins in every field that the source state keeps:
// upstream's Pin.Equals (both ways: it reads metadata one way only), plus
// the timestamp and the pin update that Equals ignores.
func samePin(a, b api.Pin) bool {
	return a.Equals(b) && b.Equals(a) &&
		a.Timestamp.Equal(b.Timestamp) &&
		a.PinUpdate.Equals(b.PinUpdate)
}
