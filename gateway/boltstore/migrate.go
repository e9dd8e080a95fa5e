package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Older files are migrated in place, in the transaction that opens them,
// so a failure leaves the file as it was. Schema 1 keyed deliveries and
// history by event id, schema 2 by eventKey; schema 3 keys events by
// eventKey too, and replaces the dedupe bucket (id -> deadline) with ids
// (id -> deadline, receipt time). Nothing else changed.

// bktDedupeV2 is schema 2's id -> dedupe deadline(8).
var bktDedupeV2 = []byte("dedupe")

// migrate brings a file of schema version v up to schemaVersion.
func migrate(tx *bolt.Tx, v string) error {
	switch v {
	case "1":
		if err := migrateV1(tx); err != nil {
			return err
		}
		fallthrough
	case "2":
		if err := migrateV2(tx); err != nil {
			return err
		}
	}
	return tx.Bucket(bktMeta).Put([]byte("version"), []byte(schemaVersion))
}

// migrateV1 rekeys deliveries and history from event id to eventKey. An
// entry whose event is gone cannot arise (events are deleted with their
// deliveries) and is dropped.
func migrateV1(tx *bolt.Tx) error {
	events := tx.Bucket(bktEvents)
	for _, name := range [][]byte{bktDeliveries, bktHistory} {
		err := rekey(tx, name, func(k, v []byte) ([]byte, error) {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				return nil, fmt.Errorf("key %q: %w", k, errCorrupt)
			}
			raw := events.Get(k[:i])
			if raw == nil {
				return nil, nil
			}
			ev, err := decodeEvent(raw, false)
			if err != nil {
				return nil, fmt.Errorf("event %q: %w", k[:i], err)
			}
			return append(eventKey(ev.ReceivedAt, string(k[:i])), k[i:]...), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// migrateV2 rekeys events from id to eventKey and moves the dedupe
// deadlines into ids, with each stored event's receipt time.
func migrateV2(tx *bolt.Tx) error {
	t := newTxn(tx, nil)
	dedupe := tx.Bucket(bktDedupeV2)
	deadline := func(id []byte) uint64 {
		if dedupe == nil {
			return 0
		}
		if d := dedupe.Get(id); len(d) == 8 {
			return binary.BigEndian.Uint64(d)
		}
		return 0
	}
	err := rekey(tx, bktEvents, func(k, v []byte) ([]byte, error) {
		ev, err := decodeEvent(v, false)
		if err != nil {
			return nil, fmt.Errorf("event %q: %w", k, err)
		}
		e := idEntry{deadline: deadline(k), hasEvent: true, recv: timeBits(ev.ReceivedAt)}
		if err := t.putID(string(k), e); err != nil {
			return nil, err
		}
		return eventKey(ev.ReceivedAt, string(k)), nil
	})
	if err != nil || dedupe == nil {
		return err
	}
	err = dedupe.ForEach(func(k, v []byte) error {
		if t.ids.Get(k) != nil || len(v) != 8 {
			return nil
		}
		return t.putID(string(k), idEntry{deadline: binary.BigEndian.Uint64(v)})
	})
	if err != nil {
		return fmt.Errorf("migrate dedupe: %w", err)
	}
	return tx.DeleteBucket(bktDedupeV2)
}

// rekey rewrites the bucket name with each key k replaced by newKey(k, v);
// a nil new key drops the entry. It goes through a temporary bucket, as
// the new keys may collide with old ones not yet moved.
func rekey(tx *bolt.Tx, name []byte, newKey func(k, v []byte) ([]byte, error)) error {
	tmpName := append([]byte("migrate-"), name...)
	tmp, err := tx.CreateBucket(tmpName)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	c := tx.Bucket(name).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		nk, err := newKey(k, v)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if nk == nil {
			continue
		}
		if err := tmp.Put(nk, append([]byte(nil), v...)); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	if err := tx.DeleteBucket(name); err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	dst, err := tx.CreateBucket(name)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	dst.FillPercent = appendFill // filled in key order
	err = tmp.ForEach(func(k, v []byte) error {
		return dst.Put(append([]byte(nil), k...), append([]byte(nil), v...))
	})
	if err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	return tx.DeleteBucket(tmpName)
}
