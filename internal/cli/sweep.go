package cli

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// sweepEvery is how often retention is enforced. Sweeping is idempotent,
// so several gateways sharing one Redis may all do it.
const sweepEvery = 10 * time.Minute

// sweeper runs Store.Sweep on a timer until stopped.
type sweeper struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func startSweeper(store gateway.Store, log *slog.Logger, every time.Duration) *sweeper {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sweeper{cancel: cancel}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		var h healthWatch
		for {
			sweepOnce(ctx, store, log, &h)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// sweepOnce enforces retention and checks the store's health once; a panic
// is logged and counted, and the next tick tries again.
func sweepOnce(ctx context.Context, store gateway.Store, log *slog.Logger, h *healthWatch) {
	defer gateway.Contain("sweeper", nil)
	if err := store.Sweep(ctx, time.Now()); err != nil && ctx.Err() == nil {
		log.Warn("retention sweep", "error", err)
	}
	h.check(ctx, store, log)
}

// stop ends the sweeper and waits for a sweep in progress, so that the
// store can be closed after it.
func (s *sweeper) stop() {
	s.cancel()
	s.done.Wait()
}

// healthWatch logs what a store's HealthReporter finds: its warnings once,
// loudly, at start (and again if they change), and every new orphan, a
// queue entry whose event was gone, which is never dropped unseen.
type healthWatch struct {
	warnings string
	orphans  int64
}

func (w *healthWatch) check(ctx context.Context, store gateway.Store, log *slog.Logger) {
	hr, ok := store.(gateway.HealthReporter)
	if !ok {
		return
	}
	h, err := hr.Health(ctx)
	if err != nil {
		return // the sweep has logged the store being down
	}
	if joined := strings.Join(h.Warnings, "; "); joined != w.warnings {
		w.warnings = joined
		for _, msg := range h.Warnings {
			log.Warn("STORE SETUP MAY LOSE ACCEPTED EVENTS: "+msg, "see", "docs/edge.md")
		}
	}
	if h.Orphans > w.orphans {
		log.Error("queue entries without their event were dropped, not delivered; something outside hookgate deleted data",
			"dropped", h.Orphans-w.orphans, "since_start", h.Orphans)
		w.orphans = h.Orphans
	}
}
