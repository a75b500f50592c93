package config

import (
	"encoding/json"
	"fmt"
	"os"
)

// ScyllaStateKey is the key of the scyllastate section under "state"
// (scyllastate.ConfigKey, repeated here so that builds without the tag
// can name it).
const ScyllaStateKey = "scyllastate"

// checkScyllaSections refuses, in a build without the scylla tag, a
// service.json holding the Scylla sections: upstream's manager would
// ignore them and the peer would run with another consensus.
func checkScyllaSections(path string) error {
	if scyllaSupported {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil // the manager reports a missing or unreadable file
	}
	var sections struct {
		Consensus map[string]json.RawMessage `json:"consensus"`
		State     map[string]json.RawMessage `json:"state"`
	}
	if json.Unmarshal(raw, &sections) != nil {
		return nil // the manager reports bad JSON
	}
	if _, ok := sections.Consensus[Scylla]; ok {
		return fmt.Errorf("%s has a consensus.%s section: %w", path, Scylla, ErrNoScyllaSupport)
	}
	if _, ok := sections.State[ScyllaStateKey]; ok {
		return fmt.Errorf("%s has a state.%s section: %w", path, ScyllaStateKey, ErrNoScyllaSupport)
	}
	return nil
}
