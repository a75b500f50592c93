package config

import (
	"os"
	"testing"
	"time"

	uconfig "github.com/ipfs-cluster/ipfs-cluster/config"
)

// TestMain shortens upstream's config save interval: every Manager
// Shutdown waits for one tick of it (1s by default).
func TestMain(m *testing.M) {
	uconfig.ConfigSaveInterval = 10 * time.Millisecond
	os.Exit(m.Run())
}
