package gateway

import (
	"sync"
	"time"
)

// DuplicateTally keeps a store's duplicates counters (EventRecord.
// Duplicates) in memory and has them written in one batch a little later,
// so that a recognized duplicate costs its Put no write: a replay flood of
// one captured request then costs one small write per delay, not an
// fsynced write per replay. The counts of the last delay are lost if the
// process dies: the counter is for operators, not for correctness.
//
// It holds at most max ids. A Put that finds it full writes what it holds
// at once, itself, before adding (the caller pays the write, as every
// duplicate did before), so memory stays bounded under any flood. Safe
// for concurrent use.
type DuplicateTally struct {
	delay time.Duration
	max   int
	write func(map[string]DuplicateCount) error

	flushMu sync.Mutex // one write at a time, so that counts land in order

	mu       sync.Mutex
	pending  map[string]DuplicateCount
	inflight map[string]DuplicateCount // being written: still counted by Pending
	timer    *time.Timer
	closed   bool
}

// DuplicateCount is how many duplicates of one event a tally holds, with
// the store's hint of where the event lives (a partition).
type DuplicateCount struct {
	N    int
	Hint int
}

// NewDuplicateTally returns a tally that calls write with what it holds
// delay after its first count, at most max ids at a time. write adds
// each count to its event's counter, skipping events that are gone; on
// error the counts are kept for the next write.
func NewDuplicateTally(delay time.Duration, max int, write func(map[string]DuplicateCount) error) *DuplicateTally {
	return &DuplicateTally{delay: delay, max: max, write: write, pending: map[string]DuplicateCount{}}
}

// Add counts one duplicate of the event id, found where hint says.
func (d *DuplicateTally) Add(id string, hint int) {
	for {
		d.mu.Lock()
		c, ok := d.pending[id]
		if ok || len(d.pending) < d.max || d.closed {
			c.N++
			c.Hint = hint
			d.pending[id] = c
			closed := d.closed // read under the lock: Close may run meanwhile
			if d.timer == nil && !closed {
				d.timer = time.AfterFunc(d.delay, func() { _ = d.Flush() })
			}
			d.mu.Unlock()
			if closed {
				_ = d.Flush()
			}
			return
		}
		d.mu.Unlock()
		if err := d.Flush(); err != nil {
			// The store cannot take the write: the count is dropped
			// rather than memory grown.
			return
		}
	}
}

// Pending is how many duplicates of id are counted and not yet written.
func (d *DuplicateTally) Pending(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pending[id].N + d.inflight[id].N
}

// Flush writes what the tally holds now. On error the counts are kept
// (up to max ids) for the next flush, which is scheduled.
func (d *DuplicateTally) Flush() error {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	batch := d.pending
	if len(batch) == 0 {
		d.mu.Unlock()
		return nil
	}
	d.pending, d.inflight = map[string]DuplicateCount{}, batch
	d.mu.Unlock()

	err := d.write(batch)

	d.mu.Lock()
	defer d.mu.Unlock()
	d.inflight = nil
	if err != nil {
		for id, c := range batch {
			if len(d.pending) >= d.max {
				break
			}
			p := d.pending[id]
			p.N += c.N
			p.Hint = c.Hint
			d.pending[id] = p
		}
		if d.timer == nil && !d.closed {
			d.timer = time.AfterFunc(d.delay, func() { _ = d.Flush() })
		}
	}
	return err
}

// Close writes what the tally holds and stops its timer; counts added
// after it are written at once. The store calls it before it closes.
func (d *DuplicateTally) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	return d.Flush()
}
