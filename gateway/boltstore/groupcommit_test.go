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

// TestGroupCommitUrgentFirst: writes queued behind a held transaction go
// into the next ones urgent first, whatever the order they came in, and
// neither kind takes the other's slots.
func TestGroupCommitUrgentFirst(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "gc.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := newGroupCommit(db, 3, 4) // three a transaction, four of each kind admitted
	blocker := park(g)
	<-blocker.started
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	submit := func(name string, urgent bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := g.submit(context.Background(), func(*bolt.Tx) error {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				return nil
			}, nil, urgent)
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	for i := range 3 {
		submit(fmt.Sprintf("record%d", i), false)
		waitQueued(g, i+1)
	}
	// The record slots are full but one; the urgent ones have their own.
	for i := range 4 {
		submit(fmt.Sprintf("put%d", i), true)
		waitQueued(g, 4+i)
	}
	close(blocker.release)
	wg.Wait()
	if err := <-blocker.done; err != nil {
		t.Fatal(err)
	}
	want := []string{"put0", "put1", "put2", "put3", "record0", "record1", "record2"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("ran in the order %v, want %v", order, want)
	}
}
