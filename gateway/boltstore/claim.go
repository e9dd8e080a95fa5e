package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"strconv"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// Claim leases the subscriber's due deliveries: a cursor over its due
// index, which is ordered by due time, up to now, passing over deliveries
// leased already. Leases are kept in memory (leases.go), so Claim is a read
// transaction and commits nothing; the lease table's mutex, held
// throughout, is what keeps two callers from leasing one delivery. The
// paused flag is read in the same read transaction, and SetPaused waits
// out the Claims under way before it returns, so none leases after it.
// While writes are refused (failstop.go) Claim is refused too.
func (s *Store) Claim(ctx context.Context, sub string, now time.Time, max int, lease time.Duration) ([]gateway.Claim, error) {
	if max <= 0 || sub == "" {
		return nil, nil
	}
	// No claims while writes are refused: what is sent now could not be
	// recorded, and would be sent again at every lease's end.
	if err := s.disk.admit(); err != nil {
		return nil, wrap("claim "+sub, err)
	}
	claims, dangling, found, err := s.claim(ctx, sub, now, max, lease)
	if err != nil {
		return nil, err
	}
	// Outside the lease mutex too: corrupt records passed over, then
	// dangling entries.
	s.setAsideFound(ctx, found)
	if len(dangling) > 0 {
		// Best effort, outside the lease mutex (a commit takes it): an
		// entry left behind is passed over again next time.
		_ = s.batch(ctx, "claim "+sub, func(t *txn) error { return t.dropDangling(sub, dangling, &s.orphans) })
	}
	return claims, nil
}

// claim is Claim's read transaction, under the lease mutex. dangling are
// due keys with no matching delivery; found, the corrupt records passed
// over (corrupt.go), which are not dangling.
func (s *Store) claim(ctx context.Context, sub string, now time.Time, max int, lease time.Duration) (claims []gateway.Claim, dangling [][]byte, found []corruptRef, err error) {
	lt := s.leases
	lt.mu.Lock()
	defer lt.mu.Unlock()
	found, err = s.viewFound(ctx, "claim "+sub, func(t *txn) error {
		due := t.due.Bucket([]byte(sub))
		if due == nil || t.paused.Get([]byte(sub)) != nil {
			return nil
		}
		limit := timeBits(now)
		// The deliveries under way lead the due index (their entries
		// stay where they were due until recorded), so a claim passes
		// over up to max_in_flight plus the unrecorded ones: their
		// lease keys are built in buf, not allocated, to be looked up.
		var buf []byte
		c := due.Cursor()
		for k, _ := c.First(); k != nil && len(claims) < max; k, _ = c.Next() {
			if len(k) < 8 || binary.BigEndian.Uint64(k) > limit {
				break
			}
			buf = appendLeaseKey(buf[:0], k[8:], sub)
			if !lt.freeBytes(buf, now) {
				continue
			}
			key := string(buf)
			corrupt := len(t.found)
			cl, ok, err := t.claimable(sub, k)
			if err != nil {
				return err
			}
			if !ok {
				if len(t.found) == corrupt {
					dangling = append(dangling, bytes.Clone(k))
				}
				continue
			}
			cl.Token = lt.grant(key, now.Add(lease))
			claims = append(claims, cl)
		}
		return nil
	})
	return claims, dangling, found, err
}

// claimable reads the delivery under due key k and its event; ok is false
// if the entry is dangling: its event or delivery gone, or the delivery
// not due under k. That cannot arise while the indexes are kept in step
// (only something outside hookgate deleting data leaves one); should it,
// the entry is dropped rather than left to block the subscriber's queue,
// and never delivered.
func (t *txn) claimable(sub string, k []byte) (cl gateway.Claim, ok bool, err error) {
	_, id := splitTimeKey(k)
	ev, found, err := t.getEvent(id, true)
	if err != nil || !found {
		return gateway.Claim{}, false, err
	}
	rec, found, err := t.getDelivery(eventKey(ev.ReceivedAt, id), sub)
	if err != nil || !found || !rec.indexedAt(k, id, false) {
		return gateway.Claim{}, false, err
	}
	return gateway.Claim{EventID: id, Subscriber: sub, Attempts: rec.Attempts, CreatedAt: rec.CreatedAt,
		Body: ev.Body}, true, nil
}

// dropDangling deletes the due keys that are still dangling, each counted
// in orphans once the transaction commits.
func (t *txn) dropDangling(sub string, keys [][]byte, orphans *atomic.Int64) error {
	due := t.due.Bucket([]byte(sub))
	for _, k := range keys {
		_, ok, err := t.claimable(sub, k)
		if err != nil {
			return err
		}
		if ok || due == nil || !keyIn(due, k) {
			continue
		}
		if err := t.dropOrphan(due, k, orphans); err != nil {
			return err
		}
	}
	return nil
}

// dropOrphan deletes the dangling due-index entry k from due and counts it
// in orphans once the transaction commits (a rolled-back transaction
// dropped nothing, and a group commit runs its writes again in a fresh
// one).
func (t *txn) dropOrphan(due *bolt.Bucket, k []byte, orphans *atomic.Int64) error {
	if err := due.Delete(k); err != nil {
		return err
	}
	t.tx.OnCommit(func() { orphans.Add(1) })
	return nil
}

// keyIn reports whether key is in b; index values are empty, and bbolt's
// Get cannot tell an empty value from a missing key.
func keyIn(b *bolt.Bucket, key []byte) bool {
	k, _ := b.Cursor().Seek(key)
	return bytes.Equal(k, key)
}

// Record appends the attempt to the delivery's history and applies the
// outcome, if c's lease is still the delivery's current one; otherwise it
// returns ErrLeaseLost and writes nothing. The attempt's number is its
// place in the history, counting on across redeliveries; the first
// attempt after a manual redelivery (attempts reset, history kept) is
// marked Redelivered.
//
// If ctx ends first, Record returns its error at once, the outcome either
// recorded or not (groupCommit.do). Not recorded, the lease stays until it
// runs out and the delivery is then due again (sent once more: at least
// once); recorded, the lease has ended and a second Record of it gets
// ErrLeaseLost. Either way the history and the indexes agree.
func (s *Store) Record(ctx context.Context, c gateway.Claim, o gateway.Outcome) error {
	op := "record " + c.EventID + "/" + c.Subscriber
	if err := gateway.CheckOutcome(o); err != nil {
		return wrap(op, err)
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
		a.N = int(next.HistSeq)
		a.Redelivered = rec.Attempts == 0 && rec.HistSeq > 0
		if err := t.history.Put(historyKey(eventKey(recv, c.EventID), c.Subscriber, next.HistSeq), encodeAttempt(a)); err != nil {
			return err
		}
		next.LastCode, next.LastError = a.StatusCode, a.Error
		next.Status = o.Status
		next.NextAt, next.DueAt, next.DeadAt, next.DeadReason = time.Time{}, time.Time{}, time.Time{}, ""
		switch o.Status {
		case gateway.StatusRetrying:
			next.NextAt, next.DueAt = o.NextAttemptAt, o.NextAttemptAt
		case gateway.StatusDead:
			next.DeadAt, next.DeadReason = a.At, o.DeadReason
		}
		if err := t.setDelivery(c.EventID, c.Subscriber, recv, &rec, &next, true); err != nil {
			return err
		}
		if rec.Ordered && o.Status != gateway.StatusRetrying {
			ev, ok, err := t.getEvent(c.EventID, false)
			if err != nil {
				return err
			}
			if ok && ev.Subject != "" {
				if err := t.headEnded(c.EventID, c.Subscriber, ev.Subject, a.At); err != nil {
					return err
				}
			}
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

// leased takes c's lease for this write call and reads the delivery it
// names and its event's receipt time; ok is false if c's lease is not the
// delivery's current one (expired and taken by another, ended by Record
// or Release, reset by Redeliver, or swept).
func (t *txn) leased(c gateway.Claim) (rec deliveryRec, recv time.Time, ok bool, err error) {
	if !t.call.take(leaseKey(c.EventID, c.Subscriber), c.Token) {
		return deliveryRec{}, time.Time{}, false, nil
	}
	ev, found, err := t.getEvent(c.EventID, false)
	if err != nil || !found {
		return deliveryRec{}, time.Time{}, false, err
	}
	rec, found, err = t.getDelivery(eventKey(ev.ReceivedAt, c.EventID), c.Subscriber)
	if err != nil || !found || !rec.queued() {
		return deliveryRec{}, time.Time{}, false, err
	}
	return rec, ev.ReceivedAt, true, nil
}
