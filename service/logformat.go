package service

import (
	"os"

	logging "github.com/ipfs/go-log/v2"
)

// applyNoColor turns the colours of the log off when NO_COLOR is set
// (https://no-color.org) and neither GOLOG_LOG_FMT nor IPFS_LOGGING_FMT
// chooses a format. Without it, go-log colours its output only when
// stderr is a terminal.
func applyNoColor() {
	if os.Getenv("NO_COLOR") == "" || os.Getenv("GOLOG_LOG_FMT") != "" || os.Getenv("IPFS_LOGGING_FMT") != "" {
		return
	}
	cfg := logging.GetConfig()
	if cfg.Format != logging.ColorizedOutput {
		return
	}
	cfg.Format = logging.PlaintextOutput
	logging.SetupLogging(cfg)
}
