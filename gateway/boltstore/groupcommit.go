package boltstore

import (
	"context"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// groupCommit coalesces concurrent writes into shared transactions: while
// one commit (and its fsync) runs, the writes that arrive queue up, and the
// next commit takes them all. Unlike bbolt's Batch it never waits on a
// timer, so a lone write costs one commit and a busy store commits as fast
// as the disk syncs, each commit carrying everything that queued meanwhile.
//
// The queue is bounded (slots): a writer past the bound waits for a slot,
// and every writer waits only as long as its context lets it, so a slow
// disk makes callers give up (Put answers 503) rather than pile up behind
// it without end.
//
// Urgent writes (doUrgent: ingest's Put, which a provider waits on) have
// a queue and slots of their own and go into the next transaction ahead
// of the others, so that deliveries' Records, ten per event with ten
// subscribers, neither fill the slots nor stand ahead of them.
type groupCommit struct {
	db   *bolt.DB
	disk *diskState // every transaction goes through its writeTx
	max  int        // writes per transaction, to bound its size
	// slots holds one token per admitted write, queued or being committed;
	// urgentSlots the same for urgent writes.
	slots, urgentSlots chan struct{}

	mu      sync.Mutex
	queue   []*gcCall
	urgent  []*gcCall
	running bool // a committer goroutine is draining the queues

	commits atomic.Int64 // transactions committed, for benchmarks

	// committed, if not nil, is called after a transaction commits and
	// before its calls are finished (their lease-table entries given up).
	// A test hook, nil outside tests, set before g is used.
	committed func()

	// waitingForSlot, if not nil, is called by a writer that found the
	// queue full, just before it waits for a slot or for its context to
	// end. It is a test hook, nil outside tests, set before g is used: it
	// lets a test end the writer's context only once the writer is known
	// to be waiting, so that the give-up branch is exercised for certain.
	waitingForSlot func()
}

type gcCall struct {
	ctx context.Context
	fn  func(*bolt.Tx) error
	// end runs in the committer once the call's fate is sealed: committed,
	// failed, or dropped unrun. It runs before done is sent, and also when
	// the caller has stopped waiting, so that what the call holds (its
	// lease-table entries) is given up when its transaction is over, not
	// when its caller leaves.
	end  func(committed bool)
	done chan error
	slot chan struct{} // the slots the call holds one of
}

// newGroupCommit makes a group commit of at most max writes per
// transaction and at most queued writes admitted at once.
func newGroupCommit(db *bolt.DB, max, queued int) *groupCommit {
	return &groupCommit{db: db, disk: newDiskState(db.Path()), max: max,
		slots: make(chan struct{}, queued), urgentSlots: make(chan struct{}, queued)}
}

// doUrgent is do for a write someone waits on (see groupCommit).
func (g *groupCommit) doUrgent(ctx context.Context, fn func(*bolt.Tx) error, end func(committed bool)) error {
	return g.submit(ctx, fn, end, true)
}

// do runs fn in a write transaction shared with other callers and returns
// once that transaction is committed, or fn's error. As with bbolt's
// Batch, fn may run more than once: when another write in its transaction
// fails, the transaction is rolled back and the others are run again. end,
// if not nil, is run as gcCall says.
//
// When ctx ends first, do returns ctx's error at once. If fn's turn in a
// transaction has not come yet, it never runs; if fn has run, its
// transaction goes on and may commit after do has returned. The caller
// cannot tell which, so it must treat the write as perhaps made: Put's
// caller answers 503 and the upstream's retry is a duplicate; a Record
// that did commit ended the lease (a second try gets ErrLeaseLost), and
// one that did not leaves the lease to run out and the delivery to come
// due again. Either way the file is consistent: a write is all there or
// not at all.
func (g *groupCommit) do(ctx context.Context, fn func(*bolt.Tx) error, end func(committed bool)) error {
	return g.submit(ctx, fn, end, false)
}

func (g *groupCommit) submit(ctx context.Context, fn func(*bolt.Tx) error, end func(committed bool), urgent bool) error {
	slots := g.slots
	if urgent {
		slots = g.urgentSlots
	}
	if end == nil {
		end = func(bool) {}
	}
	if err := ctx.Err(); err != nil {
		end(false)
		return err
	}
	// A write refused now (a backoff after a full disk, or a store latched
	// failed) is answered at once, without waiting for a slot.
	if err := g.disk.admit(); err != nil {
		end(false)
		return err
	}
	select {
	case slots <- struct{}{}:
	default: // the queue is full: wait for a slot as long as ctx lets us
		if g.waitingForSlot != nil {
			g.waitingForSlot()
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			end(false)
			return ctx.Err()
		}
	}
	c := &gcCall{ctx: ctx, fn: fn, end: end, done: make(chan error, 1), slot: slots}
	g.mu.Lock()
	if urgent {
		g.urgent = append(g.urgent, c)
	} else {
		g.queue = append(g.queue, c)
	}
	if !g.running {
		g.running = true
		go g.drain()
	}
	g.mu.Unlock()
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-c.done: // finished as ctx ended: the result is known
		return err
	default:
	}
	g.withdraw(c)
	return ctx.Err()
}

// withdraw takes c out of the queue if no transaction has taken it yet.
func (g *groupCommit) withdraw(c *gcCall) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, queue := range []*[]*gcCall{&g.urgent, &g.queue} {
		for i, q := range *queue {
			if q == c {
				*queue = append((*queue)[:i], (*queue)[i+1:]...)
				g.finish(c, false, c.ctx.Err())
				return
			}
		}
	}
}

// queued is the number of writes admitted and not yet finished.
func (g *groupCommit) queued() int { return len(g.slots) + len(g.urgentSlots) }

// finish ends a call: end, then its result, then its slot.
func (g *groupCommit) finish(c *gcCall, committed bool, err error) {
	c.end(committed)
	c.done <- err
	<-c.slot
}

// drain commits queued writes until the queue is empty. Writes whose
// caller has given up by the time they are taken are dropped unrun.
func (g *groupCommit) drain() {
	for {
		g.mu.Lock()
		if len(g.urgent)+len(g.queue) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		// Urgent writes first, then the others, up to max in all.
		calls := make([]*gcCall, 0, min(len(g.urgent)+len(g.queue), g.max))
		for _, queue := range []*[]*gcCall{&g.urgent, &g.queue} {
			n := min(len(*queue), g.max-len(calls))
			for _, c := range (*queue)[:n] {
				if err := c.ctx.Err(); err != nil {
					g.finish(c, false, err)
					continue
				}
				calls = append(calls, c)
			}
			*queue = (*queue)[n:]
			if len(*queue) == 0 {
				*queue = nil // let the backing array go
			}
		}
		g.mu.Unlock()
		g.commit(calls)
	}
}

// commit runs calls in one transaction. A failing call gets its error and
// leaves the group; the rest are retried in a fresh transaction, so that
// one write's failure does not fail the others. A call whose caller has
// given up by its turn is passed over, unwritten; one whose fn has run
// stays in the transaction, since the others' writes may depend on what
// it wrote. A failed commit, a write refused by the disk's state
// (diskState.admit: the calls queued during a backoff are answered
// without a transaction) and a panic (diskState.recoverWrite) fail every
// call of the group.
func (g *groupCommit) commit(calls []*gcCall) {
	for len(calls) > 0 {
		failed := -1
		skipped := make([]bool, len(calls))
		err := g.disk.writeTxThen(g.db, func(tx *bolt.Tx) error {
			for i, c := range calls {
				if c.ctx.Err() != nil {
					skipped[i] = true
					continue
				}
				if err := c.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		}, func(err error) {
			if failed >= 0 {
				return // rolled back: the others run again below
			}
			if err == nil {
				g.commits.Add(1)
				if g.committed != nil {
					g.committed()
				}
			}
			for i, c := range calls {
				if skipped[i] {
					g.finish(c, false, c.ctx.Err())
					continue
				}
				g.finish(c, err == nil, err)
			}
		})
		if failed < 0 {
			return
		}
		g.finish(calls[failed], false, err)
		calls = append(calls[:failed], calls[failed+1:]...)
	}
}
