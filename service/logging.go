package service

import (
	"fmt"
	"strings"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	logging "github.com/ipfs/go-log/v2"
)

// DefaultLogLevel is the level of every facility unless told otherwise.
const DefaultLogLevel = "info"

func init() {
	// Our components log under these names; --loglevel sets them with
	// upstream's.
	ipfscluster.LoggingFacilities["scyllastate"] = "INFO"
	ipfscluster.LoggingFacilities["scyllaconsensus"] = "INFO"
	ipfscluster.LoggingFacilities["service"] = "INFO"
}

// SetupLogLevel applies --debug and --loglevel: "level" for every
// facility, or "facility:level,..." per facility, as upstream. It also
// honours NO_COLOR.
func SetupLogLevel(debug bool, spec string) error {
	applyNoColor()
	if debug {
		ipfscluster.SetFacilityLogLevel("*", "DEBUG")
		return nil
	}
	all := DefaultLogLevel
	perFacility := map[string]string{}
	for _, item := range strings.Split(spec, ",") {
		if item == "" {
			continue
		}
		parts := strings.Split(item, ":")
		switch len(parts) {
		case 1:
			all = parts[0]
		case 2:
			perFacility[parts[0]] = parts[1]
		default:
			return fmt.Errorf("--loglevel %q: use \"level\" or \"facility:level,...\"", spec)
		}
	}
	if _, err := logging.LevelFromString(all); err != nil {
		return fmt.Errorf("--loglevel: %q is not a log level (debug, info, warn, error): %w", all, err)
	}
	// Facilities not named get the overall level (the extra ones their
	// own default); some exist only in some builds, so errors are ignored.
	for f := range ipfscluster.LoggingFacilities {
		if _, ok := perFacility[f]; !ok {
			ipfscluster.SetFacilityLogLevel(f, all)
		}
	}
	for f, lvl := range ipfscluster.LoggingFacilitiesExtra {
		if _, ok := perFacility[f]; !ok {
			ipfscluster.SetFacilityLogLevel(f, lvl)
		}
	}
	for f, lvl := range perFacility {
		if err := logging.SetLogLevel(f, lvl); err != nil {
			return fmt.Errorf("--loglevel %s:%s: %w", f, lvl, err)
		}
	}
	return nil
}
