package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"
)

// chunked runs a long job as a series of write transactions, one step
// each, until step reports it done: between steps the group commit gets
// the file, so the job holds up ingest for one step at a time. state is
// what carries over from step to step; it advances only when a step's
// transaction has committed, and on error the last committed state comes
// back with the error. ctx is checked before every step.
func chunked[S any](ctx context.Context, s *Store, op string, state S, step func(t *txn, st S) (S, bool, error)) (S, error) {
	for {
		var next S
		var done bool
		err := s.update(ctx, op, func(t *txn) error {
			var err error
			next, done, err = step(t, state)
			return err
		})
		if err != nil {
			return state, err
		}
		if state = next; done {
			return state, nil
		}
	}
}

// Sweep drops events received at least retention before now (with their
// deliveries, history and index entries; each leaves a tombstone when
// store.tombstone_window is set), dead deliveries dead at least retention
// before now, dedupe entries whose window has ended, and tombstones past
// theirs: four passes, each in chunks of bounded transactions.
func (s *Store) Sweep(ctx context.Context, now time.Time) error {
	s.leases.prune(now)
	cutoff := timeBits(now.Add(-s.retention))
	tomb := func(t *txn, id string) error { return nil }
	if s.tombWin > 0 {
		tomb = func(t *txn, id string) error { return t.addTomb(id, now, s.tombWin) }
	}
	_, err := chunked(ctx, s, "sweep events", []byte(nil), func(t *txn, from []byte) ([]byte, bool, error) {
		next, err := t.sweepEvents(cutoff, from, s.chunk, tomb)
		return next, next == nil, err
	})
	if err != nil {
		return err
	}
	_, err = chunked(ctx, s, "sweep dead", deadPos{}, func(t *txn, from deadPos) (deadPos, bool, error) {
		return t.sweepDead(cutoff, from, s.chunk)
	})
	if err != nil {
		return err
	}
	_, err = chunked(ctx, s, "sweep dedupe", struct{}{}, func(t *txn, st struct{}) (struct{}, bool, error) {
		more, err := t.sweepDedupe(timeBits(now), s.chunk)
		return st, !more, err
	})
	if err != nil || s.tombWin <= 0 {
		return err
	}
	_, err = chunked(ctx, s, "sweep tombstones", struct{}{}, func(t *txn, st struct{}) (struct{}, bool, error) {
		more, err := t.sweepTombs(now, s.tombWin, s.chunk)
		return st, !more, err
	})
	return err
}

// sweepEvents removes up to max expired events, starting at the listing
// key from (nil: the oldest). It returns where the next chunk starts, nil
// when done. An event with a delivery still queued (a paused subscriber,
// an open breaker) is kept past retention: it is removed once its
// deliveries have ended, never before, since nothing accepted may be lost.
// tomb is called with the id of each event removed.
func (t *txn) sweepEvents(cutoff uint64, from []byte, max int, tomb func(t *txn, id string) error) (next []byte, err error) {
	var ids []string
	c := t.listAll.Cursor()
	k, _ := c.First()
	if from != nil {
		k, _ = c.Seek(from)
	}
	for ; k != nil && binary.BigEndian.Uint64(k) <= cutoff; k, _ = c.Next() {
		if len(ids) == max {
			next = bytes.Clone(k)
			break
		}
		_, id := splitTimeKey(k)
		ids = append(ids, id)
	}
	for _, id := range ids {
		removed, err := t.deleteEventUnlessQueued(id)
		if err != nil {
			return nil, err
		}
		if removed {
			if err := tomb(t, id); err != nil {
				return nil, err
			}
		}
	}
	return next, nil
}

// deleteEventUnlessQueued deletes the event unless a delivery of it is
// still pending or retrying, and reports whether it did.
func (t *txn) deleteEventUnlessQueued(id string) (bool, error) {
	rec, ok, err := t.getEvent(id, false)
	if err != nil || !ok {
		return false, err
	}
	_, recs, err := t.eventDeliveries(eventKey(rec.ReceivedAt, id))
	if err != nil {
		return false, err
	}
	for i := range recs {
		if recs[i].queued() {
			return false, nil
		}
	}
	return true, t.deleteEvent(id)
}

// deadPos is where a sweepDead chunk starts: the dead index of sub, at key
// (nil: its first).
type deadPos struct {
	sub string
	key []byte
}

// sweepDead removes up to max dead deliveries whose dead time is past
// retention though their event is not (an event outlives retention only
// if its delivery died later than it was received, so this is rare),
// walking the subscribers' dead indexes in name order from from. An
// index entry that names no such dead delivery is dropped. done reports
// that no chunk is left.
func (t *txn) sweepDead(cutoff uint64, from deadPos, max int) (next deadPos, done bool, err error) {
	type victim struct {
		sub string
		key []byte
	}
	var victims []victim
	full := false
	subs := t.dead.Cursor()
walk:
	for sk, _ := subs.Seek([]byte(from.sub)); sk != nil; sk, _ = subs.Next() {
		b := t.dead.Bucket(sk)
		if b == nil {
			continue
		}
		c := b.Cursor()
		k, _ := c.First()
		if string(sk) == from.sub && from.key != nil {
			k, _ = c.Seek(from.key)
		}
		for ; k != nil && binary.BigEndian.Uint64(k) <= cutoff; k, _ = c.Next() {
			if len(victims) == max {
				next, full = deadPos{sub: string(sk), key: bytes.Clone(k)}, true
				break walk
			}
			victims = append(victims, victim{string(sk), bytes.Clone(k)})
		}
	}
	for _, v := range victims {
		if err := t.dropDead(v.sub, v.key); err != nil {
			return deadPos{}, false, err
		}
	}
	return next, !full, nil
}

// dropDead deletes the dead delivery that dead-index key k of sub names,
// with its history, or the entry alone if it names none.
func (t *txn) dropDead(sub string, k []byte) error {
	_, id := splitTimeKey(k)
	ev, ok, err := t.getEvent(id, false)
	if err != nil {
		return err
	}
	if ok {
		rec, found, err := t.getDelivery(eventKey(ev.ReceivedAt, id), sub)
		if err != nil {
			return err
		}
		if found && rec.indexedAt(k, id, true) {
			return t.deleteDelivery(id, sub, ev.ReceivedAt, &rec, true)
		}
	}
	return t.dead.Bucket([]byte(sub)).Delete(k)
}

// sweepDedupe forgets up to max ids whose dedupe window ended at or before
// now; more reports that others may be left. Each entry it visits is
// deleted, so every chunk starts at the front.
func (t *txn) sweepDedupe(now uint64, max int) (more bool, err error) {
	var keys [][]byte
	c := t.dedupeExp.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= now; k, _ = c.Next() {
		if len(keys) == max {
			more = true
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := t.dedupeExp.Delete(k); err != nil {
			return false, err
		}
		id := string(k[8:])
		e, err := t.getID(id)
		if err != nil {
			return false, err
		}
		if e.deadline == binary.BigEndian.Uint64(k) {
			e.deadline = 0 // forgotten; an entry with an event stays
			if err := t.putID(id, e); err != nil {
				return false, err
			}
		}
	}
	return more, nil
}
