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
		"SetPaused": func() error { return s.SetPaused(ctx, "sub1", gateway.PauseAdmin) },
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

// panickyWrite panics in a group commit's transaction.
func panickyWrite(*bolt.Tx) error { panic("boom in a write") }

// TestPanicInWriteFailsItsBatch: a write that panics in the group
// commit's goroutine fails the calls of its transaction, and only them,
// with ErrUnavailable (none is acknowledged, none committed); the panic
// is logged with its stack, and the next transaction commits as usual.
func TestPanicInWriteFailsItsBatch(t *testing.T) {
	logs := captureLog(t)
	s := openTest(t, t.TempDir())
	g := s.gc
	before := boltPanics()
	t.Cleanup(func() {
		if got := boltPanics() - before; got != 1 {
			t.Errorf("hookgate_panics_total{component=\"boltstore\"} went up by %d, want 1", got)
		}
	})
	blocker := park(g)
	<-blocker.started
	key := func(name string) []byte { return []byte("test-" + name) }
	put := func(name string) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(key(name), []byte{1}) }
	}
	results := make(map[string]chan error)
	submit := func(name string, fn func(*bolt.Tx) error) {
		ch := make(chan error, 1)
		results[name] = ch
		go func() { ch <- g.do(context.Background(), fn, nil) }()
	}
	submit("before", put("before"))
	waitQueued(g, 1)
	submit("panicky", panickyWrite)
	waitQueued(g, 2)
	submit("after", put("after"))
	waitQueued(g, 3)
	close(blocker.release)
	if err := <-blocker.done; err != nil {
		t.Fatalf("the transaction before: %v", err)
	}
	for _, name := range []string{"before", "panicky", "after"} {
		if err := result(t, name, results[name]); !errors.Is(err, gateway.ErrUnavailable) {
			t.Errorf("%s, in the transaction that panicked: %v, want ErrUnavailable", name, err)
		}
	}
	if err := g.do(context.Background(), put("next"), nil); err != nil {
		t.Fatalf("the next write: %v", err)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		for name, want := range map[string]bool{"before": false, "after": false, "next": true} {
			if got := tx.Bucket(bktMeta).Get(key(name)) != nil; got != want {
				t.Errorf("%s committed: %v, want %v", name, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping after a write panicked: %v", err)
	}
	out := logs.String()
	for _, want := range []string{"level=ERROR", "panic recovered", "component=boltstore", "boom in a write", "panickyWrite"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
}

// TestPanicInCommitStopsWrites: a commit that panics with the
// transaction still open (bbolt's rollback of a failed commit panics in
// its page scan on a page it cannot read, before it closes the
// transaction) fails its batch, and latches the store failed, since the
// file may be damaged: later writes are answered at once, not left to
// wait for bbolt's write lock, and reads and Close go on. The panic is
// injected through diskState.commit.
func TestPanicInCommitStopsWrites(t *testing.T) {
	captureLog(t)
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("kept", t0, "sub1")}); err != nil {
		t.Fatal(err)
	}
	s.disk.commit = func(*bolt.Tx) error { panic("freepages: failed to get all reachable pages (page 42: invalid type)") }
	_, err := s.Put(ctx, []gateway.NewEvent{testEvent("failed", t0, "sub1")})
	if !errors.Is(err, gateway.ErrUnavailable) || !errors.Is(err, errWritesStopped) {
		t.Fatalf("Put whose commit panics: %v, want ErrUnavailable, writes stopped", err)
	}
	if !strings.Contains(err.Error(), "bbolt check") {
		t.Errorf("%q does not say to check the file", err)
	}
	s.disk.commit = (*bolt.Tx).Commit
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, []gateway.NewEvent{testEvent("later", t0, "sub1")})
		done <- err
	}()
	if err := result(t, "a Put after the panic", done); !errors.Is(err, errWritesStopped) {
		t.Errorf("Put after a commit panicked: %v, want writes stopped", err)
	}
	if _, err := s.Event(ctx, "kept"); err != nil {
		t.Errorf("reading after a commit panicked: %v", err)
	}
	if _, err := s.Event(ctx, "failed"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("the event whose commit panicked: %v, want ErrNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestRollbackPanicWedges: when the rollback of a panicked transaction
// panics in turn, bbolt's write lock stays held, so the store latches
// failed and Close does not wait for the lock. A managed transaction
// (inside bolt's Update), whose Rollback panics, stands in for it.
func TestRollbackPanicWedges(t *testing.T) {
	captureLog(t)
	s := openTest(t, t.TempDir())
	var got error
	_ = s.db.Update(func(tx *bolt.Tx) error {
		got = s.disk.recoverWrite(tx, "boom", false)
		return got
	})
	if !errors.Is(got, errWritesStopped) || !strings.Contains(got.Error(), "write lock") {
		t.Errorf("a rollback that panics: %v, want writes stopped for the lost write lock", got)
	}
	if err := s.Close(); err == nil || !strings.Contains(err.Error(), "left open") {
		t.Errorf("Close with the write lock lost: %v, want an error saying the file is left open", err)
	}
	s.disk.wedged = false // it is not, in truth: let the cleanup close it
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

// boltPanics is the process's count of panics recovered in the store.
func boltPanics() int64 {
	for _, p := range gateway.Panics() {
		if p.Component == "boltstore" {
			return p.Count
		}
	}
	return 0
}
