package scylla

import (
	"fmt"

	"github.com/ipfs-cluster/ipfs-cluster/observations"
	"go.opencensus.io/stats"
	"go.opencensus.io/stats/view"
)

// storedPinErrors is the measure behind upstream's gauge
// ipfscluster_pins_pin_error on a peer whose tracker wrapper keeps the
// errors in the database: the pin errors stored and those the last sweep
// could not store (see storedErrors.report).
var storedPinErrors = stats.Int64("scylla/pins/pin_error", observations.PinsPinError.Description(), stats.UnitDimensionless)

// pinErrorView exports storedPinErrors under upstream's name.
var pinErrorView = &view.View{
	Name:        observations.PinsPinError.Name(),
	Description: observations.PinsPinError.Description(),
	Measure:     storedPinErrors,
	Aggregation: view.LastValue(),
}

// UseStoredPinErrorGauge makes the gauge ipfscluster_pins_pin_error
// count the pin errors the tracker wrapper keeps (see WrapTracker). Call
// it after upstream's observations.SetupMetrics, when metrics are on.
//
// Upstream's operation tracker records the same gauge, with the errors
// in its memory only, whenever an operation enters or leaves the error
// phase; the wrapper moves failed operations to the database, so that
// count is a handful. Both writing one last-value gauge, a scrape read
// whichever came last: the gauge flipped between the stored count and a
// few. Upstream's view is replaced by one of the wrapper's measure with
// the same name, so upstream's records go nowhere. The views are global
// to the process: every peer of a process reports the wrapper's count.
func UseStoredPinErrorGauge() error {
	view.Unregister(observations.PinsPinErrorView)
	if err := view.Register(pinErrorView); err != nil {
		return fmt.Errorf("replacing the view of %s: %w", observations.PinsPinError.Name(), err)
	}
	return nil
}
