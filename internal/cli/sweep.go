package cli

import (
	"context"
	"log/slog"
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
		for {
			if err := store.Sweep(ctx, time.Now()); err != nil && ctx.Err() == nil {
				log.Warn("retention sweep", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends the sweeper and waits for a sweep in progress, so that the
// store can be closed after it.
func (s *sweeper) stop() {
	s.cancel()
	s.done.Wait()
}
