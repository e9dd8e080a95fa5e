package boltstore

import (
	"bytes"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Ordered deliveries (gateway.Store's doc). Per subscriber and subject, the
// order bucket names the head, the one delivery of the line in the due
// index at its real due time; the others wait in the line bucket, keyed
// by receipt time, flagged Waiting and indexed at waitingDue, a time no
// claim reaches, so that they count as pending and list as such. When
// Record ends the head, promote makes the next one the head.

// waitingDue is where waiting deliveries sit in the due index: past any
// claim's now, within what timeBits can hold.
var waitingDue = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

func orderKey(sub, subject string) []byte { return []byte(sub + "\x00" + subject) }

func linePrefix(sub, subject string) []byte { return []byte(sub + "\x00" + subject + "\x00") }

// orderNew decides, for a new ordered delivery d of event id (received at
// recv) to sub, whether it heads its subject's line or waits in it.
func (t *txn) orderNew(id, sub, subject string, recv time.Time, d *deliveryRec) error {
	d.Ordered = true
	key := orderKey(sub, subject)
	if head := t.order.Get(key); head != nil && string(head) != id {
		live, err := t.liveHead(string(head), sub)
		if err != nil {
			return err
		}
		if live {
			d.Waiting, d.DueAt = true, waitingDue
			return t.line.Put(append(linePrefix(sub, subject), timeKey(recv, id)...), nil)
		}
	}
	return t.order.Put(key, []byte(id))
}

// liveHead reports whether id's delivery to sub is still a head in its
// line: pending or retrying, and not waiting.
func (t *txn) liveHead(id, sub string) (bool, error) {
	ev, ok, err := t.getEvent(id, false)
	if err != nil || !ok {
		return false, err
	}
	rec, ok, err := t.getDelivery(eventKey(ev.ReceivedAt, id), sub)
	if err != nil || !ok {
		return false, err
	}
	return rec.queued() && !rec.Waiting, nil
}

// headEnded is called when the ordered delivery id/sub of subject is
// delivered or dead: if it was its line's head, the next one waiting
// becomes the head, due at due; entries that left the line (redelivered,
// purged, swept) are passed over.
func (t *txn) headEnded(id, sub, subject string, due time.Time) error {
	key := orderKey(sub, subject)
	if head := t.order.Get(key); head == nil || string(head) != id {
		return nil
	}
	prefix := linePrefix(sub, subject)
	for {
		k, _ := t.line.Cursor().Seek(prefix)
		if k == nil || !bytes.HasPrefix(k, prefix) {
			return t.order.Delete(key)
		}
		k = bytes.Clone(k)
		if err := t.line.Delete(k); err != nil {
			return err
		}
		recv, next := splitTimeKey(k[len(prefix):])
		rec, ok, err := t.getDelivery(eventKey(recv, next), sub)
		if err != nil {
			return err
		}
		if !ok || rec.Status != gateway.StatusPending || !rec.Waiting {
			continue
		}
		promoted := rec
		promoted.Waiting = false
		promoted.NextAt, promoted.DueAt = due, due
		if err := t.setDelivery(next, sub, recv, &rec, &promoted, false); err != nil {
			return err
		}
		return t.order.Put(key, []byte(next))
	}
}

// dropLine forgets sub's line of subject (a purge): the next event of the
// subject starts a new one.
func (t *txn) dropLine(sub, subject string) error {
	if err := t.order.Delete(orderKey(sub, subject)); err != nil {
		return err
	}
	prefix := linePrefix(sub, subject)
	var keys [][]byte
	c := t.line.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := t.line.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// waitingOn is the head that an ordered, waiting delivery waits on.
func (t *txn) waitingOn(sub, subject string) string {
	return string(t.order.Get(orderKey(sub, subject)))
}

// joinLine places a requeued ordered delivery d of event id (received at
// recv) to sub in its subject's line, before the caller writes it: it
// becomes the head if the line has none; it takes the head's place if the
// head is newer, never tried and in no worker's hands (a backfilled older
// event goes first; the head then waits); otherwise it waits, in receipt
// order.
func (t *txn) joinLine(id, sub, subject string, recv time.Time, d *deliveryRec, now time.Time) error {
	d.Ordered = true
	key := orderKey(sub, subject)
	head := t.order.Get(key)
	if head == nil || string(head) == id {
		return t.order.Put(key, []byte(id))
	}
	hid := string(head)
	hev, ok, err := t.getEvent(hid, false)
	if err != nil {
		return err
	}
	var hrec deliveryRec
	if ok {
		if hrec, ok, err = t.getDelivery(eventKey(hev.ReceivedAt, hid), sub); err != nil {
			return err
		}
	}
	if !ok || !hrec.queued() || hrec.Waiting {
		return t.order.Put(key, []byte(id)) // no live head
	}
	if hev.ReceivedAt.After(recv) && hrec.Attempts == 0 && t.fenceUnlessHeld(hid, []string{sub}, now) {
		demoted := hrec
		demoted.Waiting, demoted.DueAt = true, waitingDue
		if err := t.setDelivery(hid, sub, hev.ReceivedAt, &hrec, &demoted, false); err != nil {
			return err
		}
		if err := t.line.Put(append(linePrefix(sub, subject), timeKey(hev.ReceivedAt, hid)...), nil); err != nil {
			return err
		}
		return t.order.Put(key, []byte(id))
	}
	d.Waiting, d.DueAt = true, waitingDue
	return t.line.Put(append(linePrefix(sub, subject), timeKey(recv, id)...), nil)
}
