package boltstore

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Redeliver queues the event's delivery to sub (every delivery when sub is
// ""), due at now, fresh: attempts, last result and CreatedAt reset, while
// the history keeps every earlier attempt. A delivery under lease loses it: the worker's
// Record gets ErrLeaseLost and the delivery goes out again.
func (s *Store) Redeliver(ctx context.Context, eventID, sub string, now time.Time) (int, error) {
	var n int
	err := s.update(ctx, "redeliver "+eventID, func(t *txn) error {
		ev, ok, err := t.getEvent(eventID, false)
		if err != nil {
			return err
		}
		if !ok {
			return gateway.ErrNotFound
		}
		n, err = t.redeliver(eventID, sub, ev.ReceivedAt, now)
		return err
	})
	return n, err
}

// redeliver does Redeliver's work for one event.
func (t *txn) redeliver(id, sub string, recv, now time.Time) (int, error) {
	var subs []string
	var recs []*deliveryRec
	if sub == "" {
		all, vals, err := t.eventDeliveries(eventKey(recv, id))
		if err != nil {
			return 0, err
		}
		subs = all
		for i := range vals {
			recs = append(recs, &vals[i])
		}
	} else {
		rec, ok, err := t.getDelivery(eventKey(recv, id), sub)
		if err != nil {
			return 0, err
		}
		subs = []string{sub}
		recs = []*deliveryRec{nil}
		if ok {
			recs[0] = &rec
		}
	}
	for _, sub := range subs {
		if t.call != nil && t.call.held(leaseKey(id, sub), now) {
			return 0, gateway.ErrConflict
		}
	}
	for i, sub := range subs {
		t.fence(id, sub)
		next := deliveryRec{Status: gateway.StatusPending, CreatedAt: now, NextAt: now, DueAt: now}
		if old := recs[i]; old != nil {
			next.HistSeq = old.HistSeq
		}
		if err := t.setDelivery(id, sub, recv, recs[i], &next, false); err != nil {
			return 0, err
		}
	}
	if len(subs) > 0 {
		if err := t.syncEventStatus(id, recv); err != nil {
			return 0, err
		}
	}
	return len(subs), nil
}

// RedeliverDead queues every dead delivery of the subscriber again.
func (s *Store) RedeliverDead(ctx context.Context, sub string, now time.Time) (int, error) {
	var n int
	err := s.update(ctx, "redeliver dead "+sub, func(t *txn) error {
		n = 0
		dead := t.dead.Bucket([]byte(sub))
		if dead == nil {
			return nil
		}
		var ids []string
		c := dead.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			_, id := splitTimeKey(k)
			ids = append(ids, id)
		}
		for _, id := range ids {
			ev, ok, err := t.getEvent(id, false)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			q, err := t.redeliver(id, sub, ev.ReceivedAt, now)
			if err != nil {
				return err
			}
			n += q
		}
		return nil
	})
	return n, err
}

// sweepChunk bounds the events one Sweep transaction removes, so that a
// large backlog is dropped in several commits instead of one huge one.
const sweepChunk = 1000

// Sweep drops events received at least retention before now (with their
// deliveries, history and index entries), dead deliveries dead at least
// retention before now, and dedupe entries whose window has ended.
func (s *Store) Sweep(ctx context.Context, now time.Time) error {
	s.leases.prune(now)
	cutoff := timeBits(now.Add(-s.retention))
	var from []byte
	for {
		var next []byte
		err := s.update(ctx, "sweep", func(t *txn) error {
			var err error
			next, err = t.sweepChunk(cutoff, timeBits(now), from)
			return err
		})
		if err != nil || next == nil {
			return err
		}
		from = next
	}
}

// sweepChunk removes up to sweepChunk expired events, starting at the
// listing key from, then (on the last chunk) expired dead deliveries and
// dedupe entries. It returns where the next chunk starts, nil when done.
// An event with a delivery still queued (a paused subscriber, an open
// breaker) is kept past retention: it is removed once its deliveries have
// ended, never before, since nothing accepted may be lost.
func (t *txn) sweepChunk(cutoff, now uint64, from []byte) (next []byte, err error) {
	var ids []string
	c := t.listAll.Cursor()
	k, _ := c.First()
	if from != nil {
		k, _ = c.Seek(from)
	}
	for ; k != nil && binary.BigEndian.Uint64(k) <= cutoff; k, _ = c.Next() {
		if len(ids) == sweepChunk {
			next = append([]byte(nil), k...)
			break
		}
		_, id := splitTimeKey(k)
		ids = append(ids, id)
	}
	for _, id := range ids {
		if err := t.deleteEventUnlessQueued(id); err != nil {
			return nil, err
		}
	}
	if next != nil {
		return next, nil
	}
	if err := t.sweepDead(cutoff); err != nil {
		return nil, err
	}
	return nil, t.sweepDedupe(now)
}

// deleteEventUnlessQueued deletes the event unless a delivery of it is
// still pending or retrying.
func (t *txn) deleteEventUnlessQueued(id string) error {
	rec, ok, err := t.getEvent(id, false)
	if err != nil || !ok {
		return err
	}
	_, recs, err := t.eventDeliveries(eventKey(rec.ReceivedAt, id))
	if err != nil {
		return err
	}
	for i := range recs {
		if recs[i].queued() {
			return nil
		}
	}
	return t.deleteEvent(id)
}

// sweepDead removes dead deliveries whose dead time is past retention
// though their event is not (an event outlives retention only if its
// delivery died later than it was received, so this is rare).
func (t *txn) sweepDead(cutoff uint64) error {
	type victim struct{ id, sub string }
	var victims []victim
	err := t.dead.ForEachBucket(func(sub []byte) error {
		c := t.dead.Bucket(sub).Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= cutoff; k, _ = c.Next() {
			_, id := splitTimeKey(k)
			victims = append(victims, victim{id, string(sub)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, v := range victims {
		ev, evOK, err := t.getEvent(v.id, false)
		if err != nil {
			return err
		}
		if !evOK {
			continue
		}
		rec, ok, err := t.getDelivery(eventKey(ev.ReceivedAt, v.id), v.sub)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := t.deleteDelivery(v.id, v.sub, ev.ReceivedAt, &rec, true); err != nil {
			return err
		}
	}
	return nil
}

// sweepDedupe forgets ids whose dedupe window ended at or before now.
func (t *txn) sweepDedupe(now uint64) error {
	var keys [][]byte
	c := t.dedupeExp.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= now; k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := t.dedupeExp.Delete(k); err != nil {
			return err
		}
		id := string(k[8:])
		e, err := t.getID(id)
		if err != nil {
			return err
		}
		if e.deadline == binary.BigEndian.Uint64(k) {
			e.deadline = 0 // forgotten; an entry with an event stays
			if err := t.putID(id, e); err != nil {
				return err
			}
		}
	}
	return nil
}
