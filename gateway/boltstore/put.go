package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Put stores the events and their deliveries in one transaction, shared
// with concurrent Put calls, and returns once it is committed and fsynced.
// An event whose id was stored less than the dedupe window before its
// ReceivedAt is a duplicate: only the stored event's duplicates counter
// changes. An id seen again after the window is stored afresh, replacing
// the old event, its deliveries and their history.
func (s *Store) Put(ctx context.Context, events []gateway.NewEvent) ([]gateway.PutResult, error) {
	for i := range events {
		if events[i].Envelope.ID == "" {
			return nil, wrap("put", badInput("event %d has no id", i))
		}
	}
	var results []gateway.PutResult
	err := s.batch(ctx, "put", func(t *txn) error {
		results = make([]gateway.PutResult, len(events))
		for i := range events {
			dup, err := s.putOne(t, &events[i])
			if err != nil {
				return err
			}
			results[i].Duplicate = dup
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// putOne stores one event unless it is a duplicate. The same id twice in
// one Put is caught by the dedupe entry the first one wrote.
func (s *Store) putOne(t *txn, ev *gateway.NewEvent) (dup bool, err error) {
	id := ev.Envelope.ID
	if v := t.dedupe.Get([]byte(id)); len(v) == 8 && timeBits(ev.ReceivedAt) < binary.BigEndian.Uint64(v) {
		return true, t.countDuplicate(id)
	}
	if _, ok, err := t.getEvent(id, false); err != nil {
		return false, err
	} else if ok {
		if err := t.deleteEvent(id); err != nil {
			return false, err
		}
	}
	if err := t.insertEvent(ev); err != nil {
		return false, fmt.Errorf("store %s: %w", id, err)
	}
	return false, t.setDedupe(id, ev.ReceivedAt.Add(s.dedupe))
}

// countDuplicate bumps the stored event's duplicates counter. The event
// may be gone already (retention shorter than the dedupe window): then
// there is nothing to count on.
func (t *txn) countDuplicate(id string) error {
	rec, ok, err := t.getEvent(id, true)
	if err != nil || !ok {
		return err
	}
	rec.Duplicates++
	return t.events.Put([]byte(id), rec.encode())
}

// setDedupe records that id is known until deadline, replacing an older
// deadline and its expiry entry.
func (t *txn) setDedupe(id string, deadline time.Time) error {
	if old := t.dedupe.Get([]byte(id)); len(old) == 8 {
		if err := t.dedupeExp.Delete(append(append([]byte(nil), old...), id...)); err != nil {
			return err
		}
	}
	k := timeKey(deadline, id)
	if err := t.dedupe.Put([]byte(id), k[:8]); err != nil {
		return err
	}
	return t.dedupeExp.Put(k, nil)
}

// insertEvent writes a new event, its listing entries and one pending
// delivery per distinct subscriber, due at receipt.
func (t *txn) insertEvent(ev *gateway.NewEvent) error {
	id, recv := ev.Envelope.ID, ev.ReceivedAt
	rec := eventRec{Source: ev.Envelope.Source, Type: ev.Envelope.Type, Subject: ev.Envelope.Subject,
		ReceivedAt: recv, Body: ev.Body}
	if err := t.events.Put([]byte(id), rec.encode()); err != nil {
		return err
	}
	lk := timeKey(recv, id)
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
		if err := t.setDelivery(id, sub, recv, nil, &d, false); err != nil {
			return err
		}
	}
	return t.setEventStatuses(id, recv, map[gateway.DeliveryStatus]bool{
		gateway.StatusPending:  len(seen) > 0,
		gateway.StatusUnrouted: len(seen) == 0,
	})
}

// deleteEvent removes an event with its deliveries, their history and
// every index entry that names it. Its dedupe entry stays: the dedupe
// window and retention end independently.
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
	return t.events.Delete([]byte(id))
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
