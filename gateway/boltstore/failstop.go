package boltstore

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// How the store answers when the disk fails under it (issue 14). Two
// failures are told apart, as PostgreSQL tells them apart since 2018:
//
//   - No space (ENOSPC, EDQUOT, or EFBIG past RLIMIT_FSIZE), at a write or
//     while growing the file, is transient. bbolt rolls the commit back
//     (nothing of it is on disk or in memory), its callers get
//     gateway.ErrUnavailable (503: the provider retries), and the store
//     backs off: for a doubling interval (minBackoff to maxBackoff) every
//     write is refused at once without a transaction, and Ping fails, so
//     that /readyz answers 503. The first write after the interval tries
//     the disk again; once one commits, writes flow again by themselves.
//     The backoff matters because bbolt pays for each failed commit with a
//     scan of the whole file under the write lock (NoFreelistSync: the
//     free list is rebuilt), about 250 ms at 400 MB, so that retrying
//     each write as it comes would hold every writer up by that much.
//
//   - A failed fsync, or an I/O error at a write, is fatal for writes.
//     After a failed fsync Linux may have dropped dirty pages, of this
//     commit and of earlier ones, and a later fsync succeeds without
//     them; and bbolt may already show the failed commit to readers
//     (its meta page was written). Nothing this process writes can be
//     trusted durable any more: the store latches failed, and every
//     write, Claim and Ping answers ErrUnavailable with the reason and
//     what to do, until hookgate is restarted. Reads go on.
//
// Claim is refused in both states, though it writes nothing: a delivery
// sent now could not be recorded, and would be sent again at every
// lease's end.

// Backoff and readiness after a commit failed for want of space.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// readyHold is how long Ping fails after such a failure, unless a
	// commit succeeds first: long enough for a readiness probe to see
	// it, however short the backoff. Without writes to try the disk,
	// readiness comes back after it, and the next write tries again.
	readyHold = 10 * time.Second
)

var (
	// errDiskFull: a commit failed for want of space, or a write was
	// refused during the backoff that followed.
	errDiskFull = errors.New("disk full")
	// errWritesStopped: the store latched failed (an fsync or I/O error,
	// or a commit that panicked) and refuses writes until restarted.
	errWritesStopped = errors.New("writes stopped until hookgate is restarted")
)

// diskState is the store's view of its disk: whether writes may be
// tried now, and why not. Every write transaction goes through writeTx.
type diskState struct {
	file string
	now  func() time.Time
	// commit commits a write transaction: (*bolt.Tx).Commit. Tests put an
	// injected failure here (a failed fsync cannot be had on demand).
	commit func(*bolt.Tx) error
	log    *rateLog
	// Set at creation; tests shorten or lengthen them.
	minBackoff, maxBackoff, readyHold time.Duration

	tries atomic.Int64 // write transactions begun; tests count them
	// serial is held from a write transaction's start until its calls'
	// lease-table entries are given up (writeTxThen), so that no write
	// transaction sees an entry still owned by a call whose commit it can
	// already see.
	serial sync.Mutex
	// refusing is set while writes may be refused (a backoff, or latched
	// failed), so that admit, which every write calls, takes no lock
	// while the disk is well.
	refusing atomic.Bool

	mu          sync.Mutex
	failures    int       // commits failed for want of space since writes last flowed
	lastFailure time.Time // the latest of them
	lastErr     error     // its error
	retryAt     time.Time // writes are refused until then
	recovered   bool      // a commit has succeeded since lastFailure
	fatal       error     // set once, never cleared: writes refused until restart
	wedged      bool      // bbolt's write lock is held by a transaction that panicked
}

func newDiskState(file string) *diskState {
	return &diskState{file: file, now: time.Now, commit: (*bolt.Tx).Commit, log: newRateLog(logEvery),
		minBackoff: minBackoff, maxBackoff: maxBackoff, readyHold: readyHold}
}

// admit reports whether a write may try the disk now: nil, or the
// gateway.ErrUnavailable that it is refused with.
func (d *diskState) admit() error {
	if !d.refusing.Load() {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fatal != nil {
		return d.fatal
	}
	if now := d.now(); now.Before(d.retryAt) {
		return d.fullError(fmt.Sprintf("writes are refused for %v more, then tried again", d.retryAt.Sub(now).Round(time.Millisecond)))
	}
	d.refusing.Store(false)
	return nil
}

// ping is Ping's part: the store is not ready while it is latched failed,
// or for readyHold after a commit failed for want of space unless one has
// succeeded since.
func (d *diskState) ping() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fatal != nil {
		return d.fatal
	}
	if d.failures > 0 && !d.recovered && d.now().Before(d.lastFailure.Add(d.readyHold)) {
		return d.fullError("the next write tries again")
	}
	return nil
}

// fullError is the error of a write refused for want of space. Callers
// hold mu.
func (d *diskState) fullError(then string) error {
	return fmt.Errorf("%w: %w (%v): %s; free space on the volume of %s",
		gateway.ErrUnavailable, errDiskFull, d.lastErr, then, d.file)
}

// failed takes a failed commit's error and returns what its callers get:
// for a full disk or an I/O error, a gateway.ErrUnavailable that says so,
// the store backing off or latched failed; any other error as it is.
func (d *diskState) failed(err error) error {
	switch classify(err) {
	case failFull:
		return d.full(err)
	case failIO:
		return d.stop(fmt.Errorf("a commit failed with an I/O error (%w); the disk may have lost data written before it, even "+
			"commits that succeeded", err), "check the disk (dmesg, SMART) and the file (bbolt check "+d.file+"), then restart hookgate")
	}
	return err
}

// full records a commit failed for want of space and starts (or doubles)
// the backoff.
func (d *diskState) full(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if d.recovered && now.Sub(d.lastFailure) >= d.maxBackoff {
		d.failures = 0 // writes flowed for a while: start the backoff afresh
	}
	d.failures++
	d.lastFailure, d.lastErr, d.recovered = now, err, false
	backoff := d.maxBackoff
	if d.failures <= 16 {
		backoff = min(d.minBackoff<<(d.failures-1), d.maxBackoff)
	}
	d.retryAt = now.Add(backoff)
	d.refusing.Store(true)
	d.log.log("disk full", slog.LevelError,
		"embedded store: disk full; writes are answered 503 (the provider retries) and tried again with backoff until "+
			"there is space: free space on the store's volume, or move store.path to a larger one",
		"file", d.file, "error", err, "retry_in", backoff, "failures", d.failures)
	return d.fullError(fmt.Sprintf("writes are refused for %v, then tried again", backoff))
}

// committed records a successful commit: writes flow again.
func (d *diskState) committed() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failures == 0 || d.recovered {
		return
	}
	d.recovered = true
	d.log.flush("disk full")
	slog.Default().Warn("embedded store: writes commit again after the disk was full",
		"file", d.file, "failures", d.failures)
}

// stop latches the store failed: every write from now on is refused with
// why and what to do. The first reason stays.
func (d *diskState) stop(why error, todo string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fatal == nil {
		d.refusing.Store(true)
		d.fatal = fmt.Errorf("%w: %w: %w; %s", gateway.ErrUnavailable, errWritesStopped, why, todo)
		slog.Default().Error("embedded store: WRITES STOPPED until hookgate is restarted; ingest answers 503 and "+
			"deliveries wait; reads go on", "file", d.file, "error", why, "todo", todo)
	}
	return d.fatal
}

// isWedged reports whether a panicked transaction holds bbolt's write
// lock, which Close would wait for in vain.
func (d *diskState) isWedged() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.wedged
}

// failKind is what a failed commit says about the disk.
type failKind int

const (
	failOther failKind = iota // not the disk's doing, or not known to be
	failFull                  // no space: transient
	failIO                    // a failed fsync, or an I/O error: fatal for writes
)

// classify tells a full disk from an I/O error by what bbolt returns: a
// write's *fs.PathError carries the errno; its fdatasync returns the bare
// errno; growing the file (truncate, then fsync) loses the errno to a
// "%s" and leaves only the text.
func classify(err error) failKind {
	var pe *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.As(err, &pe):
		if noSpace(pe.Err) {
			return failFull
		}
		return failIO
	case errors.As(err, &errno): // fdatasync: whatever it says, the data may be gone
		return failIO
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "file sync error"):
		return failIO
	case strings.HasPrefix(msg, "file resize error"):
		for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EFBIG, syscall.EDQUOT} {
			if strings.Contains(msg, e.Error()) {
				return failFull
			}
		}
		return failIO
	}
	return failOther
}

// noSpace reports whether err says the file could not grow.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EFBIG) || errors.Is(err, syscall.EDQUOT)
}
