// Command errors adds a pin and, on failure, tells the errors apart with
// errors.Is and errors.As instead of matching their text.
//
// The store already retries failed queries (retry_policy: num_retries
// with exponential backoff, the same coordinator for timeouts and
// unavailable replicas). Retry again above it only to ride out a longer
// outage, and only what can succeed later.
//
// Run it on a keyspace of its own, never on a running cluster's.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/gocql/gocql"
	"github.com/ipfs-cluster/ipfs-cluster/api"
	"github.com/ipfs-cluster/ipfs-cluster/state"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	cfg := &scyllastate.Config{Keyspace: "ipfs_pins_example"}
	if err := cfg.Default(); err != nil {
		return err
	}
	if err := cfg.ApplyEnvVars(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := scyllastate.New(ctx, cfg)
	switch {
	case errors.Is(err, scyllastate.ErrInvalidConfig):
		return fmt.Errorf("fix the configuration: %w", err) // names the field
	case errors.Is(err, scyllastate.ErrConnect):
		return fmt.Errorf("database unreachable: %w", err)
	case errors.Is(err, scyllastate.ErrSchema):
		return fmt.Errorf("keyspace or tables missing or of another version: %w", err)
	case err != nil:
		return err
	}
	defer st.Close()

	c, err := api.DecodeCid("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
	if err != nil {
		return err
	}
	if err := addWithRetry(ctx, st, api.PinCid(c), 3); err != nil {
		return err
	}
	if _, err := st.Get(ctx, c); err != nil {
		return err
	}
	fmt.Println("pin added and read back")
	return nil
}

// addWithRetry adds a pin, retrying transient failures with a growing
// pause, within ctx.
func addWithRetry(ctx context.Context, st state.State, pin api.Pin, attempts int) error {
	var err error
	for attempt := 1; attempt <= attempts; attempt++ {
		if err = st.Add(ctx, pin); err == nil {
			return nil
		}
		if !retryable(err) || attempt == attempts {
			break
		}
		pause := time.Duration(attempt) * time.Second
		log.Printf("adding %s failed (attempt %d/%d), retrying in %s: %v", pin.Cid, attempt, attempts, pause, err)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(pause):
		}
	}
	return fmt.Errorf("adding %s: %w", pin.Cid, err)
}

// retryable tells the failures that can succeed later (the database
// overloaded, replicas down or slow) from those that cannot (a closed
// store, the caller's context done, a bad pin, a refused query).
func retryable(err error) bool {
	if errors.Is(err, gocql.ErrSessionClosed) || errors.Is(err, scyllastate.ErrClosed) ||
		errors.Is(err, scyllastate.ErrUndefinedCid) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var (
		unavailable  *gocql.RequestErrUnavailable
		writeTimeout *gocql.RequestErrWriteTimeout
		readTimeout  *gocql.RequestErrReadTimeout
		reqErr       gocql.RequestError
	)
	switch {
	case errors.As(err, &unavailable), errors.As(err, &writeTimeout), errors.As(err, &readTimeout):
		return true
	case errors.Is(err, gocql.ErrNoConnections), errors.Is(err, gocql.ErrTimeoutNoResponse):
		return true
	case errors.As(err, &reqErr):
		return reqErr.Code() == gocql.ErrCodeOverloaded || reqErr.Code() == gocql.ErrCodeServer
	}
	return false
}
