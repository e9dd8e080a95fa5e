package boltstore

import (
	bolt "go.etcd.io/bbolt"
)

// writeTx runs fn in a write transaction and commits it, as bolt's
// Update does, with what Update leaves out: the disk's state is checked
// first (a write during a backoff, or on a store latched failed, is
// refused without a transaction), and a failed commit is classified
// (diskState.failed). fn's own error rolls the transaction back and
// comes back as it is.
func (d *diskState) writeTx(db *bolt.DB, fn func(*bolt.Tx) error) error {
	if err := d.admit(); err != nil {
		return err
	}
	tx, err := db.Begin(true)
	if err != nil {
		return err
	}
	d.tries.Add(1)
	if err := fn(tx); err != nil {
		// A plain rollback: bbolt's own after a failed commit rescans the
		// file, which a transaction that wrote nothing out has no need of.
		_ = tx.Rollback()
		return err
	}
	if err := d.commit(tx); err != nil {
		return d.failed(err)
	}
	d.committed()
	return nil
}
