package proc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sleeper(t *testing.T, word string) (PIDFile, int) {
	t.Helper()
	dir := t.TempDir()
	f := PIDFile{Label: "sleeper", Path: filepath.Join(dir, "pid"), Word: word}
	pid, err := f.Spawn(filepath.Join(dir, "log"), dir, nil, "sleep", word)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	return f, pid
}

func TestARecycledPidIsNotOursAndItsStaleFileGoes(t *testing.T) {
	f, pid := sleeper(t, "4242.25")
	if got := f.Running(); got != pid {
		t.Fatalf("Running = %d, want %d", got, pid)
	}
	if err := os.WriteFile(f.Path+".start", []byte("12345\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := f.Running(); got != 0 {
		t.Fatalf("Running with another start time = %d, want 0", got)
	}
	if _, err := os.Stat(f.Path); !os.IsNotExist(err) {
		t.Errorf("stale pid file kept: %v", err)
	}
}

func TestAnOlderScriptsPidFileIsCheckedByArgvWord(t *testing.T) {
	f, pid := sleeper(t, "4242.5")
	_ = os.Remove(f.Path + ".start")
	if got := f.Running(); got != pid {
		t.Fatalf("Running = %d, want %d (argv word matches)", got, pid)
	}
	other := PIDFile{Path: f.Path, Word: "no-such-word"}
	if got := other.Running(); got != 0 {
		t.Errorf("Running with another word = %d, want 0", got)
	}
}

func TestStopResumesAPausedDaemonAndKillsOneThatIgnoresSIGTERM(t *testing.T) {
	f, pid := sleeper(t, "4242.75")
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	for k := 0; k < 50 && !Paused(pid); k++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !Paused(pid) {
		t.Fatal("not seen as paused")
	}
	if err := Stop(context.Background(), syscall.SIGTERM, 10*time.Second, t.Logf, f); err != nil {
		t.Fatal(err)
	}
	if f.Running() != 0 || Alive(pid, "", "4242.75") {
		t.Fatal("paused daemon still runs after Stop")
	}

	dir := t.TempDir()
	g := PIDFile{Label: "stubborn", Path: filepath.Join(dir, "pid"), Word: "4242.125"}
	// An ignored signal stays ignored across exec.
	if _, err := g.Spawn(filepath.Join(dir, "log"), dir, nil, "bash", "-c", `trap "" TERM; exec sleep 4242.125`); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	logf := func(format string, args ...any) { msgs = append(msgs, format) }
	time.Sleep(300 * time.Millisecond) // let bash set its trap
	if err := Stop(context.Background(), syscall.SIGTERM, time.Second, logf, g); err != nil {
		t.Fatal(err)
	}
	if g.Running() != 0 {
		t.Fatal("still runs after SIGKILL")
	}
	if !strings.Contains(strings.Join(msgs, "\n"), "still alive after") {
		t.Errorf("no SIGKILL message: %q", msgs)
	}
}

func TestStopOfNothingRunningIsANoOp(t *testing.T) {
	f := PIDFile{Label: "none", Path: filepath.Join(t.TempDir(), "pid"), Word: "x"}
	if err := Stop(context.Background(), syscall.SIGTERM, time.Second, t.Logf, f); err != nil {
		t.Fatal(err)
	}
}

func TestSpawnDetachesTheDaemonFromOurFiles(t *testing.T) {
	// An inherited fd above 2 (sharness's 3-6, a `| tee` in CI) is not
	// close-on-exec: dup makes one.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd, err := syscall.Dup(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	_, pid := sleeper(t, "4242.0625")
	if in, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/0", pid)); err != nil || in != os.DevNull {
		t.Errorf("stdin is %q (%v), want %s", in, err, os.DevNull)
	}
	// Right after the exec the dynamic loader may still hold a library
	// open (fd 3: libc.so.6): an inherited fd stays, that one goes.
	var held []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		held = held[:0]
		for _, fd := range fds {
			if n, _ := strconv.Atoi(fd.Name()); n > 2 {
				target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, n))
				held = append(held, fmt.Sprintf("fd %d (%s)", n, target))
			}
		}
		if len(held) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(held) > 0 {
		t.Errorf("the daemon holds %s", strings.Join(held, ", "))
	}
}

func TestAdoptRecordsTheOneProcessWithTheWordWhenThePidFileIsLost(t *testing.T) {
	f, pid := sleeper(t, "4242.03125")
	f.Forget()
	var msgs []string
	f.Adopt(func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) })
	if got := f.Running(); got != pid {
		t.Fatalf("Running after Adopt = %d, want %d", got, pid)
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0], "adopting it") {
		t.Errorf("messages: %q", msgs)
	}
}
