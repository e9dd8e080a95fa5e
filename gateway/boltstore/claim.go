package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"strconv"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Claim leases the subscriber's due deliveries: a cursor over its due
// index, which is ordered by due time, up to now. A leased delivery stays
// in that index at its lease's end, so that once the lease expires it is
// due again without anyone releasing it. bbolt runs one write transaction
// at a time, so no two callers can lease the same delivery.
func (s *Store) Claim(ctx context.Context, sub string, now time.Time, max int, lease time.Duration) ([]gateway.Claim, error) {
	if max <= 0 || sub == "" {
		return nil, nil
	}
	var claims []gateway.Claim
	err := s.batch(ctx, "claim "+sub, func(t *txn) error {
		claims = nil
		due := t.due.Bucket([]byte(sub))
		if due == nil {
			return nil
		}
		var keys [][]byte
		limit := timeBits(now)
		c := due.Cursor()
		for k, _ := c.First(); k != nil && len(keys) < max; k, _ = c.Next() {
			if len(k) < 8 || binary.BigEndian.Uint64(k) > limit {
				break
			}
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			cl, ok, err := t.lease(sub, k, now.Add(lease))
			if err != nil {
				return err
			}
			if ok {
				claims = append(claims, cl)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// lease gives the delivery under due key k a new lease token, ending at
// until. A due entry whose delivery is gone cannot arise while the
// indexes are kept in step; should one appear, it is dropped (ok false)
// rather than blocking the subscriber's queue for good.
func (t *txn) lease(sub string, k []byte, until time.Time) (cl gateway.Claim, ok bool, err error) {
	_, id := splitTimeKey(k)
	rec, found, err := t.getDelivery(id, sub)
	if err != nil {
		return gateway.Claim{}, false, err
	}
	ev, evFound, err := t.getEvent(id, true)
	if err != nil {
		return gateway.Claim{}, false, err
	}
	if !found || !evFound || !rec.queued() || !bytes.Equal(k, timeKey(rec.DueAt, id)) {
		return gateway.Claim{}, false, t.due.Bucket([]byte(sub)).Delete(k)
	}
	seq, err := t.deliveries.NextSequence()
	if err != nil {
		return gateway.Claim{}, false, err
	}
	next := rec
	next.Token = strconv.FormatUint(seq, 36)
	next.DueAt = until
	if err := t.setDelivery(id, sub, ev.ReceivedAt, &rec, &next, false); err != nil {
		return gateway.Claim{}, false, err
	}
	return gateway.Claim{EventID: id, Subscriber: sub, Attempts: rec.Attempts, CreatedAt: rec.CreatedAt,
		Body: ev.Body, Token: next.Token}, true, nil
}

// Record appends the attempt to the delivery's history and applies the
// outcome, if c's lease is still the delivery's current one; otherwise it
// returns ErrLeaseLost and writes nothing. The attempt's number is the
// delivery's attempt count after it, so it restarts at 1 after a
// redelivery while the history keeps every attempt.
func (s *Store) Record(ctx context.Context, c gateway.Claim, o gateway.Outcome) error {
	op := "record " + c.EventID + "/" + c.Subscriber
	switch o.Status {
	case gateway.StatusDelivered, gateway.StatusRetrying, gateway.StatusDead:
	default:
		return wrap(op, badInput("outcome status %q is not delivered, retrying or dead", o.Status))
	}
	var lost bool
	err := s.batch(ctx, op, func(t *txn) error {
		rec, recv, ok, err := t.leased(c)
		if lost = !ok; err != nil || lost {
			return err
		}
		next := rec
		next.Token = ""
		next.Attempts++
		next.HistSeq++
		a := o.Attempt
		a.N = next.Attempts
		if err := t.history.Put(historyKey(c.EventID, c.Subscriber, next.HistSeq), encodeAttempt(a)); err != nil {
			return err
		}
		next.LastCode, next.LastError = a.StatusCode, a.Error
		next.Status = o.Status
		next.NextAt, next.DueAt, next.DeadAt = time.Time{}, time.Time{}, time.Time{}
		switch o.Status {
		case gateway.StatusRetrying:
			next.NextAt, next.DueAt = o.NextAttemptAt, o.NextAttemptAt
		case gateway.StatusDead:
			next.DeadAt = a.At
		}
		if err := t.setDelivery(c.EventID, c.Subscriber, recv, &rec, &next, true); err != nil {
			return err
		}
		return t.updateStats(c.Subscriber, func(st *gateway.SubscriberStats) {
			if o.Status == gateway.StatusDelivered {
				st.Delivered++
				st.LastSuccessAt = a.At
				st.LastError = ""
				return
			}
			st.LastError = attemptError(a)
		})
	})
	if err == nil && lost {
		err = wrap(op, gateway.ErrLeaseLost)
	}
	return err
}

// attemptError describes a failed attempt for the subscriber's LastError:
// its error, or the status code when the response itself was the failure.
func attemptError(a gateway.Attempt) string {
	if a.Error != "" || a.StatusCode == 0 {
		return a.Error
	}
	return "status " + strconv.Itoa(a.StatusCode)
}

// Release puts a leased delivery back in the queue, due at at, without
// counting an attempt. ErrLeaseLost as for Record.
func (s *Store) Release(ctx context.Context, c gateway.Claim, at time.Time) error {
	op := "release " + c.EventID + "/" + c.Subscriber
	var lost bool
	err := s.batch(ctx, op, func(t *txn) error {
		rec, recv, ok, err := t.leased(c)
		if lost = !ok; err != nil || lost {
			return err
		}
		next := rec
		next.Token = ""
		next.NextAt, next.DueAt = at, at
		return t.setDelivery(c.EventID, c.Subscriber, recv, &rec, &next, false)
	})
	if err == nil && lost {
		err = wrap(op, gateway.ErrLeaseLost)
	}
	return err
}

// leased reads the delivery c names and its event's receipt time; ok is
// false if c's lease is not the delivery's current one (expired and taken
// by another, ended by Record or Release, reset by Redeliver, or swept).
func (t *txn) leased(c gateway.Claim) (rec deliveryRec, recv time.Time, ok bool, err error) {
	rec, found, err := t.getDelivery(c.EventID, c.Subscriber)
	if err != nil || !found || c.Token == "" || rec.Token != c.Token || !rec.queued() {
		return deliveryRec{}, time.Time{}, false, err
	}
	ev, found, err := t.getEvent(c.EventID, false)
	if err != nil || !found {
		return deliveryRec{}, time.Time{}, false, err
	}
	return rec, ev.ReceivedAt, true, nil
}
