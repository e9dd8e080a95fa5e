package deliver

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/hookgate/hookgate/gateway"
)

// Values of dispatcher.told.
const (
	toldNone int32 = iota
	toldPaused
	toldResumed
)

// dispatcher claims and sends one subscriber's deliveries.
type dispatcher struct {
	e     *Engine
	name  string
	state atomic.Pointer[subState]
	// inflight counts claims from Claim until their request is over;
	// max_in_flight bounds it. unrecorded counts attempts whose request is
	// over and whose Record (or Release) has not returned;
	// Options.MaxUnrecorded bounds it.
	inflight, unrecorded atomic.Int64
	// Attempts by outcome, for metrics.
	delivered, retrying, dead atomic.Int64
	wake                      chan struct{} // Notify, Update
	freed                     chan struct{} // a send finished: a slot may be free
	handoff                   chan sendJob  // to an idle send goroutine (workers.go); unbuffered
	idle                      atomic.Int64  // send goroutines waiting on handoff; at most max_in_flight
	cancel                    context.CancelFunc
	// recheck: a Notify came; if the cached flag says paused, read it
	// again, so that a resume followed by Notify takes effect at once.
	recheck atomic.Bool
	// asleep: the run goroutine is waiting out a pause. A Notify then
	// only sets recheck, which the loop takes when its poll ends: the
	// flag is read at most once per PollInterval anyway, so waking it for
	// every stored event would buy nothing and cost a wake-up and a timer
	// per ingest request.
	asleep atomic.Bool
	// told: the paused flag this process has just written to the store
	// (Engine.NotifyPaused), taken by the run goroutine at its next loop
	// in place of its cached read: toldNone, toldPaused or toldResumed.
	told atomic.Int32

	// rates: the last RateWindow of attempts, for the dashboard. The
	// engine's, by name: it outlives the dispatcher when the subscriber
	// is removed (Engine.Rates).
	rates *rateRing

	// Read and written by the run goroutine only.
	paused      bool
	pausedUntil time.Time
	pausedRead  time.Time // of the last Store.Paused read
	// bucket is the rate_limit bucket when the store keeps none
	// (gateway.LimitedClaimer): one process per store, so it is exact.
	bucket tokenBucket
	// fault paces claims, paused-flag reads and their log lines while
	// the store fails.
	fault storeFault
}

func newDispatcher(e *Engine, name string, cfg *gateway.SubscriberConfig) *dispatcher {
	d := &dispatcher{
		e:       e,
		name:    name,
		wake:    make(chan struct{}, 1),
		freed:   make(chan struct{}, 1),
		handoff: make(chan sendJob),
		rates:   e.ratesOf(name),
	}
	d.state.Store(newSubState(name, cfg, nil, &e.opts, e.log))
	return d
}

func (d *dispatcher) update(cfg *gateway.SubscriberConfig) {
	prev := d.state.Load()
	next := newSubState(d.name, cfg, prev, &d.e.opts, d.e.log)
	d.state.Store(next)
	if prev.own != nil && prev.own != next.own {
		prev.own.CloseIdleConnections() // busy ones finish their request first
	}
	if prev.tokens != nil && prev.tokens != next.tokens {
		prev.tokens.closeIdle()
	}
	if prev.dest != nil && prev.dest != next.dest {
		prev.dest.retire() // closed when its publishes under way return
	}
}

// run is the dispatcher loop. It claims only what it can send at once, so
// that a claimed delivery never waits on this process while its lease
// runs: paused or open-breaker subscribers claim nothing, half-open ones
// one probe, closed ones the free share of MaxInFlight.
func (d *dispatcher) run(ctx context.Context) {
	e := d.e
	poll := e.opts.PollInterval
	for ctx.Err() == nil {
		st := d.state.Load()
		if d.isPaused(ctx) {
			d.asleep.Store(true)
			d.wait(ctx, poll, false)
			d.asleep.Store(false)
			continue
		}
		limit := max(st.cfg.MaxInFlight, 1)
		inflight := int(d.inflight.Load())
		slots := min(limit-inflight, limit+e.opts.MaxUnrecorded-inflight-int(d.unrecorded.Load()))
		switch st.breaker.State() {
		case gobreaker.StateOpen:
			d.wait(ctx, poll, false) // events wait; no attempt is spent
			continue
		case gobreaker.StateHalfOpen:
			slots = min(slots, 1)
			if inflight > 0 {
				slots = 0
			}
		}
		if slots <= 0 {
			d.wait(ctx, poll, true)
			continue
		}
		claims, wait, err := d.claim(ctx, st, slots)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.sleep(ctx, d.fault.failed(e.log, d.name, "claim", err, time.Now(), poll))
			continue
		}
		d.fault.ok(e.log, d.name, time.Now())
		for _, c := range claims {
			d.inflight.Add(1)
			e.sends.Add(1)
			d.dispatch(ctx, st, c)
		}
		switch {
		case wait > 0:
			d.wait(ctx, min(wait, maxTokenWait), false) // the rate limit's next token
		case len(claims) < slots:
			d.wait(ctx, poll, false) // nothing more is due yet
		}
	}
}

// runContained runs the loop until ctx ends (true) or a panic ends it
// (false; gateway.Contain has logged and counted it).
func (d *dispatcher) runContained(ctx context.Context) (ended bool) {
	defer gateway.Contain("deliver.dispatcher", nil)
	d.run(ctx)
	return true
}

// claim leases up to slots due deliveries, within the subscriber's
// rate_limit when it has one, so that a delivery waiting for a token
// spends no attempt: through the store, which keeps the bucket every
// gateway shares (gateway.LimitedClaimer), or this dispatcher's own
// bucket when the store is one process's. wait > 0 tells that tokens ran
// short, and when the next comes.
func (d *dispatcher) claim(ctx context.Context, st *subState, slots int) ([]gateway.Claim, time.Duration, error) {
	e := d.e
	now, lease, rl := e.opts.Now(), e.opts.LeaseFor(st.cfg.Timeout), st.cfg.RateLimit
	if !rl.Limited() {
		claims, err := e.store.Claim(ctx, d.name, now, slots, lease)
		return claims, 0, err
	}
	if lc, ok := e.store.(gateway.LimitedClaimer); ok {
		return lc.ClaimLimited(ctx, d.name, now, slots, lease, rl)
	}
	took, wait := d.bucket.Take(now, rl, slots)
	if took == 0 {
		return nil, wait, nil
	}
	claims, err := e.store.Claim(ctx, d.name, now, took, lease)
	if len(claims) < took {
		d.bucket.Return(rl, took-len(claims))
	}
	if took == slots {
		wait = 0
	}
	return claims, wait, err
}

// isPaused reads Store.Paused at most once per Options.PausedFor: it is
// consulted on every loop and must not cost a store round trip each time.
// A pause or resume made in this process (Engine.NotifyPaused) is taken at
// once, with no read; while paused, a Notify forces a fresh read. When the
// read fails the last known value stands.
//
// The cache only spares the store: Claim itself refuses a paused
// subscriber, so a stale false here costs a refused claim, never an
// attempt.
func (d *dispatcher) isPaused(ctx context.Context) bool {
	now := time.Now()
	switch d.told.Swap(toldNone) {
	case toldPaused:
		d.paused, d.pausedUntil = true, now.Add(d.e.opts.PausedFor)
		return true
	case toldResumed:
		d.paused, d.pausedUntil = false, now.Add(d.e.opts.PausedFor)
		return false
	}
	// A Notify forces a read at most once per PollInterval: ingest
	// notifies on every request, and a paused subscriber's backlog must
	// not cost a store read per request.
	recheck := d.paused && now.Sub(d.pausedRead) >= d.e.opts.PollInterval && d.recheck.Swap(false)
	if now.Before(d.pausedUntil) && !recheck {
		return d.paused
	}
	d.pausedRead = now
	reason, err := d.e.store.Paused(ctx, d.name)
	if err != nil {
		// The next read waits as a claim would: a paused subscriber must
		// not poll a store that is down at full rate.
		wait := d.e.opts.PollInterval
		if ctx.Err() == nil {
			wait = d.fault.failed(d.e.log, d.name, "read paused flag", err, now, wait)
		}
		d.pausedUntil = now.Add(wait)
		return d.paused
	}
	p := reason != gateway.PauseNone
	if p {
		d.fault.ok(d.e.log, d.name, now) // claims, which end a run of failures, are held
	}
	d.paused, d.pausedUntil = p, now.Add(d.e.opts.PausedFor)
	return p
}

// sleep waits out a backoff while the store fails: only ctx ends it
// early, not a wake-up, which every ingest request for the subscriber
// sends (a store whose other masters still take writes would otherwise
// be asked for a claim per request).
func (d *dispatcher) sleep(ctx context.Context, timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// wait returns on a wake-up, after timeout, when ctx ends, or — if
// onFreed — when a send finishes.
func (d *dispatcher) wait(ctx context.Context, timeout time.Duration, onFreed bool) {
	var freed chan struct{}
	if onFreed {
		freed = d.freed
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-d.wake:
	case <-freed:
	case <-t.C:
	}
}
