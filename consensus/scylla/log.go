package scylla

import logging "github.com/ipfs/go-log/v2"

// logger is the package's log, named "scyllaconsensus" (e.g. GOLOG_LOG_LEVEL="scyllaconsensus=debug");
// every file of the package logs through it.
var logger = logging.Logger("scyllaconsensus")
