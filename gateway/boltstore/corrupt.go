package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// Corrupt records (issue 14). A record that does not decode (a page
// damaged on disk, a file changed by another program) must neither block
// its subscriber's queue nor fail, for ever, every read and write that
// meets it; it is set aside, and shown.
//
// A read transaction that meets one reads it as missing and notes it
// (txn.corrupted); once the transaction is over, the method sets what it
// noted aside in a write of its own (Store.setAsideFound). A write
// transaction must not read past it (what it writes would be built on a
// record it could not read): it fails with a *corruptError, and the
// method sets the record aside and runs the write again
// (Store.setAsideAndRetry).
//
// Setting a record aside moves its bytes into the corrupt bucket, where
// they stay for inspection (StoreHealth.Corrupt counts them), removes it
// with what names it, so that the indexes and counters stay in step, and
// logs it with what it means:
//
//   - an event: its deliveries, their history and its index entries go
//     with it (it cannot be sent: its body is gone); its id is forgotten.
//   - a delivery: its queue, dead and listing entries and its history go;
//     the event stays, and the admin API's redeliver queues it again.
//   - one attempt of a delivery's history: that entry.
//   - a subscriber's counters: recounted from the indexes (delivered and
//     the last success start again from zero).
//   - an event id's entry: it goes, and the id is forgotten (an upstream
//     redelivery is stored again); an event it named, which is found by
//     its id only, stays in the file unreachable.
var bktCorrupt = []byte("corrupt") // bucket \x00 key -> set aside at(8), the bytes

// maxSetAside bounds the records one call sets aside before it gives up
// (with ErrUnavailable): each is a write, then the call is run again.
const maxSetAside = 16

// corruptRef names a record that did not decode, with its bytes as read.
type corruptRef struct {
	bucket string // events, deliveries, history, stats or ids
	key    []byte
	raw    []byte
	err    error // why it did not decode
}

// corruptError fails a write transaction that met a corrupt record.
type corruptError struct{ ref corruptRef }

func (e *corruptError) Error() string {
	return fmt.Sprintf("%s record %q: %v", e.ref.bucket, e.ref.key, e.ref.err)
}

func (e *corruptError) Unwrap() error { return errCorrupt }

// corrupted handles the record at key of bucket, raw, which does not
// decode (err): in a read transaction it is noted, and nil returned, so
// that the caller reads it as missing; in a write transaction the
// *corruptError returned fails the write.
func (t *txn) corrupted(bucket, key, raw []byte, err error) error {
	ref := corruptRef{bucket: string(bucket), key: bytes.Clone(key), raw: bytes.Clone(raw), err: err}
	if t.tx.Writable() {
		return &corruptError{ref: ref}
	}
	t.found = append(t.found, ref)
	return nil
}

// setAsideAndRetry runs a write (run) and, as long as it fails on a
// corrupt record, sets that record aside and runs it again.
func (s *Store) setAsideAndRetry(ctx context.Context, op string, run func() error) error {
	for n := 0; ; n++ {
		err := run()
		var ce *corruptError
		if n == maxSetAside || !errors.As(err, &ce) {
			return wrap(op, err)
		}
		if err := s.setAside(ctx, []corruptRef{ce.ref}); err != nil {
			return wrap(op, err)
		}
	}
}

// setAsideFound sets aside the records a read transaction met, best
// effort: if it cannot now, the next read that meets them tries again.
func (s *Store) setAsideFound(ctx context.Context, found []corruptRef) {
	if len(found) == 0 {
		return
	}
	if err := s.setAside(ctx, found); err != nil && !errors.Is(err, errDiskFull) && !errors.Is(err, errWritesStopped) {
		s.disk.log.log("set aside", slog.LevelError, "embedded store: could not set a corrupt record aside; the next read that meets it tries again",
			"file", s.file, "error", err)
	}
}

// setAside sets the records aside in one write. A corrupt record met on
// the way (another delivery of a corrupt event) is set aside first.
func (s *Store) setAside(ctx context.Context, refs []corruptRef) error {
	for n := 0; ; n++ {
		err := s.batchOnce(ctx, func(t *txn) error {
			for _, r := range refs {
				if err := t.setAside(r); err != nil {
					return err
				}
			}
			return nil
		}, false)
		var ce *corruptError
		if n == maxSetAside || !errors.As(err, &ce) {
			return err
		}
		refs = append([]corruptRef{ce.ref}, refs...)
	}
}

// setAside moves the record r names into the corrupt bucket and removes
// what names it, unless it is no longer there as it was read (set aside
// already, or written afresh since).
func (t *txn) setAside(r corruptRef) error {
	if cur := t.tx.Bucket([]byte(r.bucket)).Get(r.key); cur == nil || !bytes.Equal(cur, r.raw) {
		return nil
	}
	cb, err := t.tx.CreateBucketIfNotExists(bktCorrupt)
	if err != nil {
		return err
	}
	v := append(u64(timeBits(time.Now())), r.raw...)
	if err := cb.Put(append(append([]byte(r.bucket), 0), r.key...), v); err != nil {
		return err
	}
	var id, sub, what string
	switch string(r.bucket) {
	case string(bktEvents):
		_, id = splitTimeKey(r.key)
		what = "the event cannot be sent (its body is unreadable): its deliveries were dropped, its bytes kept in the corrupt bucket"
		err = t.dropCorruptEvent(r.key)
	case string(bktDeliveries):
		ek, s := splitDeliveryKey(r.key)
		_, id = splitTimeKey(ek)
		sub = s
		what = "the delivery left the queue; once the disk is checked, POST /admin/api/events/" + id +
			"/redeliver?subscriber=" + sub + " queues it again"
		err = t.dropCorruptDelivery(r.key)
	case string(bktHistory):
		what = "one attempt of the delivery's history was dropped"
		err = t.history.Delete(r.key)
	case string(bktStats):
		sub = string(r.key)
		what = "the subscriber's counters were recounted; delivered and last success start again from zero"
		err = t.recountStats(sub)
	case string(bktIDs):
		id = string(r.key)
		what = "the event id is forgotten: an upstream redelivery of it is stored again"
		err = t.ids.Delete(r.key)
	default:
		return fmt.Errorf("set aside %s record %q: not a record bucket", r.bucket, r.key)
	}
	if err != nil {
		return err
	}
	t.tx.OnCommit(func() {
		slog.Default().Error("embedded store: a record that does not decode was set aside; the rest of its queue goes on. "+
			"A damaged record is often the first sign of a failing disk: check it",
			"record", r.bucket, "event", id, "subscriber", sub, "error", r.err, "what", what)
	})
	return nil
}

// splitDeliveryKey undoes deliveryKey: the eventKey (8 bytes of time,
// then the id, which holds no NUL) and the subscriber.
func splitDeliveryKey(k []byte) (ek []byte, sub string) {
	if len(k) < 8 {
		return k, ""
	}
	i := bytes.IndexByte(k[8:], 0)
	if i < 0 {
		return k, ""
	}
	return k[:8+i], string(k[8+i+1:])
}

// dropCorruptEvent removes, with what names it, the event stored under
// lk, whose record is in the corrupt bucket now: its deliveries (as Purge
// deletes them; one that does not decode is set aside in turn), its
// listing entries, and its id entry, so that an upstream redelivery of it
// is stored again. Its source and type, which name two of its listing
// entries, were in the record: those entries are looked for under every
// source and type.
func (t *txn) dropCorruptEvent(lk []byte) error {
	recv, id := splitTimeKey(lk)
	if err := t.events.Delete(lk); err != nil {
		return err
	}
	prefix := deliveryPrefix(lk)
	var keys, vals [][]byte
	c := t.deliveries.Cursor()
	for k, v := c.Seek(prefix); hasPrefix(k, prefix); k, v = c.Next() {
		keys, vals = append(keys, bytes.Clone(k)), append(vals, bytes.Clone(v))
	}
	for i, k := range keys {
		sub := string(k[len(prefix):])
		rec, err := decodeDelivery(vals[i])
		if err != nil {
			if err := t.setAside(corruptRef{bucket: string(bktDeliveries), key: k, raw: vals[i], err: err}); err != nil {
				return err
			}
			continue
		}
		if rec.Ordered {
			if err := t.endLinesHeadedBy(id, sub, recv); err != nil {
				return err
			}
		}
		if err := t.deleteDelivery(id, sub, recv, &rec, false); err != nil {
			return err
		}
	}
	if err := t.listAll.Delete(lk); err != nil {
		return err
	}
	for _, parent := range []*bolt.Bucket{t.listSrc, t.listType} {
		if err := deleteFromEvery(parent, lk); err != nil {
			return err
		}
	}
	if err := t.setEventStatuses(id, recv, nil); err != nil {
		return err
	}
	e, err := t.getID(id)
	if err != nil || !e.hasEvent || e.recv != timeBits(recv) {
		return err
	}
	if e.deadline != 0 {
		if err := t.dedupeExp.Delete(bitsKey(e.deadline, id)); err != nil {
			return err
		}
	}
	return t.putID(id, idEntry{})
}

// deleteFromEvery deletes key from every bucket nested in parent.
func deleteFromEvery(parent *bolt.Bucket, key []byte) error {
	var names [][]byte
	if err := parent.ForEachBucket(func(name []byte) error {
		names = append(names, bytes.Clone(name))
		return nil
	}); err != nil {
		return err
	}
	for _, name := range names {
		if err := parent.Bucket(name).Delete(key); err != nil {
			return err
		}
	}
	return nil
}

// dropCorruptDelivery removes, with what names it, the delivery stored
// under key, whose record is in the corrupt bucket now. The record would
// have said where its queue or dead entry is; without it, the
// subscriber's indexes are searched for entries naming the event, and
// the counters are moved by what is found.
func (t *txn) dropCorruptDelivery(key []byte) error {
	ek, sub := splitDeliveryKey(key)
	recv, id := splitTimeKey(ek)
	t.fence(id, sub)
	if err := t.deliveries.Delete(key); err != nil {
		return err
	}
	prefix := historyPrefix(ek, sub)
	var hist [][]byte
	c := t.history.Cursor()
	for k, _ := c.Seek(prefix); hasPrefix(k, prefix); k, _ = c.Next() {
		hist = append(hist, bytes.Clone(k))
	}
	for _, k := range hist {
		if err := t.history.Delete(k); err != nil {
			return err
		}
	}
	pending, err := dropEntriesNaming(t.due.Bucket([]byte(sub)), id)
	if err != nil {
		return err
	}
	dead, err := dropEntriesNaming(t.dead.Bucket([]byte(sub)), id)
	if err != nil {
		return err
	}
	var retrying int64
	for _, st := range []gateway.DeliveryStatus{gateway.StatusRetrying, gateway.StatusDead} {
		b := t.listSS.Bucket(subStatusName(sub, string(st)))
		if b == nil || !keyIn(b, ek) {
			continue
		}
		retrying += count(st == gateway.StatusRetrying)
		if err := b.Delete(ek); err != nil {
			return err
		}
	}
	if err := t.index(t.listSub, sub, ek, false); err != nil {
		return err
	}
	if err := t.updateStats(sub, func(st *gateway.SubscriberStats) {
		st.Pending -= pending
		st.Dead -= dead
		st.Retrying -= retrying
	}); err != nil {
		return err
	}
	if err := t.endLinesHeadedBy(id, sub, recv); err != nil {
		return err
	}
	if t.events.Get(ek) == nil {
		return nil // the event is being set aside itself
	}
	return t.syncEventStatus(id, recv)
}

// dropEntriesNaming deletes the entries of idx (a subscriber's due or
// dead index: time(8), event id) that name the event id, and returns how
// many.
func dropEntriesNaming(idx *bolt.Bucket, id string) (int64, error) {
	if idx == nil {
		return 0, nil
	}
	var keys [][]byte
	c := idx.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) >= 8 && string(k[8:]) == id {
			keys = append(keys, bytes.Clone(k))
		}
	}
	for _, k := range keys {
		if err := idx.Delete(k); err != nil {
			return 0, err
		}
	}
	return int64(len(keys)), nil
}

// endLinesHeadedBy lets the next delivery go in every ordered line of sub
// that event id heads (its subject, which names the line, may be
// unreadable), due at due.
func (t *txn) endLinesHeadedBy(id, sub string, due time.Time) error {
	prefix := append([]byte(sub), 0)
	var subjects []string
	c := t.order.Cursor()
	for k, v := c.Seek(prefix); hasPrefix(k, prefix); k, v = c.Next() {
		if string(v) != id {
			continue
		}
		if subject, ok := subjectOf(k[len(prefix):]); ok {
			subjects = append(subjects, subject)
		}
	}
	for _, subject := range subjects {
		if err := t.promoteNext(sub, subject, due); err != nil {
			return err
		}
	}
	return nil
}

// recountStats rewrites the subscriber's counters from its indexes: the
// queue, the dead index and the retrying listing. What no index holds
// (delivered, the last success, the last error) starts again from zero.
func (t *txn) recountStats(sub string) error {
	keys := func(b *bolt.Bucket) int64 {
		if b == nil {
			return 0
		}
		return int64(b.Stats().KeyN)
	}
	st := gateway.SubscriberStats{
		Pending:  keys(t.due.Bucket([]byte(sub))),
		Dead:     keys(t.dead.Bucket([]byte(sub))),
		Retrying: keys(t.listSS.Bucket(subStatusName(sub, string(gateway.StatusRetrying)))),
	}
	return t.stats.Put([]byte(sub), encodeStats(st))
}

// corruptCount is how many records are in the corrupt bucket.
func (t *txn) corruptCount() int64 {
	b := t.tx.Bucket(bktCorrupt)
	if b == nil {
		return 0
	}
	return int64(b.Stats().KeyN)
}
