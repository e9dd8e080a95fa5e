// Package boltstore is hookgate's embedded single-node Store, kept in one
// bbolt file under store.path. It is chosen when the config has no
// store.redis block.
//
// bbolt takes an exclusive file lock, so exactly one process uses a store
// directory, and every write transaction is committed and fsynced before
// the method returns. Put (the ingest path), Record and Release go through
// a group commit (groupcommit.go) so that concurrent callers share one
// commit and its fsyncs. Leases are this process's alone, so they are kept
// in memory (leases.go) and Claim commits nothing. Records are keyed by
// receipt time rather than by the hashed event id (keys.go, ids.go), so
// that what one commit writes shares pages.
//
// The store fails stop (failstop.go): on a full disk it refuses writes
// with gateway.ErrUnavailable and backs off, and takes them again by
// itself once there is space; after an fsync or I/O error it refuses
// them until restarted. A panic in a write transaction fails the writes
// of that transaction only (writetx.go).
package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/hookgate/hookgate/gateway"
)

func init() { gateway.RegisterStore(gateway.StoreEmbedded, Open) }

var _ gateway.Store = (*Store)(nil)

// FileName is the database file inside store.path.
const FileName = "hookgate.db"

// Defaults for a StoreConfig whose durations are unset, as SPEC 2 gives them.
const (
	DefaultRetention    = 168 * time.Hour
	DefaultDedupeWindow = 72 * time.Hour
	DefaultPath         = "./data"
)

// lockTimeout bounds the wait for another process's file lock, so that a
// second hookgate on the same directory fails fast instead of hanging.
var lockTimeout = time.Second

// maxGroup bounds the writes one group commit carries, so that a burst
// becomes several moderate transactions rather than one huge one.
const maxGroup = 1000

// maxQueued bounds the writes (Put, Record, Release) admitted to the group
// commit at once, queued or committing: two full transactions' worth. Past
// it, writers wait for room, each only as long as its context allows.
const maxQueued = 2 * maxGroup

// chunkSize bounds what one transaction of a long job (Sweep,
// RedeliverDead, Purge) handles: events, deliveries or entries. Between
// its transactions the group commit gets the file, so ingest is held up
// by one chunk at most, never by the whole job.
const chunkSize = 1000

// Store is the embedded Store. Create it with Open.
type Store struct {
	db        *bolt.DB
	gc        *groupCommit
	disk      *diskState // the group commit's: every write transaction goes through it
	leases    *leaseTable
	file      string
	retention time.Duration
	dedupe    time.Duration
	tombWin   time.Duration // store.tombstone_window; 0: no tombstones (tombs.go)
	chunk     int           // chunkSize; tests make it small

	// dups holds the duplicates counters that Put counted and has not
	// yet written (put.go): a duplicate costs its Put no write.
	dups *gateway.DuplicateTally
	// recent are the ids Put saw last: only a Put of those may be all
	// duplicates (recent.go).
	recent *recentIDs

	orphans atomic.Int64 // queue entries dropped for want of their event, since Open
	updates atomic.Int64 // transactions update has committed; tests count a job's chunks

	opened time.Time // when Open opened the file (txn.opened)

	// The group commit's current transaction and its buckets (txnFor);
	// used by the committing goroutine only.
	gcTx  *bolt.Tx
	gcTxn *txn
}

// Open opens or creates the store in the directory cfg.Path (created 0700,
// the file 0600). It fails with an error wrapping gateway.ErrLocked when
// another process, or another Open in this one, holds the directory.
func Open(cfg gateway.StoreConfig) (gateway.Store, error) {
	dir := cfg.Path
	if dir == "" {
		dir = DefaultPath
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store dir: %w", err)
	}
	file := filepath.Join(dir, FileName)
	// NoFreelistSync: the free-page list is rebuilt on open instead of
	// written with every commit, which halves a small commit's writes;
	// durability of the data is unchanged (etcd runs bbolt this way).
	db, err := bolt.Open(file, 0o600, &bolt.Options{
		Timeout:        lockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: another hookgate process holds this store (the file is locked, not damaged): %w",
			file, gateway.ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	gc := newGroupCommit(db, maxGroup, maxQueued)
	s := &Store{db: db, gc: gc, disk: gc.disk, leases: newLeaseTable(), file: file, opened: time.Now(),
		retention: cfg.Retention, dedupe: cfg.DedupeWindow, tombWin: cfg.TombstoneWindow, chunk: chunkSize}
	s.dups = gateway.NewDuplicateTally(dupDelay, maxDupIDs, s.writeDuplicates)
	s.recent = newRecentIDs()
	if s.retention <= 0 {
		s.retention = DefaultRetention
	}
	if s.dedupe <= 0 {
		s.dedupe = DefaultDedupeWindow
	}
	if err := db.Update(initBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	return s, nil
}

// initBuckets creates the top-level buckets of a new file and checks the
// schema version of an existing one, migrating an older one it knows.
func initBuckets(tx *bolt.Tx) error {
	for _, name := range topBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	list := tx.Bucket(bktList)
	for _, name := range listBuckets {
		if _, err := list.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket list/%s: %w", name, err)
		}
	}
	meta := tx.Bucket(bktMeta)
	switch v := meta.Get([]byte("version")); {
	case v == nil:
		return meta.Put([]byte("version"), []byte(schemaVersion))
	case string(v) == "3" || string(v) == "4":
		if string(v) == "3" {
			if err := dropUnlistedStatuses(list); err != nil {
				return fmt.Errorf("migrate schema 3 to %s: %w", schemaVersion, err)
			}
		}
		if err := countRetrying(tx); err != nil {
			return fmt.Errorf("migrate schema %s to %s: %w", v, schemaVersion, err)
		}
		return meta.Put([]byte("version"), []byte(schemaVersion))
	case string(v) != schemaVersion:
		return fmt.Errorf("schema version %q, this hookgate reads %q", v, schemaVersion)
	}
	return nil
}

// dropUnlistedStatuses migrates a version 3 file, which kept listing
// indexes for every status, to version 4, which keeps them only for the
// listedStatuses: it deletes the pending and delivered buckets under
// list/status and list/substatus.
func dropUnlistedStatuses(list *bolt.Bucket) error {
	st, ss := list.Bucket(bktListStatus), list.Bucket(bktListSubSt)
	var drop [][]byte
	err := ss.ForEachBucket(func(name []byte) error {
		if i := bytes.LastIndexByte(name, 0); i >= 0 && !listedStatus(gateway.DeliveryStatus(name[i+1:])) {
			drop = append(drop, bytes.Clone(name))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range drop {
		if err := ss.DeleteBucket(name); err != nil {
			return fmt.Errorf("delete list/substatus/%q: %w", name, err)
		}
	}
	for _, name := range []gateway.DeliveryStatus{gateway.StatusPending, gateway.StatusDelivered} {
		if err := st.DeleteBucket([]byte(name)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return fmt.Errorf("delete list/status/%s: %w", name, err)
		}
	}
	return nil
}

// countRetrying migrates a version 4 file, whose subscriber counters did
// not count retrying deliveries, to version 5: it sets each subscriber's
// Retrying from its list/substatus retrying index.
func countRetrying(tx *bolt.Tx) error {
	stats, ss := tx.Bucket(bktStats), tx.Bucket(bktList).Bucket(bktListSubSt)
	var subs [][]byte
	if err := stats.ForEach(func(k, _ []byte) error {
		subs = append(subs, bytes.Clone(k))
		return nil
	}); err != nil {
		return err
	}
	for _, sub := range subs {
		st, err := decodeStats(stats.Get(sub))
		if err != nil {
			return fmt.Errorf("stats %s: %w", sub, err)
		}
		st.Retrying = 0
		if b := ss.Bucket(subStatusName(string(sub), string(gateway.StatusRetrying))); b != nil {
			st.Retrying = int64(b.Stats().KeyN)
		}
		if err := stats.Put(sub, encodeStats(st)); err != nil {
			return err
		}
	}
	return nil
}

// Path is the database file.
func (s *Store) Path() string { return s.file }

// Ping reports whether the database is open and readable, and takes
// writes: it fails while writes back off after a full disk, and once the
// store has latched failed (failstop.go).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.disk.ping(); err != nil {
		return wrap("ping", err)
	}
	return s.view(ctx, "ping", func(t *txn) error { return nil })
}

// Close closes the database, waiting for transactions in progress; but
// not for one that panicked holding bbolt's write lock, which it would
// wait for in vain: then the file is left to the process's exit, its
// last commit on disk.
func (s *Store) Close() error {
	if s.disk.isWedged() {
		return fmt.Errorf("close %s: a write transaction panicked holding the file's write lock; left open", s.file)
	}
	_ = s.dups.Close() // best effort: the counters are for operators
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.file, err)
	}
	return nil
}

// inputError marks a caller's mistake, so that it is not reported as the
// store being unavailable.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

// Unwrap makes a caller's mistake a gateway.ErrInvalid (400 at the admin API).
func (e *inputError) Unwrap() error { return gateway.ErrInvalid }

func badInput(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// wrap names the operation and classifies err: the contract's own errors
// and caller mistakes pass through; anything else (closed database, I/O,
// a record that does not decode) means the store cannot answer and wraps
// gateway.ErrUnavailable.
func wrap(op string, err error) error {
	var in *inputError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gateway.ErrUnavailable), // said already, with why (failstop.go)
		errors.Is(err, gateway.ErrNotFound), errors.Is(err, gateway.ErrLeaseLost), errors.Is(err, gateway.ErrConflict),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, gateway.ErrInvalid), errors.As(err, &in):
		return fmt.Errorf("%s: %w", op, err)
	default:
		return fmt.Errorf("%s: %w: %w", op, gateway.ErrUnavailable, err)
	}
}

// view runs fn in a read transaction. The corrupt records it met, which
// fn read as missing, are set aside once it is over (corrupt.go).
func (s *Store) view(ctx context.Context, op string, fn func(t *txn) error) error {
	found, err := s.viewFound(ctx, op, fn)
	s.setAsideFound(ctx, found)
	return err
}

// viewDedupe is view for Put's check of its ids (getID, tombstoned): its
// transaction opens the ids and tombs buckets only. Every Put pays for
// it, and opening the other sixteen cost more than the check (a third of
// Put's allocations).
func (s *Store) viewDedupe(ctx context.Context, op string, fn func(t *txn) error) error {
	found, err := s.viewWith(ctx, op, func(tx *bolt.Tx) *txn {
		return &txn{tx: tx, ids: tx.Bucket(bktIDs), tombs: tx.Bucket(bktTombs)}
	}, fn)
	s.setAsideFound(ctx, found)
	return err
}

// viewFound is view leaving the corrupt records met to the caller.
func (s *Store) viewFound(ctx context.Context, op string, fn func(t *txn) error) ([]corruptRef, error) {
	return s.viewWith(ctx, op, func(tx *bolt.Tx) *txn { return newTxn(tx, nil) }, fn)
}

// viewWith runs fn in a read transaction on the txn open makes.
func (s *Store) viewWith(ctx context.Context, op string, open func(*bolt.Tx) *txn, fn func(t *txn) error) ([]corruptRef, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrap(op, err)
	}
	var t *txn
	err := s.db.View(func(tx *bolt.Tx) error {
		t = open(tx)
		return fn(t)
	})
	if t == nil {
		return nil, wrap(op, err)
	}
	return t.found, wrap(op, err)
}

// update runs fn in a write transaction of its own. One that meets a
// corrupt record is run again once the record is set aside (corrupt.go).
func (s *Store) update(ctx context.Context, op string, fn func(t *txn) error) error {
	return s.setAsideAndRetry(ctx, op, func() error { return s.updateOnce(ctx, fn) })
}

func (s *Store) updateOnce(ctx context.Context, fn func(t *txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	call := s.leases.newCall()
	err := s.disk.writeTxThen(s.db, func(tx *bolt.Tx) error {
		t := newTxn(tx, call)
		t.opened = s.opened
		return fn(t)
	}, func(err error) { call.finish(err == nil) })
	if err == nil {
		s.updates.Add(1)
	}
	return err
}

// batch runs fn in a write transaction that concurrent callers may share.
// fn may run more than once (a group is retried without a failing member,
// and a write that meets a corrupt record is run again once the record
// is set aside), so it must reset whatever it reports back on every run. A
// failing fn rolls back the whole shared transaction, so expected outcomes
// such as a lost lease are reported through variables, not errors.
//
// When ctx ends before the commit, batch returns at once with ctx's error
// while fn may still be run and committed (groupCommit.do): what fn
// reports back must be read only when batch returns nil. The lease-table
// entries fn takes are given up when its transaction is over, whenever
// that is.
func (s *Store) batch(ctx context.Context, op string, fn func(t *txn) error) error {
	return s.setAsideAndRetry(ctx, op, func() error { return s.batchOnce(ctx, fn, false) })
}

// batchUrgent is batch for a write someone waits on (Put): it goes into
// the next transaction ahead of the others (groupCommit).
func (s *Store) batchUrgent(ctx context.Context, op string, fn func(t *txn) error) error {
	return s.setAsideAndRetry(ctx, op, func() error { return s.batchOnce(ctx, fn, true) })
}

// batchOnce is one run of batch, or of batchUrgent when urgent is set.
func (s *Store) batchOnce(ctx context.Context, fn func(t *txn) error, urgent bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	call := s.leases.newCall()
	return s.gc.submit(ctx, func(tx *bolt.Tx) error { return fn(s.txnFor(tx, call)) }, call.finish, urgent)
}

// txnFor is a txn on tx for one call of the group commit. The calls of
// one transaction run one after another on the committing goroutine, so
// the buckets looked up for the first serve the others: a bucket lookup
// is a tree search, and a commit holds hundreds of calls.
func (s *Store) txnFor(tx *bolt.Tx, call *leaseCall) *txn {
	if s.gcTx != tx {
		s.gcTx, s.gcTxn = tx, newTxn(tx, nil)
		s.gcTxn.opened = s.opened
	}
	t := *s.gcTxn
	t.call = call
	return &t
}

// WriteQueue reports the writes admitted to the group commit (queued or
// being committed) and the bound on them, for metrics: a queue near its
// bound means the disk is not keeping up with ingest and delivery.
func (s *Store) WriteQueue() (queued, limit int) { return s.gc.queued(), cap(s.gc.slots) }
