//go:build !scylla

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWithoutTagScyllaIsRefused(t *testing.T) {
	if _, err := NewHelper("/tmp/x/service.json", "/tmp/x/identity.json", "", "scylla"); !errors.Is(err, ErrNoScyllaSupport) {
		t.Fatalf("init --datastore scylla without the tag: want ErrNoScyllaSupport, got %v", err)
	}
	if !strings.Contains(ErrNoScyllaSupport.Error(), `"scylla" build tag`) {
		t.Fatalf("the error does not name the build tag: %s", ErrNoScyllaSupport)
	}
}

func TestWithoutTagScyllaConfigIsRefused(t *testing.T) {
	dir := writeInit(t, "crdt", "pebble")
	path := filepath.Join(dir, "service.json")
	raw, _ := os.ReadFile(path)
	withState := strings.Replace(string(raw), `"datastore": {`, `"state": {"scyllastate": {"keyspace": "pins"}}, "datastore": {`, 1)
	if err := os.WriteFile(path, []byte(withState), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := load(dir)
	if !errors.Is(err, ErrNoScyllaSupport) || !strings.Contains(err.Error(), "state.scyllastate") {
		t.Fatalf("a config with a scyllastate section, no tag: want ErrNoScyllaSupport naming the section, got %v", err)
	}
}
