package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hookgate/hookgate/gateway"
)

// Options tune an Engine. Zero fields take the defaults given.
type Options struct {
	// Now is the clock for claims, signatures and schedules (time.Now).
	Now func() time.Time
	// Rand returns a number in [0, 1) for backoff jitter; it must be safe
	// for concurrent use (math/rand/v2.Float64).
	Rand func() float64
	// Logger receives attempt failures and breaker changes (slog.Default()).
	Logger *slog.Logger
	// UserAgent is sent with every request ("hookgate").
	UserAgent string
	// PollInterval is how often an idle dispatcher looks for due work that
	// no Notify announced — retries coming due, or events stored by another
	// gateway process (200ms).
	PollInterval time.Duration
	// PausedFor is how long a dispatcher trusts its last read of
	// Store.Paused (1s): a pause set by another process's admin API stops
	// this process's claims within it (the store refuses them meanwhile);
	// one set in this process takes effect at once (NotifyPaused).
	PausedFor time.Duration
	// MaxUnrecorded caps, per subscriber, the attempts that are over but
	// whose Record has not returned (256). Each holds a goroutine, its body
	// and a lease: the cap keeps a slow store from collecting them without
	// end, and its size lets a healthy one commit records in large batches
	// while the next requests go out. Claims wait while it is reached.
	MaxUnrecorded int
	// SendIdle is how long a send goroutine waits for its subscriber's next
	// claim before it exits (1s; see workers.go).
	SendIdle time.Duration
	// LeaseFor is how long a claim lasts for a subscriber timeout: long
	// enough to send and record (timeout*2 + 10s).
	LeaseFor func(timeout time.Duration) time.Duration
	// Transport, if set, is used for every subscriber instead of a
	// transport of their own (and for their OAuth2 token requests),
	// except for a subscriber with a tls block, which always has its own.
	Transport http.RoundTripper
	// Classify and Backoff are the retry policy (DefaultClassify,
	// DefaultBackoff).
	Classify Classifier
	Backoff  Backoff
	// Observer, if set, is told of every attempt (see Observer; SetObserver
	// replaces it later).
	Observer Observer
	// Tracer, if set, makes a span per attempt, a child of the trace
	// context the envelope carries; nil: tracing is off (an envelope's
	// traceparent is still sent on, as it came).
	Tracer trace.Tracer
	// Ops, if set, is told of the engine's transitions, for the gateway's
	// own events (gateway.OpEmitter): deliveries recorded dead, pauses
	// after a 410 and through PauseChanged, breakers opening and closing.
	Ops gateway.OpRaiser
}

func (o *Options) fill() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.UserAgent == "" {
		o.UserAgent = "hookgate"
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 200 * time.Millisecond
	}
	if o.PausedFor <= 0 {
		o.PausedFor = time.Second
	}
	if o.MaxUnrecorded <= 0 {
		o.MaxUnrecorded = 256
	}
	if o.SendIdle <= 0 {
		o.SendIdle = time.Second
	}
	if o.LeaseFor == nil {
		o.LeaseFor = func(timeout time.Duration) time.Duration { return 2*timeout + 10*time.Second }
	}
	if o.Classify == nil {
		o.Classify = DefaultClassify
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
}

// Engine delivers the store's due deliveries to the configured
// subscribers: one dispatcher goroutine per subscriber, at most
// MaxInFlight requests at a time each. Its methods are safe for concurrent
// use. Several engines, in one process or many, may share a store; the
// store's leases keep each delivery in one engine's hands at a time.
type Engine struct {
	store gateway.Store
	opts  Options
	log   *slog.Logger

	mu       sync.RWMutex // guards subs, rings and the lifecycle flags
	subs     map[string]*dispatcher
	rings    map[string]*rateRing // see Rates
	started  bool
	stopped  bool
	loopCtx  context.Context // parent of dispatcher loops; ends at Stop
	stopLoop context.CancelFunc
	loops    sync.WaitGroup // dispatcher loops

	// sendCtx is the parent of every request and is canceled only when
	// Stop's grace period ends, so that a shutdown lets requests finish.
	sendCtx context.Context
	abort   context.CancelFunc
	sends   sync.WaitGroup // send goroutines, across all dispatchers

	unreleased atomic.Int64 // claims Stop could not hand back

	observer atomic.Pointer[observerRef] // nil: none
}

// New returns an engine for the given subscribers (by name; configs as
// validated by config.Load, with SigningKeys filled). It does
// nothing until Start.
func New(store gateway.Store, subs map[string]*gateway.SubscriberConfig, opts Options) *Engine {
	opts.fill()
	sendCtx, abort := context.WithCancel(context.Background())
	e := &Engine{
		store:   store,
		opts:    opts,
		log:     opts.Logger.With("component", "deliver"),
		subs:    map[string]*dispatcher{},
		rings:   map[string]*rateRing{},
		sendCtx: sendCtx,
		abort:   abort,
	}
	for name, cfg := range subs {
		e.subs[name] = newDispatcher(e, name, cfg)
	}
	e.SetObserver(opts.Observer)
	return e
}

// Start starts a dispatcher per subscriber. They claim work until ctx ends
// or Stop is called; call Stop in either case to wait for requests in
// flight. Start does nothing on a started or stopped engine.
func (e *Engine) Start(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.stopped {
		return
	}
	e.started = true
	e.loopCtx, e.stopLoop = context.WithCancel(ctx)
	for _, d := range e.subs {
		e.startLocked(d)
	}
}

func (e *Engine) startLocked(d *dispatcher) {
	ctx, cancel := context.WithCancel(e.loopCtx)
	d.cancel = cancel
	e.loops.Add(1)
	go func() {
		defer e.loops.Done()
		pause := e.opts.PollInterval
		for !d.runContained(ctx) {
			// A panic ended the loop (logged and counted): the claims it
			// held come due again when their leases end. Start again after
			// a pause that grows, so that a panic that repeats does not spin.
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			pause = min(pause*2, maxErrorWait)
		}
	}()
}

// Notify wakes the subscriber's dispatcher so that newly stored work goes
// out without waiting for the next poll; a paused dispatcher reads the
// paused flag again when its poll ends (at most once per PollInterval),
// so call it after resuming. It never blocks; unknown names are ignored.
func (e *Engine) Notify(subscriber string) {
	e.mu.RLock()
	d := e.subs[subscriber]
	e.mu.RUnlock()
	if d != nil {
		d.recheck.Store(true)
		if !d.asleep.Load() {
			signal(d.wake)
		}
	}
}

// NotifyPaused tells the engine that the subscriber has just been paused
// or resumed in the store (Store.SetPaused has returned): its dispatcher
// takes the new value at its next loop, without waiting for its cached
// read of the flag (Options.PausedFor) to expire, so that a pause stops
// this process's claims at once and a resume releases the work at once.
// The store's Claim, which refuses a paused subscriber, is what makes a
// pause hold across processes; this only spares it claims it would
// refuse. Attempts already under way finish. It never blocks; unknown
// names are ignored.
func (e *Engine) NotifyPaused(subscriber string, paused bool) {
	d := e.dispatcher(subscriber)
	if d == nil {
		return
	}
	v := toldResumed
	if paused {
		v = toldPaused
	}
	d.told.Store(v)
	signal(d.wake)
}

// Update applies a reloaded subscriber set: new subscribers get a
// dispatcher, removed ones stop claiming (their work stays in the store,
// their requests in flight finish and are recorded), changed ones take the
// new settings for their next claims. A subscriber's breaker keeps its
// state unless its URL or breaker settings changed.
func (e *Engine) Update(subs map[string]*gateway.SubscriberConfig) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	for name, d := range e.subs {
		if _, ok := subs[name]; !ok {
			if d.cancel != nil {
				d.cancel()
			}
			if st := d.state.Load(); st.dest != nil {
				st.dest.retire()
			}
			delete(e.subs, name)
			e.log.Info("subscriber removed", "subscriber", name)
		}
	}
	for name, cfg := range subs {
		if d, ok := e.subs[name]; ok {
			d.update(cfg)
			signal(d.wake)
			continue
		}
		d := newDispatcher(e, name, cfg)
		e.subs[name] = d
		if e.started {
			e.startLocked(d)
		}
		e.log.Info("subscriber added", "subscriber", name)
	}
}

// Stop stops claiming, waits until the requests in flight are done or ctx
// ends, then cancels what is left and hands it back to the store (Release,
// no attempt counted) so that nothing is lost. It returns an error only
// when some claim could not be handed back; that work comes due again
// when its lease expires.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	e.stopped = true
	if e.stopLoop != nil {
		e.stopLoop()
	}
	e.mu.Unlock()
	e.loops.Wait() // no claims after this, so sends.Wait below is final
	e.unreleased.Store(0)

	done := make(chan struct{})
	go func() {
		e.sends.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		e.abort()
		<-done
	}
	e.abort()
	e.closeIdle()
	if n := e.unreleased.Load(); n > 0 {
		return fmt.Errorf("stop: %d deliveries not handed back, due again when their leases expire", n)
	}
	return nil
}

func (e *Engine) closeIdle() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.subs {
		st := d.state.Load()
		st.closeIdle()
		if st.dest != nil {
			st.dest.retire()
		}
	}
}

// Breaker returns the subscriber's breaker state, "closed", "open" or
// "half-open", for the admin API; "" for an unknown subscriber.
func (e *Engine) Breaker(subscriber string) string {
	d := e.dispatcher(subscriber)
	if d == nil {
		return ""
	}
	return d.state.Load().breaker.State().String()
}

// BreakerNextProbe returns, while the subscriber's breaker is open, when
// it will let its half-open probe through (its cooldown after it opened,
// by Options.Now); ok is false when the breaker is not open or the
// subscriber unknown. gobreaker turns open to half-open on its own clock
// when it is next asked after that time, so the answer is the earliest
// a probe can go out, not a promise that it goes out then.
func (e *Engine) BreakerNextProbe(subscriber string) (at time.Time, ok bool) {
	d := e.dispatcher(subscriber)
	if d == nil {
		return time.Time{}, false
	}
	return d.state.Load().breaker.nextProbe()
}

// InFlight returns how many requests to the subscriber are under way in
// this process, at most MaxInFlight. (Finished attempts awaiting their
// Record are not counted; Options.MaxUnrecorded caps them.)
func (e *Engine) InFlight(subscriber string) int {
	d := e.dispatcher(subscriber)
	if d == nil {
		return 0
	}
	return int(d.inflight.Load())
}

// AttemptCounts are a subscriber's attempts since its dispatcher started,
// by what they led to.
type AttemptCounts struct {
	Delivered, Retrying, Dead int64
}

// Attempts returns the subscriber's attempt counters, for metrics; zero for
// an unknown subscriber.
func (e *Engine) Attempts(subscriber string) AttemptCounts {
	d := e.dispatcher(subscriber)
	if d == nil {
		return AttemptCounts{}
	}
	return AttemptCounts{d.delivered.Load(), d.retrying.Load(), d.dead.Load()}
}

// Subscribers returns the names the engine delivers to, sorted.
func (e *Engine) Subscribers() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	names := make([]string, 0, len(e.subs))
	for n := range e.subs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (e *Engine) dispatcher(name string) *dispatcher {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.subs[name]
}

// aborted reports whether err comes from Stop canceling requests.
func (e *Engine) aborted(err error) bool {
	return err != nil && e.sendCtx.Err() != nil && errors.Is(err, context.Canceled)
}

// signal does a non-blocking send on a 1-buffered channel: wake-ups
// coalesce, and the sender never waits for the dispatcher.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
