package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of OpEmitterOptions.
const (
	// DefaultOpQueue bounds the transitions waiting to be stored.
	DefaultOpQueue = 4096
	// DefaultOpBreakerGap is the least time between two breaker_opened
	// events of one subscriber raised by one gateway.
	DefaultOpBreakerGap = time.Minute
	opRetryMin          = 100 * time.Millisecond
	opRetryMax          = 30 * time.Second
	opStoreTimeout      = 5 * time.Second
)

// OpEmitterOptions are an OpEmitter's optional parts.
type OpEmitterOptions struct {
	Logger *slog.Logger     // slog.Default()
	Now    func() time.Time // time.Now; the retry waits use the real clock
	// QueueSize bounds the transitions held while the store is slow or
	// down (DefaultOpQueue); one raised while it is full is dropped and
	// counted (OpStats.Dropped).
	QueueSize int
	// BreakerGap: a breaker that opens again within this time of the last
	// breaker_opened this gateway raised for the subscriber raises nothing,
	// and neither does its closing (DefaultOpBreakerGap; negative: none).
	// It stops a flapping breaker from flooding the operators.
	BreakerGap time.Duration
}

// OpStats are an OpEmitter's counters since it was made.
type OpStats struct {
	Raised     int64 // transitions handed to Raise
	Stored     int64 // events stored (new, routed to at least one subscriber)
	Duplicates int64 // events another gateway (or an earlier try) had stored
	Unchanged  int64 // no transition: another gateway had made it, or a death did not land; nothing raised
	Unrouted   int64 // no subscriber takes the type: nothing stored
	Suppressed int64 // breaker transitions within BreakerGap: nothing raised
	Loops      int64 // dead deliveries of operational events: nothing raised
	Dropped    int64 // refused because the queue was full, or left at shutdown
	Failures   int64 // store errors met (each is retried)
	Queued     int64 // waiting now
	QueueMax   int64 // the bound of Queued
}

// OpEmitter turns the gateway's transitions (OpEvent) into events, stored
// and delivered like any other (through the Ingester): routed only to
// subscribers that name OpSource in their sources, filtered, signed and
// retried as usual.
//
// Raise never blocks: a transition waits in a bounded queue, and one
// goroutine stores them in order, retrying with backoff while the store
// is down. A transition that finds the queue full is dropped and counted;
// so are those still queued when Stop's context ends. Its methods are
// safe for concurrent use.
type OpEmitter struct {
	in    *Ingester
	latch Latcher // nil: the store keeps no shared state; this process's own stands in
	log   *slog.Logger
	now   func() time.Time
	gap   time.Duration

	queue   chan OpEvent
	stop    chan struct{} // Stop was called: drain, then end
	abort   chan struct{} // Stop's context ended: end now
	done    chan struct{}
	started atomic.Bool
	closed  atomic.Bool

	mu       sync.Mutex
	local    map[string]string    // latch states, without a Latcher
	lastOpen map[string]time.Time // subscriber -> last breaker_opened raised here
	dropLog  logEvery

	raised, stored, duplicates, unchanged, unrouted, suppressed, loops, dropped, failures atomic.Int64
}

// NewOpEmitter returns an emitter storing through in (its store, routing,
// filters and notify). Call Start to run it.
func NewOpEmitter(in *Ingester, opts OpEmitterOptions) *OpEmitter {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultOpQueue
	}
	if opts.BreakerGap == 0 {
		opts.BreakerGap = DefaultOpBreakerGap
	}
	m := &OpEmitter{
		in: in, log: opts.Logger.With("component", "opevents"), now: opts.Now, gap: opts.BreakerGap,
		queue: make(chan OpEvent, opts.QueueSize), stop: make(chan struct{}), abort: make(chan struct{}), done: make(chan struct{}),
		local: map[string]string{}, lastOpen: map[string]time.Time{},
	}
	m.latch, _ = in.store.(Latcher)
	return m
}

// Start runs the goroutine that stores the queued transitions until Stop.
func (m *OpEmitter) Start() {
	if m.started.Swap(true) {
		return
	}
	go m.run()
}

// Stop takes no more transitions and stores those queued until ctx ends;
// what is left then is dropped and counted.
func (m *OpEmitter) Stop(ctx context.Context) {
	if m.closed.Swap(true) || !m.started.Load() {
		return
	}
	close(m.stop)
	select {
	case <-m.done:
	case <-ctx.Done():
		close(m.abort)
		<-m.done // within one store call's timeout
	}
}

// Raising reports whether some subscriber of the config in force names
// OpSource in its sources; while none does, Raise drops everything.
func (m *OpEmitter) Raising() bool { return m.in.snap.Load().wantsOps }

// Raise queues one transition; it never blocks. Nothing is queued when
// no subscriber takes operational events, for a dead delivery of an
// operational event (OpEvent.Loops), or for a breaker flapping faster
// than BreakerGap.
func (m *OpEmitter) Raise(op OpEvent) {
	m.raised.Add(1)
	switch {
	case op.Loops():
		m.loops.Add(1)
		return
	case !m.in.snap.Load().wantsOps:
		m.unrouted.Add(1)
		return
	case m.closed.Load():
		m.dropped.Add(1)
		return
	case !m.breakerAllowed(op):
		m.suppressed.Add(1)
		return
	}
	select {
	case m.queue <- op:
	default:
		m.dropped.Add(1)
		if n, ok := m.dropLog.allow(time.Now(), time.Minute); ok {
			m.log.Error("operational event dropped: its queue is full (the store is slow or down)",
				"type", op.Type, "subscriber", op.Subscriber, "queue", cap(m.queue), "dropped_unlogged", n)
		}
	}
}

// breakerAllowed applies BreakerGap to breaker_opened. A suppressed
// opening leaves the shared state closed, so its closing raises nothing
// either: the operators see pairs, or nothing.
func (m *OpEmitter) breakerAllowed(op OpEvent) bool {
	if op.Type != OpBreakerOpened || m.gap < 0 {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if last, ok := m.lastOpen[op.Subscriber]; ok && op.At.Sub(last) < m.gap && op.At.Sub(last) > -m.gap {
		return false
	}
	if len(m.lastOpen) >= 1<<12 { // names of removed subscribers: keep the map bounded
		clear(m.lastOpen)
	}
	m.lastOpen[op.Subscriber] = op.At
	return true
}

// Stats returns the counters.
func (m *OpEmitter) Stats() OpStats {
	return OpStats{
		Raised: m.raised.Load(), Stored: m.stored.Load(), Duplicates: m.duplicates.Load(),
		Unchanged: m.unchanged.Load(), Unrouted: m.unrouted.Load(), Suppressed: m.suppressed.Load(),
		Loops: m.loops.Load(), Dropped: m.dropped.Load(), Failures: m.failures.Load(),
		Queued: int64(len(m.queue)), QueueMax: int64(cap(m.queue)),
	}
}

func (m *OpEmitter) run() {
	defer close(m.done)
	for {
		select {
		case op := <-m.queue:
			if !m.handleContained(m.batch(op)) {
				m.dropRest()
				return
			}
		case <-m.stop:
			// Store what is queued, each with its retries, until Stop's
			// context ends.
			for {
				select {
				case <-m.abort:
					m.dropRest()
					return
				case op := <-m.queue:
					if !m.handleContained(m.batch(op)) {
						m.dropRest()
						return
					}
				default:
					return
				}
			}
		}
	}
}

// opBatch bounds the transitions stored in one Put: a storm of dead
// deliveries costs one write per batch, not one per event.
const opBatch = 64

// opJob is one transition on its way to the store, with what the tries
// so far have settled, so that a retry does not do it again.
type opJob struct {
	op        OpEvent
	swapped   bool // the latch is moved (and changed says whether it changed)
	changed   bool
	confirmed bool // an unconfirmed death was read back dead
	done      bool
}

// batch takes first and what else is queued, up to opBatch.
func (m *OpEmitter) batch(first OpEvent) []*opJob {
	jobs := []*opJob{{op: first}}
	for len(jobs) < opBatch {
		select {
		case op := <-m.queue:
			jobs = append(jobs, &opJob{op: op})
		default:
			return jobs
		}
	}
	return jobs
}

// dropRest counts what is left in the queue as dropped.
func (m *OpEmitter) dropRest() {
	for {
		select {
		case <-m.queue:
			m.dropped.Add(1)
		default:
			return
		}
	}
}

// handleContained is handle, with a panic logged and counted: the
// batch's transitions not yet stored are dropped, and the loop goes on.
func (m *OpEmitter) handleContained(jobs []*opJob) (goOn bool) {
	goOn = true
	defer Contain("opevents", func(error) { m.dropped.Add(int64(pending(jobs))) })
	return m.handle(jobs)
}

func pending(jobs []*opJob) int {
	n := 0
	for _, j := range jobs {
		if !j.done {
			n++
		}
	}
	return n
}

// handle stores a batch of transitions, retrying while the store fails.
// It returns false when it gave up because of a shutdown (what was not
// stored then is counted dropped).
func (m *OpEmitter) handle(jobs []*opJob) bool {
	wait := opRetryMin
	var failLog logEvery
	for attempt := 0; ; attempt++ {
		err := m.try(jobs)
		if err == nil {
			return true
		}
		m.failures.Add(1)
		if n, ok := failLog.allow(time.Now(), time.Minute); ok {
			m.log.Warn("operational events not stored yet; retrying", "events", pending(jobs),
				"first_type", jobs[0].op.Type, "attempt", attempt+1, "unlogged", n, "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-m.abort:
			t.Stop()
			n := pending(jobs)
			m.dropped.Add(int64(n))
			m.log.Error("operational events dropped at shutdown: the store did not take them", "events", n, "err", err)
			return false
		}
		wait = min(wait*2, opRetryMax)
	}
}

// try makes one pass over the jobs not done: move each one's latch
// (once: a retry must not read back its own move), read an unconfirmed
// death back, then store the events of all in one Put.
func (m *OpEmitter) try(jobs []*opJob) error {
	ctx, cancel := context.WithTimeout(context.Background(), opStoreTimeout)
	defer cancel()
	var store []*opJob
	for _, j := range jobs {
		if j.done {
			continue
		}
		ready, err := m.prepare(ctx, j)
		if err != nil {
			return err
		}
		if !ready {
			j.done = true
			m.unchanged.Add(1)
			continue
		}
		store = append(store, j)
	}
	if len(store) == 0 {
		return nil
	}
	envs := make([]Envelope, 0, len(store))
	bodies := make([][]byte, 0, len(store))
	built := store[:0]
	for _, j := range store {
		env, body, err := j.op.Envelope()
		if err != nil {
			// A bug, not the store: retrying would not help.
			m.log.Error("operational event not built", "type", j.op.Type, "subscriber", j.op.Subscriber, "err", err)
			j.done = true
			m.dropped.Add(1)
			continue
		}
		envs, bodies, built = append(envs, env), append(bodies, body), append(built, j)
	}
	results, err := m.in.ingestOwn(ctx, envs, bodies, m.now())
	if err != nil {
		return err
	}
	for i, j := range built {
		j.done = true
		switch r := results[i]; {
		case r.routed == 0:
			m.unrouted.Add(1)
		case r.dup:
			m.duplicates.Add(1)
		default:
			m.stored.Add(1)
			m.log.Debug("operational event stored", "type", j.op.Type, "subscriber", j.op.Subscriber,
				"id", envs[i].ID, "subscribers", r.routed)
		}
	}
	return nil
}

// prepare settles, once, whether the job's event is to be stored: its
// latch moved by this gateway (OpEvent.latch), its death read back
// (OpEvent.unconfirmed). ready false: nothing to raise.
func (m *OpEmitter) prepare(ctx context.Context, j *opJob) (ready bool, err error) {
	op := j.op
	if op.latch != "" && !j.swapped {
		prev, err := m.swap(ctx, op.latch, op.latchTo)
		if err != nil {
			return false, err
		}
		j.swapped, j.changed = true, op.emitIf(prev)
	}
	if op.latch != "" && !j.changed {
		return false, nil
	}
	if op.unconfirmed && !j.confirmed {
		rec, err := m.in.store.Event(ctx, op.Event.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			return false, nil
		case err != nil:
			return false, err
		case !op.confirmedDead(rec):
			return false, nil // the Record did not land: the delivery goes on
		}
		j.confirmed = true
	}
	return true, nil
}

func (m *OpEmitter) swap(ctx context.Context, key, value string) (string, error) {
	if m.latch != nil {
		return m.latch.SwapState(ctx, key, value)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := m.local[key]
	m.local[key] = value
	return prev, nil
}
