// Package configtest writes configuration folders for tests. The daemon's
// `init` command is the one way a user writes a new folder; tests that
// need one with chosen settings use WriteNew.
package configtest

import (
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/config"
)

// WriteNew writes a new configuration folder at the paths of h: every
// section at its defaults, changed by mod (when not nil), and a new
// identity.
func WriteNew(h *config.Helper, mod func(*config.Configs)) error {
	if err := h.Manager().Default(); err != nil {
		return err
	}
	if mod != nil {
		mod(h.Configs())
	}
	if err := h.Identity().Default(); err != nil {
		return err
	}
	if err := h.SaveConfigToDisk(); err != nil {
		return err
	}
	return h.SaveIdentityToDisk()
}
