package boltstore

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Redeliver queues the event's delivery to sub (every delivery when sub is
// ""), due at now, fresh: attempts, last result and CreatedAt reset, while
// the history keeps every earlier attempt. A delivery under an unexpired
// lease, or being changed by another write, is refused with ErrConflict
// and nothing is changed; one whose lease has run out loses it (the old
// holder's Record gets ErrLeaseLost).
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

// redeliver does Redeliver's work for one event: the lease check and the
// fence of every delivery it resets are one step (fenceUnlessHeld), so
// that a Claim cannot lease one of them in between.
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
	if !t.fenceUnlessHeld(id, subs, now) {
		return 0, gateway.ErrConflict
	}
	for i, sub := range subs {
		// A manual redelivery goes out at once, outside any ordered line:
		// a waiting one leaves it (headEnded passes over it).
		next := deliveryRec{Status: gateway.StatusPending, CreatedAt: now, NextAt: now, DueAt: now}
		if old := recs[i]; old != nil {
			next.HistSeq, next.Ordered = old.HistSeq, old.Ordered
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

// RedeliverDead queues the subscriber's dead deliveries again, oldest dead
// first, a chunk per transaction so that ingest is not held up behind a
// long dead list. It takes the dead index up to its last entry as it was
// when the call began: a delivery that dies again meanwhile is not taken
// round a second time. A delivery another write is changing at that
// moment (a Redeliver or Purge of its event) is passed over. On error it
// returns what the chunks before queued; those stay queued.
func (s *Store) RedeliverDead(ctx context.Context, sub string, now time.Time) (int, error) {
	type state struct {
		from, end []byte // the next chunk's first key and the last to take; nil: not yet known
		n         int
	}
	st, err := chunked(ctx, s, "redeliver dead "+sub, state{}, func(t *txn, st state) (state, bool, error) {
		n, next, end, err := t.redeliverDeadChunk(sub, now, st.from, st.end, s.chunk)
		st.n += n
		st.from, st.end = next, end
		return st, next == nil, err
	})
	return st.n, err
}

// redeliverDeadChunk redelivers up to max of sub's dead deliveries whose
// dead-index keys run from from (nil: the first) to last (nil: the index's
// last key now, returned as end for the chunks after). next is the key the
// next chunk starts at, nil when there is none.
func (t *txn) redeliverDeadChunk(sub string, now time.Time, from, last []byte, max int) (n int, next, end []byte, err error) {
	dead := t.dead.Bucket([]byte(sub))
	if dead == nil {
		return 0, nil, nil, nil
	}
	c := dead.Cursor()
	if end = last; end == nil {
		k, _ := c.Last()
		if k == nil {
			return 0, nil, nil, nil
		}
		end = bytes.Clone(k)
	}
	var keys [][]byte
	k, _ := c.First()
	if from != nil {
		k, _ = c.Seek(from)
	}
	for ; k != nil && bytes.Compare(k, end) <= 0; k, _ = c.Next() {
		if len(keys) == max {
			next = bytes.Clone(k)
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		q, err := t.redeliverDead(sub, k, now)
		if err != nil {
			return 0, nil, nil, err
		}
		n += q
	}
	return n, next, end, nil
}

// redeliverDead redelivers the delivery that dead-index key k of sub
// names, if it is dead under k and no one else holds it.
func (t *txn) redeliverDead(sub string, k []byte, now time.Time) (int, error) {
	_, id := splitTimeKey(k)
	ev, ok, err := t.getEvent(id, false)
	if err != nil || !ok {
		return 0, err
	}
	rec, ok, err := t.getDelivery(eventKey(ev.ReceivedAt, id), sub)
	if err != nil || !ok || !rec.indexedAt(k, id, true) {
		return 0, err
	}
	n, err := t.redeliver(id, sub, ev.ReceivedAt, now)
	if errors.Is(err, gateway.ErrConflict) {
		return 0, nil
	}
	return n, err
}
