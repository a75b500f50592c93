package scylla

import (
	"context"
	"testing"

	"github.com/ipfs-cluster/ipfs-cluster/observations"
	"go.opencensus.io/stats"
	"go.opencensus.io/stats/view"
)

// gaugeValue is the last value of the view named pins/pin_error, as the
// Prometheus exporter reads it.
func gaugeValue(t *testing.T) float64 {
	t.Helper()
	rows, err := view.RetrieveData(observations.PinsPinError.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("pins/pin_error has %d rows, want 1", len(rows))
	}
	return rows[0].Data.(*view.LastValueData).Value
}

// Once the stored count is in use, upstream's tracker's own records (the
// few errors in its memory) no longer reach ipfscluster_pins_pin_error:
// the gauge keeps the stored count instead of flipping between the two.
func TestPinErrorGaugeCountsStoredErrorsOnly(t *testing.T) {
	// As upstream's observations.SetupMetrics does.
	if err := view.Register(observations.PinsPinErrorView); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		view.Unregister(observations.PinsPinErrorView)
		view.Unregister(pinErrorView)
	})
	if err := UseStoredPinErrorGauge(); err != nil {
		t.Fatal(err)
	}
	if err := UseStoredPinErrorGauge(); err != nil {
		t.Fatalf("a second peer of the process: %s", err)
	}

	ctx := context.Background()
	s := &storedErrors{ctx: ctx}
	s.recorded.Store(100000)
	s.unrecorded.Store(3)
	s.report()
	// Upstream's tracker forgets an operation the sweep stored: it
	// records the errors left in its memory.
	stats.Record(ctx, observations.PinsPinError.M(2))
	if got := gaugeValue(t); got != 100003 {
		t.Fatalf("pins_pin_error is %v after upstream's tracker recorded its 2, want the stored 100000 + 3 not stored", got)
	}
	s.countPinErrors(-1)
	s.report()
	stats.Record(ctx, observations.PinsPinError.M(0))
	if got := gaugeValue(t); got != 100002 {
		t.Fatalf("pins_pin_error is %v, want 100002", got)
	}
}
