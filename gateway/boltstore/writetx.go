package boltstore

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// writeTx runs fn in a write transaction and commits it, as bolt's
// Update does, with what Update leaves out: the disk's state is checked
// first (a write during a backoff, or on a store latched failed, is
// refused without a transaction), a failed commit is classified
// (diskState.failed), and a panic is contained (recoverWrite). fn's own
// error rolls the transaction back and comes back as it is.
func (d *diskState) writeTx(db *bolt.DB, fn func(*bolt.Tx) error) (err error) {
	if err := d.admit(); err != nil {
		return err
	}
	tx, err := db.Begin(true)
	if err != nil {
		return err
	}
	d.tries.Add(1)
	committing := false
	defer func() {
		if p := recover(); p != nil {
			err = d.recoverWrite(tx, p, committing)
		}
	}()
	if err := fn(tx); err != nil {
		// A plain rollback: bbolt's own after a failed commit rescans the
		// file, which a transaction that wrote nothing out has no need of.
		_ = tx.Rollback()
		return err
	}
	committing = true
	if err := d.commit(tx); err != nil {
		return d.failed(err)
	}
	d.committed()
	return nil
}

// writeTxThen is writeTx followed by then(err), both under d.serial: then
// gives up the lease-table entries of the calls in the transaction
// (leaseCall.finish), which must be done before the next write
// transaction runs. A write transaction that came between the commit and
// then would see a committed delivery still owned by its Record, and take
// it for one in someone's hands: a manual redelivery just after a
// delivery died was skipped so (boltstore's writes outside the group
// commit, update, run on their own goroutines).
func (d *diskState) writeTxThen(db *bolt.DB, fn func(*bolt.Tx) error, then func(error)) error {
	d.serial.Lock()
	defer d.serial.Unlock()
	err := d.writeTx(db, fn)
	then(err)
	return err
}

// recoverWrite ends a write transaction that panicked, with p, and
// returns the error its callers get: a gateway.ErrUnavailable, so that
// nothing of the batch in hand (every call of the transaction) is
// acknowledged as stored, while the loop that runs it (the group commit's
// goroutine, or the caller's) goes on. The panic is logged with its
// stack.
//
// A panic out of a call's function leaves the transaction open: it is
// rolled back, and the next write runs as usual. One out of the commit
// (bbolt's rollback of a failed commit panics on a page it cannot read)
// says the file may be damaged: the store latches failed. So does a
// rollback that panics in turn, since bbolt's write lock then stays held
// and every later transaction would wait for it for ever.
func (d *diskState) recoverWrite(tx *bolt.Tx, p any, committing bool) error {
	gateway.CountPanic("boltstore")
	d.log.panicked("boltstore", p)
	err := fmt.Errorf("a write transaction panicked: %v", p)
	open := tx.DB() != nil // not yet closed by a commit or a rollback
	if open && !rollbackAfterPanic(tx) {
		d.mu.Lock()
		d.wedged = true
		d.mu.Unlock()
		return d.stop(err, "the file's write lock is lost: restart hookgate")
	}
	if committing && open {
		return d.stop(err, "the file may be damaged: check it (bbolt check "+d.file+"), restore it from a backup if "+
			"it is, then restart hookgate")
	}
	return fmt.Errorf("%w: %w", gateway.ErrUnavailable, err)
}

// rollbackAfterPanic rolls back a transaction that panicked, and reports
// whether it could: the rollback may panic in turn.
func rollbackAfterPanic(tx *bolt.Tx) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_ = tx.Rollback()
	return true
}
