package kubo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/jsonconf"
	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/harness/proc"
)

// fakeEnv makes the test binary act as ipfs (see fakeIPFS).
const fakeEnv = "KUBO_TEST_FAKE_IPFS"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeEnv); mode != "" {
		os.Exit(fakeIPFS(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeIPFS is a stand-in for `ipfs --repo-dir=R init|daemon`: init writes
// a config, daemon answers POST /api/v0/version on the config's API
// address until SIGTERM (mode "die": it exits at once with an error).
func fakeIPFS(mode string, args []string) int {
	if len(args) < 2 || !strings.HasPrefix(args[0], "--repo-dir=") {
		fmt.Println("fake ipfs: bad arguments", args)
		return 2
	}
	repo := strings.TrimPrefix(args[0], "--repo-dir=")
	switch args[1] {
	case "init":
		if err := os.MkdirAll(repo, 0o755); err != nil {
			fmt.Println(err)
			return 1
		}
		if err := os.WriteFile(filepath.Join(repo, "config"), []byte(`{"Identity":{"PeerID":"fake"},"Addresses":{"API":"x"}}`), 0o600); err != nil {
			fmt.Println(err)
			return 1
		}
		return 0
	case "daemon":
		if mode == "die" {
			fmt.Println("Error: fake daemon refuses to start")
			return 1
		}
		var c map[string]any
		if err := jsonconf.Read(filepath.Join(repo, "config"), &c); err != nil {
			fmt.Println(err)
			return 1
		}
		api := jsonconf.Get(c, "Addresses.API").([]any)[0].(string)
		addr := "127.0.0.1:" + api[strings.LastIndex(api, "/")+1:]
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"Version":"0.0.0-fake"}`)
		})}
		go func() { <-sigs; srv.Close() }()
		fmt.Println("fake daemon on", addr)
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			fmt.Println(err)
			return 1
		}
		return 0
	}
	return 2
}

// fakeInstance is an instance whose ipfs is this test binary, on free
// ports, logging into the test log.
func fakeInstance(t *testing.T, mode string) (*Instance, *bytes.Buffer) {
	t.Helper()
	t.Setenv(fakeEnv, mode)
	api, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	swarm, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"KUBO_DIR": t.TempDir(), "KUBO_NAME": "k", "KUBO_BIN": self,
		"KUBO_API_PORT": fmt.Sprint(api), "KUBO_SWARM_PORT": fmt.Sprint(swarm), "KUBO_START_TIMEOUT": "20", "KUBO_STOP_TIMEOUT": "5"}
	in, err := Load(env(vars), "/repo", ForStart)
	if err != nil {
		t.Fatal(err)
	}
	var tails bytes.Buffer
	in.Logf, in.Tails = t.Logf, &tails
	t.Cleanup(func() { _ = in.Stop(context.Background()) })
	return in, &tails
}

func TestStartRunsALoopbackDaemonThatStatusSeesAndStopEnds(t *testing.T) {
	in, _ := fakeInstance(t, "serve")
	ctx := context.Background()
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := jsonconf.Read(filepath.Join(in.Repo, "config"), &c); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(jsonconf.Get(c, "Addresses.Swarm")); got != fmt.Sprintf("[/ip4/127.0.0.1/tcp/%d]", in.SwarmPort) {
		t.Errorf("Addresses.Swarm = %s", got)
	}
	if got := fmt.Sprint(jsonconf.Get(c, "Bootstrap")); got != "[]" {
		t.Errorf("Bootstrap = %s, want []", got)
	}
	line, running := in.Status(ctx)
	pid := in.PID()
	if !running || pid == 0 || line != fmt.Sprintf("k api=127.0.0.1:%d swarm=127.0.0.1:%d pid=%d running", in.APIPort, in.SwarmPort, pid) {
		t.Fatalf("status after start: %q %v", line, running)
	}
	if err := in.Start(ctx); !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second start: %v, want ErrRunning", err)
	}
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if proc.Alive(pid, "", in.pidFile().Word) {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		t.Fatalf("pid %d still runs after Stop: /proc/%d/stat: %s", pid, pid, stat)
	}
	if line, running := in.Status(ctx); running || !strings.HasSuffix(line, "pid=- stopped") {
		t.Errorf("status after stop: %q", line)
	}
	if err := in.Stop(ctx); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

func TestADaemonThatDiesAtStartIsReportedWithItsLog(t *testing.T) {
	in, tails := fakeInstance(t, "die")
	err := in.Start(context.Background())
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("start: %v, want ErrNotReady", err)
	}
	if !strings.Contains(tails.String(), "fake daemon refuses to start") {
		t.Errorf("the daemon's log was not shown: %q", tails.String())
	}
}

func TestCleanDeletesOnlyWhatStartMade(t *testing.T) {
	in, _ := fakeInstance(t, "serve")
	ctx := context.Background()
	if err := os.MkdirAll(in.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := in.Clean(ctx); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "it was not made by") {
		t.Fatalf("clean of a directory start did not make: %v", err)
	}
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := in.PID()
	if err := in.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(in.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", in.Dir, err)
	}
	if proc.Alive(pid, "", in.pidFile().Word) {
		t.Errorf("pid %d still runs after Clean", pid)
	}
}
