package boltstore

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// txn is one transaction with its top-level buckets looked up once. Its
// methods keep every index in step with the records; nothing else writes
// to the buckets. call is the write call's hold on the lease table (nil in
// a read transaction).
type txn struct {
	tx                                                  *bolt.Tx
	call                                                *leaseCall
	events, deliveries, history, due, dead              *bolt.Bucket
	ids, dedupeExp, stats, paused                       *bolt.Bucket
	order, line, tombs                                  *bolt.Bucket
	listAll, listSrc, listType, listSub, listSt, listSS *bolt.Bucket
	// opened is when this process opened the store: a delivery created
	// before may have been sent by a process that crashed before recording
	// it (leases live in memory), so placeInLine never puts another ahead
	// of it.
	opened time.Time
	// found are the corrupt records a read transaction met and read as
	// missing, to be set aside once it is over (corrupt.go).
	found []corruptRef
}

func newTxn(tx *bolt.Tx, call *leaseCall) *txn {
	t := &txn{tx: tx, call: call,
		events: tx.Bucket(bktEvents), deliveries: tx.Bucket(bktDeliveries), history: tx.Bucket(bktHistory),
		due: tx.Bucket(bktDue), dead: tx.Bucket(bktDead), ids: tx.Bucket(bktIDs),
		dedupeExp: tx.Bucket(bktDedupeExp), stats: tx.Bucket(bktStats), paused: tx.Bucket(bktPaused),
		order: tx.Bucket(bktOrder), line: tx.Bucket(bktLine), tombs: tx.Bucket(bktTombs),
	}
	if list := tx.Bucket(bktList); list != nil {
		t.listAll, t.listSrc, t.listType = list.Bucket(bktListAll), list.Bucket(bktListSrc), list.Bucket(bktListType)
		t.listSub, t.listSt, t.listSS = list.Bucket(bktListSub), list.Bucket(bktListStatus), list.Bucket(bktListSubSt)
	}
	if tx.Writable() && t.history != nil {
		for _, b := range []*bolt.Bucket{t.events, t.history, t.dedupeExp, t.listAll} {
			b.FillPercent = appendFill
		}
	}
	return t
}

// appendFill is the FillPercent of buckets whose keys only ever go in at
// the end (time-ordered, values never rewritten): bbolt's default leaves
// every page it splits half empty, expecting inserts in between that never
// come, so such a tree had twice the pages. bbolt does not store it; it is
// set on the bucket in every write transaction.
const appendFill = 1.0

// getEvent reads an event, found through its id entry; ok is false if
// there is none.
func (t *txn) getEvent(id string, withBody bool) (rec eventRec, ok bool, err error) {
	e, err := t.getID(id)
	if err != nil || !e.hasEvent {
		return eventRec{}, false, err
	}
	k := bitsKey(e.recv, id)
	v := t.events.Get(k)
	if v == nil {
		return eventRec{}, false, t.corrupted(bktIDs, []byte(id), t.ids.Get([]byte(id)), errors.New("id entry without its event"))
	}
	rec, err = decodeEvent(v, withBody)
	if err != nil {
		return eventRec{}, false, t.corrupted(bktEvents, k, v, err)
	}
	return rec, true, nil
}

// getDelivery reads the delivery to sub of the event with key ek
// (eventKey); ok is false if there is none.
func (t *txn) getDelivery(ek []byte, sub string) (rec deliveryRec, ok bool, err error) {
	v := t.deliveries.Get(deliveryKey(ek, sub))
	if v == nil {
		return deliveryRec{}, false, nil
	}
	rec, err = decodeDelivery(v)
	if err != nil {
		return deliveryRec{}, false, t.corrupted(bktDeliveries, deliveryKey(ek, sub), v, err)
	}
	return rec, true, nil
}

// eventDeliveries lists the deliveries of the event with key ek, sorted by
// subscriber.
func (t *txn) eventDeliveries(ek []byte) (subs []string, recs []deliveryRec, err error) {
	prefix := deliveryPrefix(ek)
	c := t.deliveries.Cursor()
	for k, v := c.Seek(prefix); hasPrefix(k, prefix); k, v = c.Next() {
		rec, err := decodeDelivery(v)
		if err != nil {
			if err := t.corrupted(bktDeliveries, k, v, err); err != nil {
				return nil, nil, err
			}
			continue
		}
		subs = append(subs, string(k[len(prefix):]))
		recs = append(recs, rec)
	}
	return subs, recs, nil
}

// nested returns the named bucket inside parent, creating it in a write
// transaction; in a read transaction a missing one is nil.
func (t *txn) nested(parent *bolt.Bucket, name []byte) (*bolt.Bucket, error) {
	if b := parent.Bucket(name); b != nil || !t.tx.Writable() {
		if b != nil && t.tx.Writable() {
			b.FillPercent = appendFill // the nested buckets are time-ordered indexes
		}
		return b, nil
	}
	b, err := parent.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, fmt.Errorf("create bucket %q: %w", name, err)
	}
	b.FillPercent = appendFill
	return b, nil
}

// index adds (add true) or removes key in parent's nested bucket name.
// Empty names are not indexed: bbolt cannot name a bucket "", and an empty
// filter matches everything anyway.
func (t *txn) index(parent *bolt.Bucket, name string, key []byte, add bool) error {
	if name == "" {
		return nil
	}
	if !add {
		if b := parent.Bucket([]byte(name)); b != nil {
			return b.Delete(key)
		}
		return nil
	}
	b, err := t.nested(parent, []byte(name))
	if err != nil {
		return err
	}
	return b.Put(key, nil)
}

// updateStats applies fn to the subscriber's counters.
func (t *txn) updateStats(sub string, fn func(*gateway.SubscriberStats)) error {
	var st gateway.SubscriberStats
	if v := t.stats.Get([]byte(sub)); v != nil {
		var err error
		if st, err = decodeStats(v); err != nil {
			return t.corrupted(bktStats, []byte(sub), v, err) // a write: never nil
		}
	}
	fn(&st)
	return t.stats.Put([]byte(sub), encodeStats(st))
}

// setDelivery moves the delivery id/sub from old to new (nil old: create;
// nil new: delete), keeping the due, dead and listing indexes and the
// pending/dead counters in step. recv is the event's receipt time, the key
// of its listing entries. When the status changes and sync is set, the
// event's status listing is recomputed; callers that change several of an
// event's deliveries sync once themselves.
func (t *txn) setDelivery(id, sub string, recv time.Time, old, new *deliveryRec, sync bool) error {
	var oldSt, newSt gateway.DeliveryStatus
	lk := timeKey(recv, id) // the listing key, and the eventKey

	if old != nil {
		oldSt = old.Status
		if old.queued() {
			if err := t.index(t.due, sub, timeKey(old.DueAt, id), false); err != nil {
				return err
			}
		}
		if old.Status == gateway.StatusDead {
			if err := t.index(t.dead, sub, timeKey(old.DeadAt, id), false); err != nil {
				return err
			}
		}
	}
	if new != nil {
		newSt = new.Status
		if new.queued() {
			if err := t.index(t.due, sub, timeKey(new.DueAt, id), true); err != nil {
				return err
			}
		}
		if new.Status == gateway.StatusDead {
			if err := t.index(t.dead, sub, timeKey(new.DeadAt, id), true); err != nil {
				return err
			}
		}
		if err := t.deliveries.Put(deliveryKey(lk, sub), new.encode()); err != nil {
			return err
		}
	} else {
		t.fence(id, sub)
		if err := t.deliveries.Delete(deliveryKey(lk, sub)); err != nil {
			return err
		}
	}
	if oldSt == newSt {
		return nil
	}
	if (old == nil) != (new == nil) {
		if err := t.index(t.listSub, sub, lk, new != nil); err != nil {
			return err
		}
	}
	if listedStatus(oldSt) {
		if err := t.index(t.listSS, string(subStatusName(sub, string(oldSt))), lk, false); err != nil {
			return err
		}
	}
	if new != nil && listedStatus(newSt) {
		if err := t.index(t.listSS, string(subStatusName(sub, string(newSt))), lk, true); err != nil {
			return err
		}
	}
	if err := t.updateStats(sub, func(st *gateway.SubscriberStats) {
		st.Pending += count(new != nil && new.queued()) - count(old != nil && old.queued())
		st.Dead += count(newSt == gateway.StatusDead) - count(oldSt == gateway.StatusDead)
		st.Retrying += count(newSt == gateway.StatusRetrying) - count(oldSt == gateway.StatusRetrying)
	}); err != nil {
		return err
	}
	// A move between unlisted statuses (pending to delivered, the common
	// Record) leaves the event's status listing as it was; creating or
	// deleting a delivery may make the event unrouted or not.
	if sync && (old == nil || new == nil || listedStatus(oldSt) || listedStatus(newSt)) {
		return t.syncEventStatus(id, recv)
	}
	return nil
}

func count(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// listedStatuses are the statuses with listing indexes (list/status and
// list/substatus): the ones an operator looks for among many events.
// Pending and delivered are not listed: every event passes through them,
// and their entries (added at Put, moved at every Record) cost a fifth of
// the pages an ingest-and-deliver commit writes. List finds them by
// checking deliveries along a wider index instead (list.go), where they
// are dense: delivered is what most events are, and pending ones are the
// newest.
var listedStatuses = []gateway.DeliveryStatus{gateway.StatusRetrying, gateway.StatusDead, gateway.StatusUnrouted}

// listedStatus reports whether st has listing indexes (listedStatuses).
func listedStatus(st gateway.DeliveryStatus) bool {
	switch st {
	case gateway.StatusRetrying, gateway.StatusDead, gateway.StatusUnrouted:
		return true
	}
	return false
}

// syncEventStatus makes the event's status listing entries match its
// deliveries: one entry per listed status that any delivery has, or
// unrouted.
func (t *txn) syncEventStatus(id string, recv time.Time) error {
	_, recs, err := t.eventDeliveries(eventKey(recv, id))
	if err != nil {
		return err
	}
	has := map[gateway.DeliveryStatus]bool{gateway.StatusUnrouted: len(recs) == 0}
	for _, r := range recs {
		has[r.Status] = true
	}
	return t.setEventStatuses(id, recv, has)
}

// setEventStatuses writes the event's status listing entries: present for
// the listed statuses in has, absent for the others.
func (t *txn) setEventStatuses(id string, recv time.Time, has map[gateway.DeliveryStatus]bool) error {
	lk := timeKey(recv, id)
	for _, st := range listedStatuses {
		if err := t.index(t.listSt, string(st), lk, has[st]); err != nil {
			return err
		}
	}
	return nil
}

// fenceUnlessHeld fences the event's deliveries to subs, which this
// transaction resets, unless one of them is in someone's hands at now
// (leaseCall.fenceUnlessHeld); false: none was fenced.
func (t *txn) fenceUnlessHeld(id string, subs []string, now time.Time) bool {
	if t.call == nil {
		return true
	}
	keys := make([]string, len(subs))
	for i, sub := range subs {
		keys[i] = leaseKey(id, sub)
	}
	return t.call.fenceUnlessHeld(keys, now)
}

// fence ends any lease on the delivery id/sub, which this transaction
// resets or deletes, and keeps it from being leased until the transaction
// is over (leases.go).
func (t *txn) fence(id, sub string) {
	if t.call != nil {
		t.call.fence(leaseKey(id, sub))
	}
}
