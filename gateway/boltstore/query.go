package boltstore

import (
	"context"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Listing limits, as EventFilter documents them; Dead uses the same.
const (
	DefaultLimit = 50
	MaxLimit     = gateway.MaxPage
)

func capLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// Event returns the event with its deliveries and their full history.
func (s *Store) Event(ctx context.Context, id string) (gateway.EventRecord, error) {
	var out gateway.EventRecord
	err := s.view(ctx, "event "+id, func(t *txn) error {
		ev, ok, err := t.getEvent(id, true)
		if err != nil {
			return err
		}
		if !ok {
			return gateway.ErrNotFound
		}
		out = gateway.EventRecord{Envelope: ev.Body, ID: id, Source: ev.Source, Type: ev.Type,
			Subject: ev.Subject, ReceivedAt: ev.ReceivedAt, Duplicates: int(ev.Duplicates) + s.dups.Pending(id),
			Deliveries: []gateway.DeliveryRecord{}}
		ek := eventKey(ev.ReceivedAt, id)
		subs, recs, err := t.eventDeliveries(ek)
		if err != nil {
			return err
		}
		for i, sub := range subs {
			d := deliveryRecord(id, sub, &recs[i])
			if recs[i].Waiting && recs[i].queued() {
				d.WaitingOn, d.NextAttemptAt = t.waitingOn(sub, ev.Subject), nil
			}
			if d.History, err = t.readHistory(ek, sub); err != nil {
				return err
			}
			out.Deliveries = append(out.Deliveries, d)
		}
		return nil
	})
	return out, err
}

// deliveryRecord is rec as the admin API shows it, without history.
func deliveryRecord(id, sub string, rec *deliveryRec) gateway.DeliveryRecord {
	d := gateway.DeliveryRecord{EventID: id, Subscriber: sub, Status: rec.Status, Attempts: rec.Attempts,
		CreatedAt: rec.CreatedAt, LastStatusCode: rec.LastCode, LastError: rec.LastError}
	if rec.Status == gateway.StatusDead {
		d.DeadReason = rec.DeadReason
	}
	if rec.queued() {
		next := rec.NextAt
		d.NextAttemptAt = &next
	}
	return d
}

// readHistory returns a delivery's attempts, oldest first.
func (t *txn) readHistory(ek []byte, sub string) ([]gateway.Attempt, error) {
	hist := []gateway.Attempt{}
	prefix := historyPrefix(ek, sub)
	c := t.history.Cursor()
	for k, v := c.Seek(prefix); hasPrefix(k, prefix); k, v = c.Next() {
		a, err := decodeAttempt(v)
		if err != nil {
			if err := t.corrupted(bktHistory, k, v, err); err != nil {
				return nil, err
			}
			continue
		}
		hist = append(hist, a)
	}
	return hist, nil
}

// Dead returns the subscriber's dead deliveries, most recently dead first:
// a reverse walk of its dead index. With a reason, the walk passes over
// the others, and stops after gateway.DeadScan entries.
func (s *Store) Dead(ctx context.Context, sub string, f gateway.DeadFilter) ([]gateway.DeliveryRecord, error) {
	limit := capLimit(f.Limit)
	out := []gateway.DeliveryRecord{}
	err := s.view(ctx, "dead "+sub, func(t *txn) error {
		dead := t.dead.Bucket([]byte(sub))
		if dead == nil {
			return nil
		}
		c := dead.Cursor()
		seen := 0
		for k, _ := c.Last(); k != nil && len(out) < limit; k, _ = c.Prev() {
			if seen++; f.Reason != "" && seen > gateway.DeadScan {
				break
			}
			_, id := splitTimeKey(k)
			ev, evOK, err := t.getEvent(id, false)
			if err != nil {
				return err
			}
			if !evOK {
				continue // skip an entry that lost its event
			}
			rec, ok, err := t.getDelivery(eventKey(ev.ReceivedAt, id), sub)
			if err != nil {
				return err
			}
			if !ok || rec.Status != gateway.StatusDead { // skip an entry that lost its delivery
				continue
			}
			if f.Reason != "" && rec.DeadReason != f.Reason {
				continue
			}
			d := deliveryRecord(id, sub, &rec)
			d.Type, d.Subject = ev.Type, ev.Subject
			if d.History, err = t.readHistory(eventKey(ev.ReceivedAt, id), sub); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Stats returns the subscriber's counters; a subscriber the store has not
// seen has all zero.
//
// Counters that do not decode are recounted (corrupt.go), and read again.
func (s *Store) Stats(ctx context.Context, sub string) (gateway.SubscriberStats, error) {
	var st gateway.SubscriberStats
	read := func(t *txn) error {
		st = gateway.SubscriberStats{}
		v := t.stats.Get([]byte(sub))
		if v == nil {
			return nil
		}
		var err error
		if st, err = decodeStats(v); err != nil {
			st = gateway.SubscriberStats{}
			return t.corrupted(bktStats, []byte(sub), v, err)
		}
		if st.Pending == 0 {
			return nil
		}
		st.OldestPendingAt, err = t.oldestQueued(sub)
		return err
	}
	op := "stats " + sub
	found, err := s.viewFound(ctx, op, read)
	if len(found) > 0 && err == nil {
		s.setAsideFound(ctx, found)
		return st, s.view(ctx, op, read)
	}
	return st, err
}

// oldestScan bounds the queue entries Stats reads to find the oldest
// pending delivery.
const oldestScan = 1000

// oldestQueued returns the earliest CreatedAt among the subscriber's
// queued deliveries: exact while it has at most oldestScan of them, and
// otherwise the earliest among the oldestScan due first, which is a real
// delivery's age and so never overstates it. The queue is kept by due
// time, not creation, because that is what Claim needs.
func (t *txn) oldestQueued(sub string) (time.Time, error) {
	due := t.due.Bucket([]byte(sub))
	if due == nil {
		return time.Time{}, nil
	}
	var oldest time.Time
	c := due.Cursor()
	n := 0
	for k, _ := c.First(); k != nil && n < oldestScan; k, _ = c.Next() {
		n++
		_, id := splitTimeKey(k)
		ev, ok, err := t.getEvent(id, false)
		if err != nil || !ok {
			continue
		}
		rec, ok, err := t.getDelivery(eventKey(ev.ReceivedAt, id), sub)
		if err != nil || !ok || !rec.queued() {
			continue
		}
		if oldest.IsZero() || rec.CreatedAt.Before(oldest) {
			oldest = rec.CreatedAt
		}
	}
	return oldest, nil
}

// SetPaused holds or releases the subscriber's deliveries. The flag is
// the subscriber's key in the paused bucket, its value the reason. Claim
// reads the flag in its read transaction, under the lease table's mutex;
// after the commit, SetPaused waits for that mutex once (barrier), so that
// a Claim that began from a snapshot before the commit has finished
// leasing by the time SetPaused returns, and every later one reads the
// flag.
func (s *Store) SetPaused(ctx context.Context, sub string, reason gateway.PauseReason) error {
	err := s.update(ctx, "pause "+sub, func(t *txn) error {
		if reason != gateway.PauseNone {
			return t.paused.Put([]byte(sub), []byte(reason)) // never empty: Get sees a nil value as absent
		}
		return t.paused.Delete([]byte(sub))
	})
	if err != nil {
		return err
	}
	s.leases.barrier()
	return nil
}

// Paused tells why the subscriber's deliveries are held, PauseNone if
// they are not. A flag written before reasons (the byte 1) reads as
// PauseAdmin: only the admin API paused then.
func (s *Store) Paused(ctx context.Context, sub string) (gateway.PauseReason, error) {
	var reason gateway.PauseReason
	err := s.view(ctx, "paused "+sub, func(t *txn) error {
		v := t.paused.Get([]byte(sub))
		switch {
		case v == nil:
			reason = gateway.PauseNone
		case len(v) == 1 && v[0] == 1:
			reason = gateway.PauseAdmin
		default:
			reason = gateway.PauseReason(v)
		}
		return nil
	})
	return reason, err
}
