package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestGroupCommitIsolatesFailures runs many writers at once, some failing,
// and checks that every successful writer's key is committed, every failing
// writer gets its own error, and no failing writer's key is.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "gc.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bucket := []byte("b")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
	const writers = 60
	g := newGroupCommit(db, 7, writers) // small, so that groups split
	fails := func(i int) bool { return i%10 == 3 }
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.do(context.Background(), func(tx *bolt.Tx) error {
				if err := tx.Bucket(bucket).Put(fmt.Appendf(nil, "k%02d", i), []byte{1}); err != nil {
					return err
				}
				if fails(i) {
					return fmt.Errorf("writer %d: %w", i, errBoom)
				}
				return nil
			}, nil)
		}()
	}
	wg.Wait()

	err = db.View(func(tx *bolt.Tx) error {
		for i := range writers {
			stored := tx.Bucket(bucket).Get(fmt.Appendf(nil, "k%02d", i)) != nil
			if stored == fails(i) {
				t.Errorf("writer %d: stored = %v, want %v", i, stored, !fails(i))
			}
			if got := errors.Is(errs[i], errBoom); got != fails(i) {
				t.Errorf("writer %d: error %v, want failure = %v", i, errs[i], fails(i))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var errBoom = errors.New("boom")
