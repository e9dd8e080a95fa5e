package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// stuck is a write parked in the group commit: its fn signals started and
// then blocks until release, holding up its transaction as a slow disk
// would.
type stuck struct {
	started, release chan struct{}
	done             chan error
}

func park(g *groupCommit) *stuck { return parkAs(g, false) }

// parkAs parks an urgent write (doUrgent, as Put is) or another.
func parkAs(g *groupCommit, urgent bool) *stuck {
	w := &stuck{started: make(chan struct{}), release: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		w.done <- g.submit(context.Background(), func(*bolt.Tx) error {
			select {
			case <-w.started: // run again after a rollback
			default:
				close(w.started)
			}
			<-w.release
			return nil
		}, nil, urgent)
	}()
	return w
}

// waitQueued waits until n writes are in g's queue, not yet taken by a
// transaction.
func waitQueued(g *groupCommit, n int) {
	for {
		g.mu.Lock()
		got := len(g.queue) + len(g.urgent)
		g.mu.Unlock()
		if got == n {
			return
		}
		runtime.Gosched()
	}
}

// result waits for a write that must return on its own; the minute is a
// deadlock guard, not a measure of speed.
func result(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("%s has not returned a minute after its context ended", what)
		return nil
	}
}

// TestWriteGivesUpWithItsContext: a Put or Record whose context ends
// while the group commit is held up returns at once with ctx's error,
// wherever the write was: still queued, taken into a transaction whose
// turn had not come, or run in a transaction not yet committed. In the
// first two cases nothing is written; in the third the write commits after
// its caller left, and the store is as consistent as after any commit: the
// upstream's retry of the Put is a duplicate, the worker's retry of the
// Record finds its lease ended, no lease entry is left behind.
func TestWriteGivesUpWithItsContext(t *testing.T) {
	type op struct {
		name string
		// call runs the write; applied checks the store after all is
		// released, given whether the write was committed.
		call    func(ctx context.Context, s *Store, c gateway.Claim) error
		applied func(t *testing.T, s *Store, c gateway.Claim, want bool)
		leases  int // lease entries left after: the claim, unless the write ended it
	}
	ctx := context.Background()
	ops := []op{
		{"Put",
			func(ctx context.Context, s *Store, _ gateway.Claim) error {
				_, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_new", t0, "sub-a")})
				return err
			},
			func(t *testing.T, s *Store, _ gateway.Claim, want bool) {
				res, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_new", t0.Add(time.Second), "sub-a")})
				if err != nil || res[0].Duplicate != want {
					t.Errorf("the upstream's retry of the Put = %+v, %v; want duplicate %v", res, err, want)
				}
				if st, _ := s.Stats(ctx, "sub-a"); st.Pending != 2 { // evt_old and evt_new, once
					t.Errorf("Stats pending = %d after the retry, want 2", st.Pending)
				}
			}, 1},
		{"Record",
			func(ctx context.Context, s *Store, c gateway.Claim) error {
				return s.Record(ctx, c, gateway.Outcome{Status: gateway.StatusDelivered,
					Attempt: gateway.Attempt{At: t0, StatusCode: 200}})
			},
			func(t *testing.T, s *Store, c gateway.Claim, want bool) {
				err := s.Record(ctx, c, gateway.Outcome{Status: gateway.StatusDelivered,
					Attempt: gateway.Attempt{At: t0, StatusCode: 200}})
				if want && !errors.Is(err, gateway.ErrLeaseLost) || !want && err != nil {
					t.Errorf("the worker's retry of the Record = %v; want lease lost %v", err, want)
				}
				if st, _ := s.Stats(ctx, "sub-a"); st.Delivered != 1 {
					t.Errorf("Stats delivered = %d, want 1 (recorded once)", st.Delivered)
				}
			}, 0},
	}
	// Where the write is when its context ends. A blocker holds the group
	// commit's transaction first; a stuck write parked before or after the
	// write shares the write's transaction and holds it up.
	places := []struct {
		name          string
		before, after bool // a stuck write ahead of / behind it in its transaction
		applied       bool
	}{
		{"queued", false, false, false},
		{"taken, its turn not come", true, false, false},
		{"run, commit pending", false, true, true},
	}
	for _, o := range ops {
		for _, pl := range places {
			t.Run(o.name+"/"+pl.name, func(t *testing.T) {
				s := openTest(t, t.TempDir())
				if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_old", t0, "sub-a")}); err != nil {
					t.Fatalf("Put: %v", err)
				}
				cs, err := s.Claim(ctx, "sub-a", t0, 1, time.Hour)
				if err != nil || len(cs) != 1 {
					t.Fatalf("Claim = %d, %v; want 1", len(cs), err)
				}
				g := s.gc
				blocker := park(g) // holds the group commit: the next transaction waits
				<-blocker.started
				var ahead, behind *stuck
				if pl.before {
					// Ahead of it in its transaction: of its own kind, since
					// a Put (urgent) goes before other writes.
					ahead = parkAs(g, o.name == "Put")
					waitQueued(g, 1)
				}
				wctx, cancel := context.WithCancel(ctx)
				defer cancel()
				res := make(chan error, 1)
				go func() { res <- o.call(wctx, s, cs[0]) }()
				waitQueued(g, 1+int(count(pl.before)))
				if pl.after {
					behind = park(g)
					waitQueued(g, 2)
				}
				if pl.before || pl.after {
					close(blocker.release) // the next transaction takes the queue
				}
				switch {
				case ahead != nil:
					<-ahead.started // the write is taken; its turn waits
				case behind != nil:
					<-behind.started // the write has run; the commit waits
				}
				cancel()
				if err := result(t, o.name, res); !errors.Is(err, context.Canceled) {
					t.Errorf("%s after its context ended = %v, want context.Canceled", o.name, err)
				}
				if !pl.before && !pl.after {
					close(blocker.release)
				}
				for _, w := range []*stuck{ahead, behind} {
					if w != nil {
						close(w.release)
						if err := <-w.done; err != nil {
							t.Fatalf("stuck write: %v", err)
						}
					}
				}
				if err := <-blocker.done; err != nil {
					t.Fatalf("blocker: %v", err)
				}
				waitIdle(g)
				o.applied(t, s, cs[0], pl.applied)
				if n := leaseCount(s); n != o.leases {
					t.Errorf("%d lease entries left, want %d", n, o.leases)
				}
				checkIndexes(t, s)
			})
		}
	}
}

// waitIdle waits until g has no write admitted.
func waitIdle(g *groupCommit) {
	for g.queued() != 0 {
		runtime.Gosched()
	}
}

// TestGroupCommitBounded: with the queue full, a writer waits for room,
// and one whose context ends meanwhile returns ctx's error and is never
// written; the queue never holds more than its bound, and takes writers
// again once room is made. The writer's context is ended only once the
// writer is known to be waiting for a slot (g.waitingForSlot), so it is
// the waiting that gives up, not do's check of ctx on entry.
func TestGroupCommitBounded(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "gc.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bucket := []byte("b")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
	const bound = 3
	g := newGroupCommit(db, 2, bound)
	// Only the write past the bound finds the queue full: the blocker and
	// the queued writes are admitted while there is room.
	waiting := make(chan struct{}, 1)
	g.waitingForSlot = func() {
		select {
		case waiting <- struct{}{}:
		default:
			t.Error("more than one writer waited for a slot")
		}
	}
	write := func(ctx context.Context, key string) error {
		return g.do(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), []byte{1}) }, nil)
	}
	blocker := park(g) // taken, holding its transaction
	release := sync.OnceFunc(func() { close(blocker.release) })
	defer release() // on failure, before db.Close, which waits for its transaction
	<-blocker.started
	queued := make(chan error, bound-1)
	for i := range bound - 1 {
		go func() { queued <- write(context.Background(), fmt.Sprintf("q%d", i)) }()
	}
	waitQueued(g, bound-1)
	if got := g.queued(); got != bound {
		t.Fatalf("%d writes admitted, want the bound, %d", got, bound)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	over := make(chan error, 1)
	overEnds := make(chan bool, 2) // end's committed, per call of end
	go func() {
		over <- g.do(ctx, func(tx *bolt.Tx) error {
			return tx.Bucket(bucket).Put([]byte("over"), []byte{1})
		}, func(committed bool) { overEnds <- committed })
	}()
	<-waiting // past do's entry check of ctx, about to wait for a slot
	cancel()
	// Nothing frees a slot until the blocker is released, so the write
	// can only return by giving up its wait.
	if err := result(t, "the write past the bound", over); !errors.Is(err, context.Canceled) {
		t.Errorf("write past the bound after its context ended = %v, want context.Canceled", err)
	}
	if got := g.queued(); got != bound {
		t.Errorf("%d writes admitted after the write past the bound gave up, want the bound, %d", got, bound)
	}
	select {
	case committed := <-overEnds:
		if committed {
			t.Errorf("end of the write that gave up waiting for room was told it committed")
		}
	default:
		t.Errorf("end of the write that gave up waiting for room was not run before it returned")
	}
	release()
	for range bound - 1 {
		if err := <-queued; err != nil {
			t.Errorf("queued write: %v", err)
		}
	}
	waitIdle(g) // a finished write gives up its slot just after it returns
	if err := write(context.Background(), "later"); err != nil {
		t.Errorf("write once room is made: %v", err)
	}
	waitIdle(g)
	if n := len(overEnds); n != 0 {
		t.Errorf("end of the write that gave up waiting for room was run %d more times", n)
	}
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, k := range []string{"q0", "q1", "later"} {
			if b.Get([]byte(k)) == nil {
				t.Errorf("%s not written", k)
			}
		}
		if b.Get([]byte("over")) != nil {
			t.Errorf("the write that gave up waiting for room was written")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
