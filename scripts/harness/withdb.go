package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/cassandra"
)

// dbInstance is one of the test databases of with-cassandra.
type dbInstance struct {
	name, hosts, prefix string
	extra               map[string]string // more CASSANDRA_* settings
}

// testDatabases are the instances with-cassandra brings up: "main", and
// "secure" (auth and mutual TLS) unless WITH_SECURE=0.
func testDatabases() []dbInstance {
	dbs := []dbInstance{{"main", "127.0.0.1", "SCYLLASTATE_TEST", nil}}
	if os.Getenv("WITH_SECURE") != "0" {
		dbs = append(dbs, dbInstance{"secure", "127.0.0.2", "SCYLLASTATE_TEST_SECURE",
			map[string]string{"CASSANDRA_AUTH": "1", "CASSANDRA_TLS": "1"}})
	}
	return dbs
}

// load reads the instance's settings (messages as cassandra.sh's).
func (d dbInstance) load(mode cassandra.Mode) (*cassandra.Instance, error) {
	vars := map[string]string{"CASSANDRA_NAME": d.name, "CASSANDRA_HOSTS": d.hosts, "CASSANDRA_ENV_PREFIX": d.prefix}
	for k, v := range d.extra {
		vars[k] = v
	}
	in, err := cassandra.Load(cassandra.EnvWith(vars), mode)
	if err != nil {
		return nil, err
	}
	in.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "cassandra.sh[%s]: %s\n", d.name, fmt.Sprintf(format, args...))
	}
	return in, nil
}

// up starts the instance unless it runs (started tells which) and sets
// its variables (cassandra.sh env) in this process's environment.
func (d dbInstance) up(ctx context.Context) (started *cassandra.Instance, err error) {
	in, err := d.load(cassandra.ForOther)
	if err != nil {
		return nil, err
	}
	if _, running := in.Status(ctx); !running {
		if in, err = d.load(cassandra.ForStart); err != nil {
			return nil, err
		}
		// Recorded only once started: a start refused because the
		// instance runs (e.g. on other hosts) must not stop it at the
		// end. A failed or interrupted start stops its nodes itself.
		if err := in.Start(ctx); err != nil {
			return nil, err
		}
		started = in
	}
	vars, err := in.Env()
	for _, v := range vars {
		if serr := os.Setenv(v.Name, v.Value); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	return started, err
}

// withCassandraMain is scripts/with-cassandra.sh: it runs CMD with the
// test databases up; the instances that already run are reused and left
// running, the ones it starts are stopped when CMD ends, also on failure
// or Ctrl-C. It exits as CMD did (130 when interrupted).
func withCassandraMain(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: scripts/with-cassandra.sh CMD [ARGS...]  (WITH_SECURE=0: main instance only)")
		return 2
	}
	var started []*cassandra.Instance
	defer func() {
		for _, in := range started {
			if err := in.Stop(context.WithoutCancel(ctx)); err != nil {
				in.Logf("ERROR: %v", err)
			}
		}
	}()
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "with-cassandra: %v\n", err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitFailed
	}
	db, err := testDatabases()[0].load(cassandra.ForOther)
	if err != nil {
		return fail(err)
	}
	if err := db.Fetch(ctx); err != nil {
		return fail(err)
	}
	for _, d := range testDatabases() {
		in, err := d.up(ctx)
		if in != nil {
			started = append(started, in)
		}
		if err != nil {
			return fail(err)
		}
	}
	return runForwarding(ctx, args)
}

// runForwarding runs args[0] with args[1:] in the foreground, passes it
// SIGINT and SIGTERM, and returns its exit status (128+N when killed by
// signal N; 130 when this process was interrupted).
func runForwarding(ctx context.Context, args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "with-cassandra: %v\n", err)
		return 127
	}
	done := make(chan struct{})
	forwarded := make(chan struct{})
	go func() { // owned here: ends when the command has ended
		defer close(forwarded)
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-forwarded
	if ctx.Err() != nil {
		return exitInterrupted
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "with-cassandra: %v\n", err)
		return exitFailed
	}
	return exitOK
}
