package boltstore

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// migrateV1 brings a schema 1 file to schema 2, in the transaction that
// opens it. Schema 1 keyed deliveries and history by event id; schema 2
// keys them by eventKey (receipt time, then id), so that a commit's writes
// to them sit together. Nothing else changed. An entry whose event is gone
// cannot arise (events are deleted with their deliveries) and is dropped.
func migrateV1(tx *bolt.Tx) error {
	events := tx.Bucket(bktEvents)
	for _, name := range [][]byte{bktDeliveries, bktHistory} {
		tmpName := append([]byte("migrate-"), name...)
		tmp, err := tx.CreateBucket(tmpName)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		c := tx.Bucket(name).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				return fmt.Errorf("migrate %s: key %q: %w", name, k, errCorrupt)
			}
			raw := events.Get(k[:i])
			if raw == nil {
				continue
			}
			ev, err := decodeEvent(raw, false)
			if err != nil {
				return fmt.Errorf("migrate %s: event %q: %w", name, k[:i], err)
			}
			nk := append(eventKey(ev.ReceivedAt, string(k[:i])), k[i:]...)
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
		dst.FillPercent = 1 // filled in key order
		if err := tmp.ForEach(func(k, v []byte) error {
			return dst.Put(append([]byte(nil), k...), append([]byte(nil), v...))
		}); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if err := tx.DeleteBucket(tmpName); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return tx.Bucket(bktMeta).Put([]byte("version"), []byte(schemaVersion))
}
