//go:build scylla

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The argument errors are reported before the configuration is read: the
// folder here has none.
func TestScyllaEventPartitionsArgumentErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"0"}, "N is 0: the change feed takes 1 to 128 partitions per minute"},
		{[]string{"129"}, "N is 129: the change feed takes 1 to 128 partitions per minute"},
		{[]string{"--", "-3"}, "N is -3: the change feed takes 1 to 128"},
		{[]string{"eight"}, `N "eight" is not a whole number: give the partitions per minute, 1 to 128`},
		{[]string{"8.5"}, `N "8.5" is not a whole number`},
		{[]string{"8", "16"}, "too many arguments (8 16): give at most one, N"},
		{[]string{"--from-config", "8"}, "N (8) and --from-config both give the partitions per minute: give one of them"},
		{[]string{"--yes", "--from-config", "8"}, "give one of them"},
	} {
		args := append([]string{"-c", dir, "scylla", "event-partitions"}, c.args...)
		err := run(t, args...)
		if !errors.Is(err, errPartitionsUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an argument error containing %q, got %v", c.args, c.want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "service.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("argument errors wrote to the folder: %v", err)
	}
	// A flag it does not have fails too (urfave's own error).
	if err := run(t, "-c", dir, "scylla", "event-partitions", "--partitions", "8"); err == nil {
		t.Error("an unknown flag: want an error")
	}
}

// Without a configuration, or with a crdt one, the command says so.
func TestScyllaEventPartitionsNeedsAScyllaPeer(t *testing.T) {
	dir := t.TempDir()
	err := run(t, "-c", dir, "scylla", "event-partitions")
	if err == nil || !strings.Contains(err.Error(), "service.json") {
		t.Errorf("no service.json: want an error naming it, got %v", err)
	}
	if err := run(t, "-c", dir, "init", "--randomports"); err != nil {
		t.Fatal(err)
	}
	err = run(t, "-c", dir, "scylla", "event-partitions", "--yes", "8")
	if err == nil || !strings.Contains(err.Error(), "configures the crdt consensus, not scylla") {
		t.Errorf("a crdt peer: want an error saying it is not a scylla peer, got %v", err)
	}
}
