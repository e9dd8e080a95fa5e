package boltstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Put stores the events and their deliveries in one transaction, shared
// with concurrent Put calls, and returns once it is committed and fsynced.
// An id is a duplicate (storeDuplicate) while it is within its dedupe
// window, or, with tombstones (store.tombstone_window), while its event
// is retained or its tombstone kept; otherwise it is stored afresh,
// replacing an old event of that id, its deliveries and their history.
//
// A duplicate costs no write: a Put whose events are all duplicates is
// answered from a read transaction (once its ids were seen: recentIDs), and the duplicates counters are
// written a second later, many in one transaction (dups). So a replay
// flood does not become a flood of fsyncs.
//
// If ctx ends first, Put returns its error at once: the events are then
// either not stored or stored in full (groupCommit.do), and the caller
// answers 503 either way; the upstream's retry is stored or recognized as
// a duplicate. The events' memory may be read until that transaction is
// over, so the caller must not reuse it (ingest builds fresh bodies).
func (s *Store) Put(ctx context.Context, events []gateway.NewEvent) ([]gateway.PutResult, error) {
	for i := range events {
		if events[i].Envelope.ID == "" {
			return nil, wrap("put", badInput("event %d has no id", i))
		}
	}
	id := func(i int) string { return events[i].Envelope.ID }
	if s.recent.all(id, len(events)) {
		if results, counted, ok := s.allDuplicates(ctx, events); ok {
			s.countDuplicates(events, counted)
			return results, nil
		}
	}
	var results []gateway.PutResult
	var counted []bool
	err := s.batchUrgent(ctx, "put", func(t *txn) error {
		results, counted = make([]gateway.PutResult, len(events)), make([]bool, len(events))
		for i := range events {
			dup, count, err := s.putOne(t, &events[i])
			if err != nil {
				return err
			}
			results[i].Duplicate, counted[i] = dup, count
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.recent.add(id, len(events))
	s.countDuplicates(events, counted)
	return results, nil
}

// allDuplicates answers a Put whose events are all duplicates from a read
// transaction, with which of them have an event to count on; ok is false
// if any event may be new (or the read failed): the write path then
// decides, under the write lock.
func (s *Store) allDuplicates(ctx context.Context, events []gateway.NewEvent) (results []gateway.PutResult, counted []bool, ok bool) {
	results, counted = make([]gateway.PutResult, len(events)), make([]bool, len(events))
	all := false // not an error when one is new: this is every new event's path
	err := s.viewDedupe(ctx, "put", func(t *txn) error {
		for i := range events {
			old, err := t.getID(events[i].Envelope.ID)
			if err != nil {
				return err
			}
			dup, count := s.duplicate(t, &events[i], old)
			if !dup {
				return nil
			}
			results[i].Duplicate, counted[i] = true, count
		}
		all = true
		return nil
	})
	return results, counted, err == nil && all
}

// duplicate reports whether ev is a duplicate of what the store knows of
// its id (old, its id entry), and whether its event is stored, for its
// duplicates counter.
func (s *Store) duplicate(t *txn, ev *gateway.NewEvent, old idEntry) (dup, counted bool) {
	switch {
	case timeBits(ev.ReceivedAt) < old.deadline:
		return true, old.hasEvent
	case s.tombWin > 0 && old.hasEvent:
		return true, true // past its dedupe window, but retained
	case s.tombWin > 0 && t.tombstoned(ev.Envelope.ID, ev.ReceivedAt, s.tombWin):
		return true, false // removed at retention: only its tombstone is left
	}
	return false, false
}

// countDuplicates counts the duplicates that have an event, in dups.
func (s *Store) countDuplicates(events []gateway.NewEvent, counted []bool) {
	for i, c := range counted {
		if c {
			s.dups.Add(events[i].Envelope.ID, 0)
		}
	}
}

// Duplicates counters are written dupDelay after the first one counted,
// for at most maxDupIDs events per transaction (gateway.DuplicateTally).
const (
	dupDelay  = time.Second
	maxDupIDs = 10000
)

// writeDuplicates adds counts to the events' duplicates counters, in one
// transaction; events gone meanwhile are skipped.
func (s *Store) writeDuplicates(counts map[string]gateway.DuplicateCount) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.batch(ctx, "count duplicates", func(t *txn) error {
		for id, c := range counts {
			rec, ok, err := t.getEvent(id, true)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			rec.Duplicates += int64(c.N)
			if err := t.events.Put(eventKey(rec.ReceivedAt, id), rec.encode()); err != nil {
				return err
			}
		}
		return nil
	})
}

// putOne stores one event unless it is a duplicate. The same id twice in
// one Put is caught by the id entry the first one wrote.
func (s *Store) putOne(t *txn, ev *gateway.NewEvent) (dup, counted bool, err error) {
	id := ev.Envelope.ID
	old, err := t.getID(id)
	if err != nil {
		return false, false, err
	}
	if dup, counted := s.duplicate(t, ev, old); dup {
		return true, counted, nil
	}
	if old.hasEvent {
		if err := t.deleteEvent(id); err != nil {
			return false, false, err
		}
	}
	if err := t.insertEvent(ev); err != nil {
		return false, false, fmt.Errorf("store %s: %w", id, err)
	}
	return false, false, t.setID(id, ev.ReceivedAt, ev.ReceivedAt.Add(s.dedupe), old.deadline)
}

// setID records that id's event, received at recv, is stored and that
// the id is known until deadline, moving the expiry entry of the old
// deadline (0: none).
func (t *txn) setID(id string, recv, deadline time.Time, oldDeadline uint64) error {
	if oldDeadline != 0 {
		if err := t.dedupeExp.Delete(bitsKey(oldDeadline, id)); err != nil {
			return err
		}
	}
	if err := t.dedupeExp.Put(timeKey(deadline, id), nil); err != nil {
		return err
	}
	return t.putID(id, idEntry{deadline: timeBits(deadline), hasEvent: true, recv: timeBits(recv)})
}

// insertEvent writes a new event, its listing entries and one pending
// delivery per distinct subscriber, due at receipt.
func (t *txn) insertEvent(ev *gateway.NewEvent) error {
	id, recv := ev.Envelope.ID, ev.ReceivedAt
	rec := eventRec{Source: ev.Envelope.Source, Type: ev.Envelope.Type, Subject: ev.Envelope.Subject,
		ReceivedAt: recv, Body: ev.Body}
	lk := timeKey(recv, id) // the listing key, and the eventKey
	if err := t.events.Put(lk, rec.encode()); err != nil {
		return err
	}
	if err := t.listAll.Put(lk, nil); err != nil {
		return err
	}
	if err := t.index(t.listSrc, rec.Source, lk, true); err != nil {
		return err
	}
	if err := t.index(t.listType, rec.Type, lk, true); err != nil {
		return err
	}
	seen := make(map[string]bool, len(ev.Subscribers))
	for _, sub := range ev.Subscribers {
		if sub == "" || seen[sub] {
			continue
		}
		seen[sub] = true
		d := deliveryRec{Status: gateway.StatusPending, CreatedAt: recv, NextAt: recv, DueAt: recv}
		if rec.Subject != "" && slices.Contains(ev.Ordered, sub) {
			if err := t.placeInLine(id, sub, rec.Subject, recv, &d, recv); err != nil {
				return err
			}
		}
		if err := t.setDelivery(id, sub, recv, nil, &d, false); err != nil {
			return err
		}
	}
	return t.setEventStatuses(id, recv, map[gateway.DeliveryStatus]bool{gateway.StatusUnrouted: len(seen) == 0})
}

// deleteEvent removes an event with its deliveries, their history and
// every index entry that names it. Its id entry keeps the dedupe
// deadline: the dedupe window and retention end independently.
func (t *txn) deleteEvent(id string) error {
	rec, ok, err := t.getEvent(id, false)
	if err != nil || !ok {
		return err
	}
	subs, recs, err := t.eventDeliveries(eventKey(rec.ReceivedAt, id))
	if err != nil {
		return err
	}
	for i, sub := range subs {
		// A head that goes lets the next of its line go, due at once.
		if recs[i].Ordered && rec.Subject != "" {
			if err := t.headEnded(id, sub, rec.Subject, rec.ReceivedAt); err != nil {
				return err
			}
		}
		if err := t.deleteDelivery(id, sub, rec.ReceivedAt, &recs[i], false); err != nil {
			return err
		}
	}
	lk := timeKey(rec.ReceivedAt, id)
	if err := t.listAll.Delete(lk); err != nil {
		return err
	}
	if err := t.index(t.listSrc, rec.Source, lk, false); err != nil {
		return err
	}
	if err := t.index(t.listType, rec.Type, lk, false); err != nil {
		return err
	}
	if err := t.setEventStatuses(id, rec.ReceivedAt, nil); err != nil {
		return err
	}
	if err := t.events.Delete(lk); err != nil {
		return err
	}
	e, err := t.getID(id)
	if err != nil {
		return err
	}
	e.hasEvent, e.recv = false, 0
	return t.putID(id, e)
}

// deleteDelivery removes one delivery, its history and its index entries.
func (t *txn) deleteDelivery(id, sub string, recv time.Time, rec *deliveryRec, sync bool) error {
	prefix := historyPrefix(eventKey(recv, id), sub)
	var keys [][]byte
	c := t.history.Cursor()
	for k, _ := c.Seek(prefix); hasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := t.history.Delete(k); err != nil {
			return err
		}
	}
	return t.setDelivery(id, sub, recv, rec, nil, sync)
}
