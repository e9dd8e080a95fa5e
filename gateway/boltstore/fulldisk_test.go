package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// The full-disk tests run a real store on a disk that fills up: a small
// tmpfs (the most realistic: pwrite gets ENOSPC, as on a full volume),
// when this process may mount one, and always RLIMIT_FSIZE in a child
// process (the file may not grow: truncate and pwrite get EFBIG), which
// needs no privilege. Each checks the fail-stop contract of issue 14:
// the write that meets the full disk answers ErrUnavailable, and so does
// every write during the backoff without a transaction; Ping fails; once
// there is space again writes succeed by themselves; and every event
// acknowledged before, during or after is still there, also after the
// file is reopened.

// fullDiskBody is the body of the events the tests fill the disk with.
var fullDiskBody = make([]byte, 4096)

// putBatch stores n events named prefix-0 .. prefix-(n-1) in one Put.
func putBatch(ctx context.Context, s *Store, prefix string, n int) ([]string, error) {
	evs := make([]gateway.NewEvent, n)
	ids := make([]string, n)
	for i := range evs {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		evs[i] = testEvent(ids[i], t0, "sub1")
		evs[i].Body = append([]byte(nil), fullDiskBody...)
	}
	_, err := s.Put(ctx, evs)
	return ids, err
}

// fillDisk puts batches until one fails, and returns the ids stored and
// that failure, with how long the failing Put took.
func fillDisk(t *testing.T, s *Store, maxBatches int) (acked []string, err error, took time.Duration) {
	t.Helper()
	for i := range maxBatches {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard, not a measure
		start := time.Now()
		ids, err := putBatch(ctx, s, fmt.Sprintf("fill%d", i), 50)
		took := time.Since(start)
		cancel()
		if err != nil {
			return acked, err, took
		}
		acked = append(acked, ids...)
	}
	t.Fatalf("the disk did not fill up in %d batches", maxBatches)
	return nil, nil, 0
}

// checkFullDisk runs the contract's checks on s, whose disk is about to
// fill up, and which holds the events acked already; makeRoom gives it
// space again.
func checkFullDisk(t *testing.T, s *Store, maxBatches int, acked []string, makeRoom func()) {
	s.disk.mu.Lock()
	s.disk.readyHold = time.Minute // Ping stays failed until a commit succeeds
	s.disk.mu.Unlock()
	more, err, took := fillDisk(t, s, maxBatches)
	acked = append(acked, more...)
	info, _ := os.Stat(s.Path())
	t.Logf("the full disk answered the Put in %v (file %d KB): %v", took, info.Size()>>10, err)
	if !errors.Is(err, gateway.ErrUnavailable) || !errors.Is(err, errDiskFull) {
		t.Fatalf("Put on a full disk: %v, want ErrUnavailable for a full disk", err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("Ping on a full disk: %v, want ErrUnavailable", err)
	}
	if _, err := s.Claim(context.Background(), "sub1", t0.Add(time.Hour), 1, time.Minute); !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("Claim during the backoff: %v, want ErrUnavailable", err)
	}

	// During the backoff a Put is answered at once, without a transaction.
	s.disk.mu.Lock()
	s.disk.retryAt = time.Now().Add(time.Hour) // the backoff, made long enough to look at
	s.disk.mu.Unlock()
	tries := s.disk.tries.Load()
	start := time.Now()
	_, err = putBatch(context.Background(), s, "during", 1)
	t.Logf("a Put during the backoff was answered in %v", time.Since(start))
	if !errors.Is(err, gateway.ErrUnavailable) || !errors.Is(err, errDiskFull) {
		t.Errorf("Put during the backoff: %v, want ErrUnavailable for a full disk", err)
	}
	if n := s.disk.tries.Load() - tries; n != 0 {
		t.Errorf("a Put during the backoff began %d write transactions, want 0", n)
	}
	if err := s.Sweep(context.Background(), t0); !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("Sweep during the backoff: %v, want ErrUnavailable", err)
	}

	// Space again: the first write after the backoff commits, and writes
	// flow again by themselves.
	makeRoom()
	s.disk.mu.Lock()
	s.disk.retryAt = time.Now()
	s.disk.mu.Unlock()
	ids, err := putBatch(context.Background(), s, "after", 50)
	if err != nil {
		t.Fatalf("Put once there is space again: %v", err)
	}
	acked = append(acked, ids...)
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping once a write has committed again: %v", err)
	}
	if _, err := s.Claim(context.Background(), "sub1", t0.Add(time.Hour), 1, time.Minute); err != nil {
		t.Errorf("Claim once writes flow again: %v", err)
	}

	checkAcked(t, s, acked)
	dir := s.Path()[:len(s.Path())-len(FileName)-1]
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkAcked(t, openTest(t, dir), acked)
}

// checkAcked fails the test for every acknowledged event s does not hold.
func checkAcked(t *testing.T, s *Store, acked []string) {
	t.Helper()
	lost := 0
	for _, id := range acked {
		if _, err := s.Event(context.Background(), id); err != nil {
			if lost++; lost <= 5 {
				t.Errorf("acknowledged event %s: %v", id, err)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged events lost", lost, len(acked))
	}
}

// TestFullDiskTmpfs fills a 4 MB tmpfs; more room is a remount. It needs
// the privilege to mount (root, or CAP_SYS_ADMIN), which CI containers
// often lack: TestFullDiskRlimit covers the same contract everywhere.
func TestFullDiskTmpfs(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); TestFullDiskRlimit covers a full disk", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	s := openTest(t, dir)
	checkFullDisk(t, s, 1000, nil, func() {
		if out, err := exec.Command("mount", "-o", "remount,size=64m", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount %s larger: %v: %s", dir, err, out)
		}
	})
}

// TestFullDiskRlimit runs in a child process (this test binary, re-run)
// whose RLIMIT_FSIZE stops the file from growing past its size after a
// first fill of BOLTSTORE_FULLDISK_MB megabytes (default 2); more room is
// raising the limit. The limit applies to the whole process, hence the
// child; SIGXFSZ, which would kill it, is ignored, so that the writes
// fail with EFBIG instead.
func TestFullDiskRlimit(t *testing.T) {
	if os.Getenv("BOLTSTORE_FULLDISK_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFullDiskRlimit$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "BOLTSTORE_FULLDISK_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		t.Logf("child process:\n%s", out)
		return
	}
	mb := 2
	if v := os.Getenv("BOLTSTORE_FULLDISK_MB"); v != "" {
		var err error
		if mb, err = strconv.Atoi(v); err != nil {
			t.Fatalf("BOLTSTORE_FULLDISK_MB=%q: %v", v, err)
		}
	}
	s := openTest(t, t.TempDir())
	var acked []string
	for i := 0; ; i++ {
		info, err := os.Stat(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() >= int64(mb)<<20 {
			break
		}
		ids, err := putBatch(context.Background(), s, fmt.Sprintf("pre%d", i), 50)
		if err != nil {
			t.Fatalf("filling to %d MB: %v", mb, err)
		}
		acked = append(acked, ids...)
	}
	info, _ := os.Stat(s.Path())
	signal.Ignore(syscall.SIGXFSZ)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	limit := old
	limit.Cur = uint64(info.Size())
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	checkFullDisk(t, s, 100000, acked, func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatalf("setrlimit back: %v", err)
		}
	})
}
