package boltstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Requeue is one step of a replay or backfill walk (gateway.Store): a
// read transaction walks the all-events index from the position, up to
// the step's bounds, and collects the events whose delivery to the
// subscriber the step may touch; Accept judges them outside any
// transaction; a write transaction of its own then queues the accepted
// ones, each checked again, so that ingest waits for one step at most.
// The position is the last index key examined (receipt time, id), in
// base64.
func (s *Store) Requeue(ctx context.Context, r gateway.RequeueRange, now time.Time) (gateway.RequeueResult, error) {
	op := "requeue " + r.Subscriber
	var res gateway.RequeueResult
	if r.Subscriber == "" {
		return res, wrap(op, badInput("no subscriber"))
	}
	var after []byte
	if r.After != "" {
		var err error
		if after, err = base64.RawURLEncoding.DecodeString(r.After); err != nil || len(after) < 8 {
			return res, wrap(op, badInput("bad requeue position %q", r.After))
		}
	}
	if r.Window.Empty() {
		return res, nil
	}
	max := r.Max
	if max <= 0 || max > gateway.RequeueBatch {
		max = gateway.RequeueBatch
	}
	var cands []gateway.RequeueEvent
	var next []byte
	err := s.view(ctx, op, func(t *txn) error {
		cands, next, res.Examined = nil, nil, 0
		end := timeKey(r.Window.Until, "")
		c := t.listAll.Cursor()
		var k []byte
		if after != nil {
			if k, _ = c.Seek(after); bytes.Equal(k, after) {
				k, _ = c.Next()
			}
		} else {
			k, _ = c.Seek(timeKey(r.Window.Since, ""))
		}
		var last []byte
		size := 0
		for ; k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
			if res.Examined == max || size >= gateway.RequeueBytes {
				next = bytes.Clone(last)
				return nil
			}
			res.Examined++
			last = k
			v := t.events.Get(k) // the listing key is the eventKey
			if v == nil {
				continue
			}
			ev, err := decodeEvent(v, r.Bodies)
			if err != nil {
				if err := t.corrupted(bktEvents, k, v, err); err != nil {
					return err
				}
				continue // set aside once the walk's transaction is over
			}
			rec, has, err := t.getDelivery(k, r.Subscriber)
			if err != nil {
				return err
			}
			if has && (!r.Reset || rec.queued()) {
				continue // left alone whatever Accept says
			}
			_, id := splitTimeKey(k)
			cands = append(cands, gateway.RequeueEvent{ID: id, Source: ev.Source, Type: ev.Type,
				Subject: ev.Subject, ReceivedAt: ev.ReceivedAt, Body: ev.Body})
			size += len(ev.Body)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if next != nil {
		res.Next = base64.RawURLEncoding.EncodeToString(next)
	}
	var ids []string
	for _, ev := range cands {
		if r.Accept == nil || r.Accept(ev) {
			ids = append(ids, ev.ID)
		}
	}
	if len(ids) == 0 {
		return res, nil
	}
	err = s.update(ctx, op, func(t *txn) error {
		res.Queued = 0
		for _, id := range ids {
			ok, err := t.requeue(id, r, now)
			if err != nil {
				return err
			}
			if ok {
				res.Queued++
			}
		}
		return nil
	})
	if err != nil {
		res.Queued = 0
	}
	return res, err
}

// requeue gives r.Subscriber a delivery of the event id, due at its
// receipt, unless the event left the window or the delivery is one
// Requeue leaves alone (see gateway.Store): ok reports whether it did.
func (t *txn) requeue(id string, r gateway.RequeueRange, now time.Time) (ok bool, err error) {
	ev, found, err := t.getEvent(id, false)
	if err != nil || !found {
		return false, err
	}
	recv := ev.ReceivedAt
	if recv.Before(r.Window.Since) || !recv.Before(r.Window.Until) {
		return false, nil // stored afresh since it was read
	}
	ek := eventKey(recv, id)
	rec, has, err := t.getDelivery(ek, r.Subscriber)
	if err != nil {
		return false, err
	}
	var old *deliveryRec
	if has {
		if !r.Reset || rec.queued() {
			return false, nil
		}
		old = &rec
	}
	if !t.fenceUnlessHeld(id, []string{r.Subscriber}, now) {
		return false, nil
	}
	due := recv
	if due.After(now) {
		due = now
	}
	next := deliveryRec{Status: gateway.StatusPending, CreatedAt: now, NextAt: now, DueAt: due}
	if old != nil {
		next.HistSeq, next.Ordered = old.HistSeq, old.Ordered
	}
	// An ordered subscriber's deliveries take their place in their
	// subject's line, in receipt order.
	if r.Ordered && ev.Subject != "" {
		if err := t.placeInLine(id, r.Subscriber, ev.Subject, recv, &next, now); err != nil {
			return false, err
		}
	}
	return true, t.setDelivery(id, r.Subscriber, recv, old, &next, true)
}

// The subscriber registry (MarkSubscribers) is the bucket "seen": name ->
// regDone, or regPending followed by the backfill window's Since and
// Until (timeBits). It is created, and seeded, by the first
// MarkSubscribers.
var bktSeen = []byte("seen")

const (
	regDone    = 'd'
	regPending = 'p'
)

// MarkSubscribers registers the names of subs that the registry lacks
// and reports the pending backfills, in one write transaction. The first
// call seeds the registry with every subscriber that has counters, which
// is every subscriber ever given a delivery.
func (s *Store) MarkSubscribers(ctx context.Context, subs map[string]gateway.TimeWindow) (map[string]gateway.TimeWindow, error) {
	var pending map[string]gateway.TimeWindow
	err := s.update(ctx, "mark subscribers", func(t *txn) error {
		pending = map[string]gateway.TimeWindow{}
		reg := t.tx.Bucket(bktSeen)
		if reg == nil {
			var err error
			if reg, err = t.tx.CreateBucket(bktSeen); err != nil {
				return err
			}
			err = t.stats.ForEach(func(name, _ []byte) error { return reg.Put(bytes.Clone(name), []byte{regDone}) })
			if err != nil {
				return err
			}
		}
		for name, w := range subs {
			if name == "" {
				continue
			}
			v := reg.Get([]byte(name))
			if v == nil {
				v = []byte{regDone}
				if !w.IsZero() {
					v = append(append([]byte{regPending}, u64(timeBits(w.Since))...), u64(timeBits(w.Until))...)
				}
				if err := reg.Put([]byte(name), v); err != nil {
					return err
				}
			}
			if w, ok := decodeReg(v); ok {
				pending[name] = w
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pending, nil
}

// decodeReg reads a registry value: the pending window, ok false when
// nothing is pending.
func decodeReg(v []byte) (gateway.TimeWindow, bool) {
	if len(v) != 17 || v[0] != regPending {
		return gateway.TimeWindow{}, false
	}
	return gateway.TimeWindow{Since: bitsTime(binary.BigEndian.Uint64(v[1:9])),
		Until: bitsTime(binary.BigEndian.Uint64(v[9:17]))}, true
}

// EndBackfill marks the subscriber's pending backfill done.
func (s *Store) EndBackfill(ctx context.Context, sub string) error {
	return s.update(ctx, "end backfill "+sub, func(t *txn) error {
		reg := t.tx.Bucket(bktSeen)
		if reg == nil {
			return nil
		}
		if _, ok := decodeReg(reg.Get([]byte(sub))); !ok {
			return nil
		}
		return reg.Put([]byte(sub), []byte{regDone})
	})
}
