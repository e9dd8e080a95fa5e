package cli

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/routes"
)

// Backfill pacing. A step is one Store.Requeue (a few hundred events at
// most); the pause between steps leaves the store to live traffic, so a
// day's backfill of a busy store runs for a while rather than at once.
const (
	backfillPause = 50 * time.Millisecond
	// backfillSettle is how long after a backfill window's end the last
	// stretch of it is walked again: a request routed under the config
	// before the subscriber appeared may store its events (received
	// before the window ended) after the walk passed them, within the
	// ingest's store timeout (10s).
	backfillSettle = 15 * time.Second
	// backfillRetry is the wait after the store failed a backfill's
	// marking or step.
	backfillRetry = 5 * time.Second
)

// backfiller runs backfills (SPEC 5 backfill). At start and after every
// successful reload (apply, one path for both) it records every
// configured subscriber in the store's registry (Store.MarkSubscribers):
// a name new there is registered with its backfill window, [now-backfill,
// now), pending, or with nothing pending when it has no backfill:, so that
// a backfill: added later to a subscriber already seen does nothing. Each
// pending backfill that this process is not running yet is walked in the
// background (Store.Requeue without Reset), then marked done
// (EndBackfill).
//
// A crash mid-walk leaves the backfill pending: the next start (or the
// next reload of any gateway sharing the store) walks the whole window
// again. Without Reset a walk creates only the deliveries that do not
// exist yet, so running it twice, or in two gateways at once, sends
// nothing twice; and events received after the subscriber appeared were
// routed to it by ingest, so the walk passes over them.
//
// The walk applies the subscriber's events, sources and filter as they are
// in the config in force at each step; a subscriber removed from the
// config stops its walk, which resumes if it comes back. It implements
// routes.Backfills for the admin API and the metrics.
type backfiller struct {
	store       gateway.Store
	config      func() *gateway.Config // the config in force
	notify      func(subscriber string)
	filterError func(subscriber string)
	log         *slog.Logger
	now         func() time.Time
	pause       time.Duration
	settle      time.Duration
	retry       time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // apply wakes the marking loop; holds one at most

	mu   sync.Mutex
	runs map[string]*backfillRun // by subscriber: the backfills this process ran or runs
}

// backfillRun is one subscriber's backfill in this process.
type backfillRun struct {
	since   time.Time
	queued  atomic.Int64
	done    atomic.Bool
	running bool // a walk goroutine is on it; under backfiller.mu
}

var _ routes.Backfills = (*backfiller)(nil)

// newBackfiller starts the marking loop; apply wakes it.
func newBackfiller(store gateway.Store, in *gateway.Ingester, notify func(string), log *slog.Logger) *backfiller {
	ctx, cancel := context.WithCancel(context.Background())
	b := &backfiller{
		store: store, config: in.Config, notify: notify, filterError: in.FilterError, log: log,
		now: time.Now, pause: backfillPause, settle: backfillSettle, retry: backfillRetry,
		ctx: ctx, cancel: cancel, kick: make(chan struct{}, 1), runs: map[string]*backfillRun{},
	}
	b.wg.Add(1)
	go b.loop()
	return b
}

// apply is called with the config just put in force (at start, after a
// reload): the marking loop takes it from there. It never blocks.
func (b *backfiller) apply() {
	select {
	case b.kick <- struct{}{}:
	default: // a mark is due already; it reads the config in force then
	}
}

// stop ends the marking loop and every walk, waiting for them: a walk
// stopped mid-way stays pending in the store and resumes at the next
// start.
func (b *backfiller) stop() {
	b.cancel()
	b.wg.Wait()
}

// loop marks the configured subscribers each time apply asks, retrying
// while the store fails, and starts the pending backfills.
func (b *backfiller) loop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
		}
		for {
			err := b.markContained()
			if err == nil || b.ctx.Err() != nil {
				break
			}
			b.log.Warn("backfill: register subscribers in the store; retrying", "error", err, "in", b.retry.String())
			if !b.wait(b.retry) {
				return
			}
		}
	}
}

// markContained is mark, with a panic failing the mark (logged and
// counted), which the loop then retries.
func (b *backfiller) markContained() (err error) {
	defer gateway.Contain("backfill", func(e error) { err = e })
	return b.mark()
}

// mark registers the configured subscribers and starts each pending
// backfill this process is not running.
func (b *backfiller) mark() error {
	cfg := b.config()
	now := b.now()
	subs := make(map[string]gateway.TimeWindow, len(cfg.Subscribers))
	for name, sub := range cfg.Subscribers {
		var w gateway.TimeWindow
		if sub.Backfill > 0 {
			w = gateway.TimeWindow{Since: now.Add(-sub.Backfill), Until: now}
		}
		subs[name] = w
	}
	pending, err := b.store.MarkSubscribers(b.ctx, subs)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(pending))
	for name := range pending {
		names = append(names, name)
	}
	sort.Strings(names)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, name := range names {
		run := b.runs[name]
		if run == nil {
			run = &backfillRun{since: pending[name].Since}
			b.runs[name] = run
		}
		if run.running {
			continue
		}
		run.running = true
		b.wg.Add(1)
		go b.run(name, pending[name], run)
	}
	return nil
}

// run walks the subscriber's backfill window and marks it done, retrying
// after store errors; it gives up, leaving the backfill pending, when the
// subscriber leaves the config or the process stops.
func (b *backfiller) run(name string, w gateway.TimeWindow, run *backfillRun) {
	defer b.wg.Done()
	// A panic leaves the backfill pending in the store (logged and
	// counted); the next mark (a reload, a restart) starts it again.
	defer gateway.Contain("backfill", nil)
	defer func() {
		b.mu.Lock()
		run.running = false
		b.mu.Unlock()
	}()
	b.log.Info("backfill started", "subscriber", name, "since", w.Since, "until", w.Until)
	// The whole window, then, once the window's end has settled, its last
	// stretch again (see backfillSettle).
	tail := gateway.TimeWindow{Since: w.Until.Add(-b.settle), Until: w.Until}
	if tail.Since.Before(w.Since) {
		tail.Since = w.Since
	}
	for i, part := range []gateway.TimeWindow{w, tail} {
		if i == 1 && !b.wait(w.Until.Add(b.settle).Sub(b.now())) {
			return
		}
		if !b.walk(name, part, run) {
			return
		}
	}
	for {
		err := b.store.EndBackfill(b.ctx, name)
		if err == nil {
			break
		}
		if b.ctx.Err() != nil {
			return
		}
		b.log.Warn("backfill: mark done; retrying", "subscriber", name, "error", err)
		if !b.wait(b.retry) {
			return
		}
	}
	run.done.Store(true)
	b.log.Info("backfill done", "subscriber", name, "queued", run.queued.Load())
}

// walk runs Requeue steps over w until its end; false if it stopped
// first (the process stopping, the subscriber leaving the config).
func (b *backfiller) walk(name string, w gateway.TimeWindow, run *backfillRun) bool {
	after := ""
	for {
		sub := b.config().Subscribers[name]
		if sub == nil {
			b.log.Info("backfill stopped: the subscriber left the config; it resumes if it comes back", "subscriber", name)
			return false
		}
		q := gateway.Requeuer{Sub: sub, FilterError: func(error) { b.filterError(name) }}
		res, err := b.store.Requeue(b.ctx, gateway.RequeueRange{Subscriber: name, Window: w, After: after,
			Accept: q.Accept, Bodies: q.Bodies(), Ordered: sub.Ordering == gateway.OrderingSubject}, b.now())
		if err != nil {
			if b.ctx.Err() != nil {
				return false
			}
			if errors.Is(err, gateway.ErrInvalid) {
				after = "" // cannot happen: the position is the store's own; start over
			}
			b.log.Warn("backfill step failed; retrying", "subscriber", name, "error", err)
			if !b.wait(b.retry) {
				return false
			}
			continue
		}
		if res.Queued > 0 {
			run.queued.Add(int64(res.Queued))
			b.notify(name)
		}
		if res.Next == "" {
			return true
		}
		after = res.Next
		if !b.wait(b.pause) {
			return false
		}
	}
}

// wait sleeps d (nothing when d <= 0); false if the backfiller stopped.
func (b *backfiller) wait(d time.Duration) bool {
	if d <= 0 {
		return b.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-b.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Backfill is routes.Backfills: the subscriber's backfill as this process
// ran or runs it.
func (b *backfiller) Backfill(subscriber string) (routes.BackfillProgress, bool) {
	b.mu.Lock()
	run := b.runs[subscriber]
	b.mu.Unlock()
	if run == nil {
		return routes.BackfillProgress{}, false
	}
	return routes.BackfillProgress{Since: run.since, Queued: run.queued.Load(), Done: run.done.Load()}, true
}
