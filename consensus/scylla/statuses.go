package scylla

import "github.com/ipfs-cluster/ipfs-cluster/api"

// The statuses of upstream's tracker by which the wrapper tells its
// operations apart.
const (
	// errorStatuses are those of failed operations.
	errorStatuses = api.TrackerStatusPinError | api.TrackerStatusUnpinError
	// pinsetStatuses are those upstream's StatusAll reads the pinset for.
	pinsetStatuses = api.TrackerStatusPinned | api.TrackerStatusUnexpectedlyUnpinned |
		api.TrackerStatusSharded | api.TrackerStatusRemote
	// opStatuses are the statuses of operations in upstream's tracker.
	opStatuses = errorStatuses | api.TrackerStatusPinQueued | api.TrackerStatusUnpinQueued |
		api.TrackerStatusPinning | api.TrackerStatusUnpinning
)
