package boltstore

import (
	"encoding/binary"
)

// idEntry is what the ids bucket holds for an event id: the end of its
// dedupe window (timeBits, 0 once forgotten) and, if an event with this id
// is stored, its receipt time (8 bytes more). Events are keyed by eventKey, so that a commit's new events
// sit together at the end of the tree; this one small entry is all that
// a Put writes at a place only the (hashed) id decides. The entry lives
// while either half does: an event can outlive its dedupe window, and
// the window can outlive the event when retention is the shorter.
type idEntry struct {
	deadline uint64
	hasEvent bool
	recv     uint64
}

// getID reads id's entry; the zero entry if there is none (or, in a read
// transaction, if it is corrupt: see txn.corrupted).
func (t *txn) getID(id string) (idEntry, error) {
	v := t.ids.Get([]byte(id))
	if v == nil {
		return idEntry{}, nil
	}
	switch len(v) {
	case 8:
		return idEntry{deadline: binary.BigEndian.Uint64(v)}, nil
	case 16:
		return idEntry{deadline: binary.BigEndian.Uint64(v), hasEvent: true, recv: binary.BigEndian.Uint64(v[8:])}, nil
	}
	return idEntry{}, t.corrupted(bktIDs, []byte(id), v, errCorrupt)
}

// putID writes id's entry, or deletes it when both halves are empty.
func (t *txn) putID(id string, e idEntry) error {
	if !e.hasEvent && e.deadline == 0 {
		return t.ids.Delete([]byte(id))
	}
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), e.deadline)
	if e.hasEvent {
		v = binary.BigEndian.AppendUint64(v, e.recv)
	}
	return t.ids.Put([]byte(id), v)
}

// bitsKey is timeKey for a time already in timeBits form.
func bitsKey(bits uint64, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, bits)
	return append(k, id...)
}
