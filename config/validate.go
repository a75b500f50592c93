package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-multierror"
	uconfig "github.com/ipfs-cluster/ipfs-cluster/config"
)

// sectionNames are the service.json keys of upstream's section types.
var sectionNames = map[uconfig.SectionType]string{
	uconfig.Cluster:      "cluster",
	uconfig.Consensus:    "consensus",
	uconfig.API:          "api",
	uconfig.IPFSConn:     "ipfs_connector",
	uconfig.State:        "state",
	uconfig.PinTracker:   "pin_tracker",
	uconfig.Monitor:      "monitor",
	uconfig.Allocator:    "allocator",
	uconfig.Informer:     "informer",
	uconfig.Observations: "observations",
	uconfig.Datastore:    "datastore",
}

// registered is a component as the helper registered it with the
// manager, and where it lives in service.json.
type registered struct {
	path string // e.g. "state.scyllastate"
	cfg  uconfig.ComponentConfig
}

// deferredConfig is what the helper hands to upstream's manager. The
// manager validates the sections one after the other and stops at the
// first bad one; while the helper loads a file, this wrapper lets every
// section pass, and validateAll then reports the errors of all of them at
// once. Everything else goes to the component itself.
type deferredConfig struct {
	uconfig.ComponentConfig
	loading *atomic.Bool
}

// Validate validates the component, except while the helper loads.
func (d deferredConfig) Validate() error {
	if d.loading.Load() {
		return nil
	}
	return d.ComponentConfig.Validate()
}

// registerComponent registers c with the manager under section t.
func (h *Helper) registerComponent(t uconfig.SectionType, c uconfig.ComponentConfig) {
	path := sectionNames[t]
	if t != uconfig.Cluster {
		path += "." + c.ConfigKey()
	}
	h.components = append(h.components, registered{path: path, cfg: c})
	h.manager.RegisterComponent(t, deferredConfig{ComponentConfig: c, loading: &h.loading})
}

// ErrInvalidConfig is wrapped by the error of NewLoadedHelper that lists
// the invalid values of every section.
var ErrInvalidConfig = errors.New("invalid configuration")

// validateAll validates every registered component and returns one error
// listing every problem of every section, or nil. The errors of each
// component stay in the chain (errors.Is finds their sentinels).
func (h *Helper) validateAll() error {
	var errs []error
	for _, r := range h.components {
		errs = appendErrors(errs, r.path, r.cfg.Validate())
	}
	return h.listErrors(errs)
}

// diagnose runs when the manager could not load the file: it loads and
// validates every section on its own, to list the problems of all of
// them (the manager stops at the first section whose LoadJSON fails). It
// returns nil when it finds none (the file is not JSON, say): the
// manager's error then stands.
func (h *Helper) diagnose() error {
	raw, err := os.ReadFile(h.configPath)
	if err != nil {
		return nil
	}
	var file map[string]json.RawMessage
	if json.Unmarshal(raw, &file) != nil || file["source"] != nil {
		return nil
	}
	var errs []error
	for _, r := range h.components {
		sec, key, nested := strings.Cut(r.path, ".")
		section := file[sec]
		if nested {
			var m map[string]json.RawMessage
			_ = json.Unmarshal(section, &m)
			section = m[key]
		}
		r.cfg.SetBaseDir(filepath.Dir(h.configPath))
		if len(section) == 0 || string(section) == "null" {
			err = r.cfg.Default()
		} else {
			err = r.cfg.LoadJSON(section)
		}
		if err == nil {
			err = r.cfg.ApplyEnvVars()
		}
		if err == nil {
			err = r.cfg.Validate()
		}
		errs = appendErrors(errs, r.path, err)
	}
	return h.listErrors(errs)
}

// appendErrors adds the error of the component at path, one entry per
// error when it holds several.
func appendErrors(errs []error, path string, err error) []error {
	if err == nil {
		return errs
	}
	var merr *multierror.Error
	if errors.As(err, &merr) {
		for _, e := range merr.Errors {
			errs = append(errs, inSection(path, e))
		}
		return errs
	}
	return append(errs, inSection(path, err))
}

// listErrors returns one error listing errs, one per line, or nil.
func (h *Helper) listErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	where := h.configPath
	if envOverrides() {
		where += " (with the CLUSTER_* environment overrides)"
	}
	merr := &multierror.Error{Errors: errs, ErrorFormat: func(errs []error) string {
		lines := make([]string, len(errs))
		for i, err := range errs {
			lines[i] = "  - " + err.Error()
		}
		noun := "error"
		if len(errs) > 1 {
			noun = "errors"
		}
		return fmt.Sprintf("%s: %d configuration %s:\n%s", where, len(errs), noun, strings.Join(lines, "\n"))
	}}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, merr)
}

// inSection names the section of an error unless its text already does
// (ours name "scyllastate.<field>" or "consensus.scylla.<field>").
func inSection(path string, err error) error {
	key := path[strings.LastIndex(path, ".")+1:]
	if strings.Contains(err.Error(), key+".") {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// envOverrides tells whether a CLUSTER_* variable is set.
func envOverrides() bool {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CLUSTER_") {
			return true
		}
	}
	return false
}
