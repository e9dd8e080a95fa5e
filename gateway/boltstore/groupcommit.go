package boltstore

import (
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// groupCommit coalesces concurrent writes into shared transactions: while
// one commit (and its fsync) runs, the writes that arrive queue up, and the
// next commit takes them all. Unlike bbolt's Batch it never waits on a
// timer, so a lone write costs one commit and a busy store commits as fast
// as the disk syncs, each commit carrying everything that queued meanwhile.
type groupCommit struct {
	db  *bolt.DB
	max int // writes per transaction, to bound its size

	mu      sync.Mutex
	queue   []*gcCall
	running bool // a committer goroutine is draining the queue

	commits atomic.Int64 // transactions committed, for benchmarks
}

type gcCall struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// do runs fn in a write transaction shared with other callers and returns
// once that transaction is committed, or fn's error. As with bbolt's
// Batch, fn may run more than once: when another write in its transaction
// fails, the transaction is rolled back and the others are run again.
func (g *groupCommit) do(fn func(*bolt.Tx) error) error {
	c := &gcCall{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if !g.running {
		g.running = true
		go g.drain()
	}
	g.mu.Unlock()
	return <-c.done
}

// drain commits queued writes until the queue is empty.
func (g *groupCommit) drain() {
	for {
		g.mu.Lock()
		n := min(len(g.queue), g.max)
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		calls := append([]*gcCall(nil), g.queue[:n]...)
		g.queue = g.queue[n:]
		if len(g.queue) == 0 {
			g.queue = nil // let the backing array go
		}
		g.mu.Unlock()
		g.commit(calls)
	}
}

// commit runs calls in one transaction. A failing call gets its error and
// leaves the group; the rest are retried in a fresh transaction, so that
// one write's failure does not fail the others.
func (g *groupCommit) commit(calls []*gcCall) {
	for len(calls) > 0 {
		failed := -1
		err := g.db.Update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := c.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			if err == nil {
				g.commits.Add(1)
			}
			for _, c := range calls {
				c.done <- err
			}
			return
		}
		calls[failed].done <- err
		calls = append(calls[:failed], calls[failed+1:]...)
	}
}
