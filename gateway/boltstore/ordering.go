package boltstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Ordered deliveries (gateway.Store's doc). Per subscriber and subject, the
// order bucket names the head, the one delivery of the line in the due
// index at its real due time; the others wait in the line bucket, keyed
// by receipt time and then a sequence number (so that events of one
// instant, a catalog360 batch, keep the order they were stored in),
// flagged Waiting and indexed at waitingDue, a time no claim reaches, so
// that they count as pending and list as such. When Record ends the head,
// the next one becomes the head.

// waitingDue is where waiting deliveries sit in the due index: past any
// claim's now, within what timeBits can hold.
var waitingDue = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// orderKey is sub's line of subject: the subscriber name (no NUL in it),
// NUL, the length of the line's name, the name (lineName). The length
// keeps one line's keys from being a prefix of another's, whatever bytes
// a subject holds.
func orderKey(sub, subject string) []byte {
	subject = lineName(subject)
	k := make([]byte, 0, len(sub)+1+binary.MaxVarintLen64+len(subject))
	k = append(k, sub...)
	k = append(k, 0)
	k = binary.AppendUvarint(k, uint64(len(subject)))
	return append(k, subject...)
}

// lineName names the line of subject in its keys: the subject itself, or,
// past gateway.LineSubjectMax bytes, "#" and the hex SHA-256 of it, which
// keeps the key within bbolt's 32 KB (a longer key failed every write of
// the batch, a 503 the upstream retried for ever). A name is its own
// name, so orderKey takes what subjectOf gives back.
func lineName(subject string) string {
	if len(subject) <= gateway.LineSubjectMax {
		return subject
	}
	sum := sha256.Sum256([]byte(subject))
	return "#" + hex.EncodeToString(sum[:])
}

// subjectOf reads the line's name (lineName: the subject, unless it is
// long) from the part of an orderKey after the subscriber and its NUL.
func subjectOf(rest []byte) (string, bool) {
	n, w := binary.Uvarint(rest)
	if w <= 0 || uint64(len(rest)-w) != n {
		return "", false
	}
	return string(rest[w:]), true
}

// lineEntry is a line bucket key: orderKey, receipt time(8), sequence(8),
// event id.
func lineEntry(prefix []byte, recv time.Time, seq uint64, id string) []byte {
	k := make([]byte, 0, len(prefix)+16+len(id))
	k = append(k, prefix...)
	k = binary.BigEndian.AppendUint64(k, timeBits(recv))
	k = binary.BigEndian.AppendUint64(k, seq)
	return append(k, id...)
}

// lineAdd puts event id (received at recv) in sub's line of subject.
func (t *txn) lineAdd(sub, subject string, recv time.Time, id string) error {
	seq, err := t.line.NextSequence()
	if err != nil {
		return err
	}
	return t.line.Put(lineEntry(orderKey(sub, subject), recv, seq, id), nil)
}

// placeInLine decides where the new or requeued ordered delivery d of
// event id (received at recv) to sub goes, before the caller writes it:
// it heads the line if the line has none; it takes the head's place if
// the head is newer, never tried and in no worker's hands (a backfilled
// event; an older event whose Put lost the race), the head then waiting
// (never tried: no attempt recorded, no lease, and created since this
// process opened the store, since a process that crashed may have sent
// it without recording);
// otherwise it waits, in receipt order. A line whose head is no longer
// live but which still has waiting ones lets the next go first (a head
// stored afresh without its delivery).
func (t *txn) placeInLine(id, sub, subject string, recv time.Time, d *deliveryRec, now time.Time) error {
	d.Ordered = true
	key := orderKey(sub, subject)
	hid, hev, hrec, live, err := t.lineHead(key, sub)
	if err != nil {
		return err
	}
	if hid != id && !live && t.order.Get(key) != nil {
		if err := t.promoteNext(sub, subject, recv); err != nil {
			return err
		}
		if hid, hev, hrec, live, err = t.lineHead(key, sub); err != nil {
			return err
		}
	}
	if hid == id || !live {
		return t.order.Put(key, []byte(id))
	}
	if hev.ReceivedAt.After(recv) && hrec.Attempts == 0 && hrec.CreatedAt.After(t.opened) &&
		t.fenceUnlessHeld(hid, []string{sub}, now) {
		demoted := hrec
		demoted.Waiting, demoted.DueAt = true, waitingDue
		if err := t.setDelivery(hid, sub, hev.ReceivedAt, &hrec, &demoted, false); err != nil {
			return err
		}
		if err := t.lineAdd(sub, subject, hev.ReceivedAt, hid); err != nil {
			return err
		}
		return t.order.Put(key, []byte(id))
	}
	d.Waiting, d.DueAt = true, waitingDue
	return t.lineAdd(sub, subject, recv, id)
}

// lineHead reads the head of the line key of sub: its id, event and
// delivery, and whether it is live (pending or retrying, not waiting).
func (t *txn) lineHead(key []byte, sub string) (id string, ev eventRec, rec deliveryRec, live bool, err error) {
	head := t.order.Get(key)
	if head == nil {
		return "", ev, rec, false, nil
	}
	id = string(head)
	ev, ok, err := t.getEvent(id, false)
	if err != nil || !ok {
		return id, ev, rec, false, err
	}
	rec, ok, err = t.getDelivery(eventKey(ev.ReceivedAt, id), sub)
	if err != nil || !ok {
		return id, ev, rec, false, err
	}
	return id, ev, rec, rec.queued() && !rec.Waiting, nil
}

// headEnded is called when the ordered delivery id/sub of subject is
// delivered, dead or deleted: if it was its line's head, the next one
// waiting becomes the head, due at due.
func (t *txn) headEnded(id, sub, subject string, due time.Time) error {
	if head := t.order.Get(orderKey(sub, subject)); head == nil || string(head) != id {
		return nil
	}
	return t.promoteNext(sub, subject, due)
}

// promoteNext makes the next delivery waiting in sub's line of subject
// the head, due at due, or ends the line. Entries that left the line
// (redelivered, purged, stored afresh) are passed over.
func (t *txn) promoteNext(sub, subject string, due time.Time) error {
	key := orderKey(sub, subject)
	for {
		k, _ := t.line.Cursor().Seek(key)
		if k == nil || !bytes.HasPrefix(k, key) || len(k) < len(key)+16 {
			return t.order.Delete(key)
		}
		k = bytes.Clone(k)
		if err := t.line.Delete(k); err != nil {
			return err
		}
		recv := bitsTime(binary.BigEndian.Uint64(k[len(key):]))
		next := string(k[len(key)+16:])
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
	key := orderKey(sub, subject)
	if err := t.order.Delete(key); err != nil {
		return err
	}
	var keys [][]byte
	c := t.line.Cursor()
	for k, _ := c.Seek(key); k != nil && bytes.HasPrefix(k, key); k, _ = c.Next() {
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
