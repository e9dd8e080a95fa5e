package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/hookgate/hookgate/gateway"
)

func TestClassify(t *testing.T) {
	path := "/data/hookgate.db"
	for _, c := range []struct {
		name string
		err  error
		want failKind
	}{
		{"write ENOSPC", &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}, failFull},
		{"write EFBIG", &fs.PathError{Op: "write", Path: path, Err: syscall.EFBIG}, failFull},
		{"write EDQUOT", &fs.PathError{Op: "write", Path: path, Err: syscall.EDQUOT}, failFull},
		{"write EIO", &fs.PathError{Op: "write", Path: path, Err: syscall.EIO}, failIO},
		{"fdatasync EIO", syscall.EIO, failIO},
		{"fdatasync ENOSPC", syscall.ENOSPC, failIO}, // the data may be gone all the same
		{"grow, truncate EFBIG", fmt.Errorf("file resize error: %s", &fs.PathError{Op: "truncate", Path: path, Err: syscall.EFBIG}), failFull},
		{"grow, truncate ENOSPC", fmt.Errorf("file resize error: %s", &fs.PathError{Op: "truncate", Path: path, Err: syscall.ENOSPC}), failFull},
		{"grow, truncate EIO", fmt.Errorf("file resize error: %s", &fs.PathError{Op: "truncate", Path: path, Err: syscall.EIO}), failIO},
		{"grow, fsync", fmt.Errorf("file sync error: %s", &fs.PathError{Op: "sync", Path: path, Err: syscall.EIO}), failIO},
		{"mmap", errors.New("mmap allocate error: cannot allocate memory"), failOther},
		{"closed", bolterrors.ErrDatabaseNotOpen, failOther},
	} {
		if got := classify(c.err); got != c.want {
			t.Errorf("%s: classify(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// TestBackoffDoubles: each commit failed for want of space doubles the
// interval during which writes are refused, up to maxBackoff; after a
// quiet time with writes flowing, it starts afresh. The clock is the
// test's.
func TestBackoffDoubles(t *testing.T) {
	d := newDiskState("/data/hookgate.db")
	now := t0
	d.now = func() time.Time { return now }
	full := &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	for _, want := range []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000} {
		d.failed(full)
		if got := d.retryAt.Sub(now); got != want*time.Millisecond {
			t.Errorf("after %d failures: backoff %v, want %v", d.failures, got, want*time.Millisecond)
		}
		if d.admit() == nil {
			t.Errorf("after %d failures: a write is admitted during the backoff", d.failures)
		}
		now = d.retryAt
		if err := d.admit(); err != nil {
			t.Errorf("after %d failures: a write is refused once the backoff is over: %v", d.failures, err)
		}
	}
	d.committed()
	if err := d.ping(); err != nil {
		t.Errorf("Ping once a commit has succeeded: %v", err)
	}
	now = now.Add(maxBackoff)
	d.failed(full)
	if got := d.retryAt.Sub(now); got != minBackoff {
		t.Errorf("after writes flowed for %v: backoff %v, want %v afresh", maxBackoff, got, minBackoff)
	}
	if err := d.ping(); !errors.Is(err, errDiskFull) {
		t.Errorf("Ping just after a failure: %v, want a full disk", err)
	}
	now = now.Add(readyHold)
	if err := d.ping(); err != nil {
		t.Errorf("Ping %v after the last failure, with no write since: %v, want nil (the next write tries)", readyHold, err)
	}
}

// TestIOErrorStopsWrites: after a commit fails at fsync, the store takes
// no write until it is restarted, says why and what to do, and goes on
// answering reads. A failed fsync cannot be had on demand, so it is
// injected through diskState.commit, the seam where bbolt's Commit is
// called: the transaction is rolled back and the bare errno returned, as
// bbolt's fdatasync failure returns it.
func TestIOErrorStopsWrites(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("kept", t0, "sub1")}); err != nil {
		t.Fatal(err)
	}
	claims, err := s.Claim(ctx, "sub1", t0, 1, time.Minute)
	if err != nil || len(claims) != 1 {
		t.Fatalf("Claim: %v, %v", claims, err)
	}
	s.disk.commit = func(tx *bolt.Tx) error {
		_ = tx.Rollback()
		return syscall.EIO
	}
	_, err = s.Put(ctx, []gateway.NewEvent{testEvent("failed", t0, "sub1")})
	if !errors.Is(err, gateway.ErrUnavailable) || !errors.Is(err, errWritesStopped) {
		t.Fatalf("Put whose fsync fails: %v, want ErrUnavailable, writes stopped", err)
	}
	s.disk.commit = (*bolt.Tx).Commit // the disk answers again: it must not be trusted

	tries := s.disk.tries.Load()
	for name, write := range map[string]func() error{
		"Put": func() error {
			_, err := s.Put(ctx, []gateway.NewEvent{testEvent("later", t0, "sub1")})
			return err
		},
		"Record": func() error {
			return s.Record(ctx, claims[0], gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: t0}})
		},
		"Claim": func() error {
			_, err := s.Claim(ctx, "sub1", t0.Add(time.Hour), 1, time.Minute)
			return err
		},
		"Sweep":     func() error { return s.Sweep(ctx, t0) },
		"SetPaused": func() error { return s.SetPaused(ctx, "sub1", true) },
		"Ping":      func() error { return s.Ping(ctx) },
	} {
		err := write()
		if !errors.Is(err, gateway.ErrUnavailable) || !errors.Is(err, errWritesStopped) {
			t.Errorf("%s after a failed fsync: %v, want ErrUnavailable, writes stopped", name, err)
			continue
		}
		for _, want := range []string{"input/output error", "restart hookgate", "check the disk"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s after a failed fsync: %q does not say %q", name, err, want)
			}
		}
	}
	if n := s.disk.tries.Load() - tries; n != 0 {
		t.Errorf("writes after a failed fsync began %d transactions, want 0", n)
	}
	if _, err := s.Event(ctx, "kept"); err != nil {
		t.Errorf("reading after a failed fsync: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// captureLog sends slog's default logger to a buffer for the test.
func captureLog(t *testing.T) *syncBuffer {
	t.Helper()
	var buf syncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRateLog: a kind of line is written once per interval; the next one
// counts those left out.
func TestRateLog(t *testing.T) {
	logs := captureLog(t)
	l := newRateLog(time.Hour)
	for range 3 {
		l.log("k", slog.LevelWarn, "line")
	}
	l.log("other", slog.LevelWarn, "other line")
	l.flush("k")
	l.log("k", slog.LevelWarn, "line again")
	out := logs.String()
	if n := strings.Count(out, "msg=line\n"); n != 1 {
		t.Errorf("%d lines of kind k in the interval, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "other line") || !strings.Contains(out, `msg="line again" not_logged=2`) {
		t.Errorf("a line of another kind, or one after a flush, was left out:\n%s", out)
	}
}
