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
	Unchanged  int64 // transitions another gateway had already made: nothing raised
	Unrouted   int64 // no subscriber takes the type: nothing stored
	Suppressed int64 // breaker transitions within BreakerGap: nothing raised
	Loops      int64 // dead deliveries of operational events: nothing raised
	Dropped    int64 // refused because the queue was full, or left at shutdown
	Failures   int64 // store errors met (each is retried)
	Queued     int64 // waiting now
	QueueMax   int64 // the bound of Queued
}

// OpEmitter turns the gateway's transitions (OpEvent) into events, stored
// and delivered like any other (Ingester.IngestOwn): routed only to
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
			if !m.handleContained(op) {
				m.dropRest(1)
				return
			}
		case <-m.stop:
			// Store what is queued, each with its retries, until Stop's
			// context ends.
			for {
				select {
				case <-m.abort:
					m.dropRest(0)
					return
				case op := <-m.queue:
					if !m.handleContained(op) {
						m.dropRest(1)
						return
					}
				default:
					return
				}
			}
		}
	}
}

// dropRest counts what is left, and held (the one being handled), as
// dropped.
func (m *OpEmitter) dropRest(held int64) {
	m.dropped.Add(held)
	for {
		select {
		case <-m.queue:
			m.dropped.Add(1)
		default:
			return
		}
	}
}

// handleContained is handle, with a panic logged and counted: that
// transition is dropped, and the loop goes on.
func (m *OpEmitter) handleContained(op OpEvent) (goOn bool) {
	goOn = true
	defer Contain("opevents", func(error) { m.dropped.Add(1) })
	return m.handle(op)
}

// handle stores one transition, retrying while the store fails. It
// returns false when it gave up because of a shutdown.
func (m *OpEmitter) handle(op OpEvent) bool {
	var swapped, changed bool
	wait := opRetryMin
	var failLog logEvery
	for attempt := 0; ; attempt++ {
		err := m.try(op, &swapped, &changed)
		if err == nil {
			return true
		}
		m.failures.Add(1)
		if n, ok := failLog.allow(time.Now(), time.Minute); ok {
			m.log.Warn("operational event not stored yet; retrying", "type", op.Type,
				"subscriber", op.Subscriber, "attempt", attempt+1, "unlogged", n, "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-m.abort:
			t.Stop()
			m.log.Error("operational event dropped at shutdown: the store did not take it",
				"type", op.Type, "subscriber", op.Subscriber, "err", err)
			return false
		}
		wait = min(wait*2, opRetryMax)
	}
}

// try makes one pass: move the latch (once: a retry must not read back
// its own move), then store the event. swapped and changed carry the
// latch's answer across retries.
func (m *OpEmitter) try(op OpEvent, swapped, changed *bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), opStoreTimeout)
	defer cancel()
	if op.latch != "" && !*swapped {
		prev, err := m.swap(ctx, op.latch, op.latchTo)
		if err != nil {
			return err
		}
		*swapped, *changed = true, op.emitIf(prev)
		if !*changed {
			m.unchanged.Add(1)
		}
	}
	if op.latch != "" && !*changed {
		return nil
	}
	if op.unconfirmed {
		rec, err := m.in.store.Event(ctx, op.Event.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			m.unchanged.Add(1)
			return nil
		case err != nil:
			return err
		case !op.confirmedDead(rec):
			m.unchanged.Add(1) // the Record did not land: the delivery goes on
			return nil
		}
	}
	env, body, err := op.Envelope()
	if err != nil {
		m.log.Error("operational event not built", "type", op.Type, "subscriber", op.Subscriber, "err", err)
		return nil // a bug, not the store: retrying would not help
	}
	routed, dup, err := m.in.IngestOwn(ctx, env, body, m.now())
	switch {
	case err != nil:
		return err
	case routed == 0:
		m.unrouted.Add(1)
	case dup:
		m.duplicates.Add(1)
	default:
		m.stored.Add(1)
		m.log.Info("operational event stored", "type", op.Type, "subscriber", op.Subscriber, "id", env.ID, "subscribers", routed)
	}
	return nil
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

// IngestOwn stores one of the gateway's own events (OpEmitter), routed
// like an upstream event of source OpSource (Config.Routes, which only
// subscribers naming it in their sources match) and filtered. It stores
// nothing when no subscriber takes it (routed 0); dup tells that an
// event of this id was already stored. The subscribers that got it are
// notified.
func (in *Ingester) IngestOwn(ctx context.Context, env Envelope, body []byte, at time.Time) (routed int, dup bool, err error) {
	snap := in.snap.Load()
	subs := snap.cfg.Routes(OpSource, env.Type)
	if snap.filters != nil && len(subs) > 0 {
		subs = in.filter(snap, subs, env)
	}
	if len(subs) == 0 {
		return 0, false, nil
	}
	results, err := in.store.Put(ctx, []NewEvent{{Envelope: env, Body: body, ReceivedAt: at, Subscribers: subs, Ordered: snap.ordered}})
	if err == nil && len(results) != 1 {
		err = errors.New("store returned no result")
	}
	if err != nil {
		return 0, false, err
	}
	if results[0].Duplicate {
		return len(subs), true, nil
	}
	for _, s := range subs {
		in.notify(s)
	}
	return len(subs), false, nil
}
