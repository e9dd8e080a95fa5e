package deliver

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// gatedStore wraps a real store to watch the engine from the store's
// side. Every Record waits at gate until the test lets it through (a store
// as slow as the test likes); held counts the deliveries claimed whose
// Record or Release has not returned, and peak its highest value. Each
// Paused read counts in reads: with Options.PausedFor tiny, one per
// dispatcher loop.
type gatedStore struct {
	gateway.Store
	gate chan struct{} // nil: Record does not wait

	atGate atomic.Int64 // Records waiting at gate; the test takes one off per send
	claims atomic.Int64 // Claim calls
	reads  atomic.Int64 // Paused calls

	mu         sync.Mutex
	held, peak int
}

func (s *gatedStore) Claim(ctx context.Context, sub string, now time.Time, n int, lease time.Duration) ([]gateway.Claim, error) {
	s.claims.Add(1)
	cs, err := s.Store.Claim(ctx, sub, now, n, lease)
	s.mu.Lock()
	s.held += len(cs)
	s.peak = max(s.peak, s.held)
	s.mu.Unlock()
	return cs, err
}

func (s *gatedStore) Record(ctx context.Context, c gateway.Claim, o gateway.Outcome) error {
	if s.gate != nil {
		s.atGate.Add(1)
		select {
		case <-s.gate: // the sender took it off atGate
		case <-ctx.Done():
			s.atGate.Add(-1)
		}
	}
	err := s.Store.Record(ctx, c, o)
	s.release()
	return err
}

func (s *gatedStore) Release(ctx context.Context, c gateway.Claim, at time.Time) error {
	err := s.Store.Release(ctx, c, at)
	s.release()
	return err
}

func (s *gatedStore) Paused(ctx context.Context, sub string) (gateway.PauseReason, error) {
	s.reads.Add(1)
	return s.Store.Paused(ctx, sub)
}

func (s *gatedStore) release() {
	s.mu.Lock()
	s.held--
	s.mu.Unlock()
}

func (s *gatedStore) peakHeld() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// testUnrecordedCountInFlight: attempts whose Record has not returned are
// capped (Options.MaxUnrecorded, beside max_in_flight requests), so a slow
// store cannot collect an unbounded pile of finished but unrecorded
// attempts.
func testUnrecordedCountInFlight(t *testing.T, bk backend) {
	const limit, n = 2, 8
	gs := &gatedStore{Store: bk.open(t), gate: make(chan struct{})}
	sk := newSink(t, nil) // answers at once: every attempt ends up at the gate
	ids := putEvents(t, gs, n, time.Now(), "a")
	cfg := testSub("a", sk.URL)
	cfg.MaxInFlight = limit
	o := testOptions(t)
	o.PausedFor = time.Nanosecond // the flag is read on every loop: the test counts loops
	o.MaxUnrecorded = limit
	e := startEngine(t, gs, map[string]*gateway.SubscriberConfig{"a": cfg}, o)
	// Runs before the engine's Stop: nothing waits at the gate any more.
	t.Cleanup(func() { close(gs.gate) })

	for recorded := 0; recorded < n; recorded++ {
		// Wait until the engine holds all it may: max_in_flight plus
		// MaxUnrecorded attempts (or all that are left) waiting for Record.
		want := int64(min(2*limit, n-recorded))
		waitFor(t, "records at the gate", func() bool { return gs.atGate.Load() >= want })
		// The dispatcher goes round its loop twice more: a loop that
		// begins now sees every slot taken by an unrecorded attempt and
		// must claim nothing.
		from := gs.reads.Load()
		waitFor(t, "two dispatcher loops", func() bool { return gs.reads.Load() >= from+2 })
		if p := gs.peakHeld(); p > 2*limit {
			t.Fatalf("%d deliveries claimed and not recorded at once, want <= max_in_flight + MaxUnrecorded = %d", p, 2*limit)
		}
		if got := e.InFlight("a"); got > limit {
			t.Fatalf("InFlight = %d, want <= %d", got, limit)
		}
		gs.atGate.Add(-1)
		gs.gate <- struct{}{}
	}
	waitFor(t, "all delivered", statusIs(t, gs, "a", gateway.StatusDelivered, ids...))
	if p := gs.peakHeld(); p > 2*limit {
		t.Errorf("%d deliveries claimed and not recorded at once, want <= %d", p, 2*limit)
	}
}

// testNotifyPaused: a pause made in this process stops the dispatcher's
// claims at once, without waiting for its cached read of the flag; a
// resume made here releases the work at once.
func testNotifyPaused(t *testing.T, bk backend) {
	gs := &gatedStore{Store: bk.open(t)}
	ctx := context.Background()
	sk := newSink(t, nil)
	o := testOptions(t)
	o.PausedFor = time.Hour // the cached "not paused" would stand for an hour
	e := startEngine(t, gs, map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}, o)
	first := putEvents(t, gs, 1, time.Now(), "a")
	e.Notify("a")
	waitFor(t, "first delivered", statusIs(t, gs, "a", gateway.StatusDelivered, first...))

	if err := gs.SetPaused(ctx, "a", gateway.PauseAdmin); err != nil {
		t.Fatal(err)
	}
	e.NotifyPaused("a", true) // as the admin API's pause does
	before := gs.claims.Load()
	ids := putEvents(t, gs, 3, time.Now(), "a")
	e.Notify("a")
	time.Sleep(50 * time.Millisecond) // let the dispatcher loop; not an assertion on time
	// One claim may have been under way when NotifyPaused came.
	if n := gs.claims.Load() - before; n > 1 {
		t.Errorf("%d claims after the pause was notified, want at most the one under way", n)
	}
	if n := sk.total(); n != 1 {
		t.Errorf("subscriber got %d requests, want only the one before the pause", n)
	}

	if err := gs.SetPaused(ctx, "a", gateway.PauseNone); err != nil {
		t.Fatal(err)
	}
	e.NotifyPaused("a", false) // no Notify: this alone must release the work
	waitFor(t, "delivered after resume", statusIs(t, gs, "a", gateway.StatusDelivered, ids...))
}
