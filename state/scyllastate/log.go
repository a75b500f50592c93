package scyllastate

import logging "github.com/ipfs/go-log/v2"

// logger is the package's log, named "scyllastate" (e.g. GOLOG_LOG_LEVEL="scyllastate=debug");
// every file of the package logs through it.
var logger = logging.Logger("scyllastate")
