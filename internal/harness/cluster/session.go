package cluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Session is the bookkeeping of one test script (or of the demo): what its
// helpers started, in Dir, one item a line: "clusters" (the folders of
// the peers started), "keyspaces" (handed out by Keyspace), "ports"
// (handed out by FreePort), "databases" (the test databases started for
// the script, by name). Reap stops and drops all of it. The commands
// of a script run one after the other, each in its own process: the lists
// are files, appended to.
type Session struct {
	Dir string
	// KuboDir holds the script's kubo instances (every one is stopped by
	// Reap); empty: none.
	KuboDir string
	// StopKubo stops the kubo instance of that name in KuboDir.
	StopKubo func(ctx context.Context, name string) error
	// DropKeyspaces runs DROP KEYSPACE IF EXISTS for each.
	DropKeyspaces func(ctx context.Context, keyspaces []string) error
	// StopDatabase stops the test database of that name.
	StopDatabase func(ctx context.Context, name string) error
}

// list reads one of the lists (missing: empty), without repeats.
func (s *Session) list(name string) ([]string, error) {
	f, err := os.Open(filepath.Join(s.Dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session list: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v := strings.TrimSpace(sc.Text()); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, sc.Err()
}

// add appends v to a list.
func (s *Session) add(name, v string) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("session folder: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("session list: %w", err)
	}
	if _, err := fmt.Fprintln(f, v); err != nil {
		f.Close()
		return fmt.Errorf("session list: %w", err)
	}
	return f.Close()
}

// AddPeer records the folder of a peer about to be started.
func (s *Session) AddPeer(dir string) error { return s.add("clusters", dir) }

// AddDatabase records a test database started for the script.
func (s *Session) AddDatabase(name string) error { return s.add("databases", name) }

// Keyspace hands out a fresh throwaway keyspace name (sh_ and 16 hex
// digits), dropped by Reap.
func (s *Session) Keyspace() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("keyspace name: %w", err)
	}
	ks := "sh_" + hex.EncodeToString(b[:])
	return ks, s.add("keyspaces", ks)
}

// Reap stops every peer started (at once, each SIGTERM then SIGKILL),
// then every kubo instance in KuboDir, drops the keyspaces handed out and
// stops the databases started.
// It goes on after a failure and returns them all.
func (s *Session) Reap(ctx context.Context, peer func(dir string) (*Peer, error)) error {
	var errs []error
	dirs, err := s.list("clusters")
	errs = append(errs, err)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, d := range dirs {
		p, err := peer(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Stop(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	errs = append(errs, s.reapKubos(ctx), s.dropKeyspaces(ctx), s.stopDatabases(ctx))
	_ = os.Remove(filepath.Join(s.Dir, "clusters"))
	return errors.Join(errs...)
}

func (s *Session) stopDatabases(ctx context.Context) error {
	names, err := s.list("databases")
	if err != nil || len(names) == 0 || s.StopDatabase == nil {
		return err
	}
	var errs []error
	for _, n := range names {
		errs = append(errs, s.StopDatabase(ctx, n))
	}
	return errors.Join(append(errs, os.Remove(filepath.Join(s.Dir, "databases")))...)
}

func (s *Session) reapKubos(ctx context.Context) error {
	if s.KuboDir == "" || s.StopKubo == nil {
		return nil
	}
	ents, err := os.ReadDir(s.KuboDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kubo instances: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if e.IsDir() {
			errs = append(errs, s.StopKubo(ctx, e.Name()))
		}
	}
	return errors.Join(errs...)
}

func (s *Session) dropKeyspaces(ctx context.Context) error {
	ks, err := s.list("keyspaces")
	if err != nil || len(ks) == 0 || s.DropKeyspaces == nil {
		return err
	}
	if err := s.DropKeyspaces(ctx, ks); err != nil {
		return err
	}
	return os.Truncate(filepath.Join(s.Dir, "keyspaces"), 0)
}
