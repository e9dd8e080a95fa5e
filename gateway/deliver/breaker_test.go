package deliver

import (
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/hookgate/hookgate/gateway"
)

// fakeClock is an injected Options.Now that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fail reports n retryable failures to b.
func fail(t *testing.T, b *breaker, n int) {
	t.Helper()
	for range n {
		done, err := b.Allow()
		if err != nil {
			t.Fatalf("Allow: %v", err)
		}
		done(errFailed)
	}
}

// TestBreakerNextProbe: an open breaker's next probe is its cooldown
// after the moment it opened, on the injected clock, not on gobreaker's;
// a closed one has none.
func TestBreakerNextProbe(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 15, 29, 53, 0, time.UTC)
	tests := []struct {
		name     string
		failures int // reported before asking
		cooldown time.Duration
		wantOK   bool
		want     time.Time
	}{
		{"closed, never failed", 0, time.Hour, false, time.Time{}},
		{"closed, below the threshold", 2, time.Hour, false, time.Time{}},
		{"open", 3, time.Hour, true, t0.Add(time.Hour)},
		{"open, 30 s cooldown", 3, 30 * time.Second, true, t0.Add(30 * time.Second)},
	}
	for _, tc := range tests {
		clk := &fakeClock{t: t0}
		b := newBreaker("a", gateway.BreakerConfig{ConsecutiveFailures: 3, Cooldown: tc.cooldown}, clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
		fail(t, b, tc.failures)
		clk.set(t0.Add(5 * time.Second)) // the clock moves on: the probe time stays
		got, ok := b.nextProbe()
		if ok != tc.wantOK || !got.Equal(tc.want) {
			t.Errorf("%s: nextProbe() = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}

// TestBreakerNextProbeReopened: a probe that fails opens the breaker
// again, and the next probe counts from that opening.
func TestBreakerNextProbeReopened(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 15, 29, 53, 0, time.UTC)
	clk := &fakeClock{t: t0}
	b := newBreaker("a", gateway.BreakerConfig{ConsecutiveFailures: 1, Cooldown: time.Millisecond}, clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	fail(t, b, 1)
	if got, ok := b.probeAt(); !ok || !got.Equal(t0.Add(time.Millisecond)) {
		t.Fatalf("after opening: probeAt() = %v, %v; want %v, true", got, ok, t0.Add(time.Millisecond))
	}
	// gobreaker's own clock ends the cooldown; then one probe, failed.
	deadline := time.Now().Add(10 * time.Second)
	for b.State() != gobreaker.StateHalfOpen {
		if time.Now().After(deadline) {
			t.Fatalf("breaker %v, not half-open 10 s after a 1 ms cooldown", b.State())
		}
		time.Sleep(time.Millisecond)
	}
	if _, ok := b.nextProbe(); ok {
		t.Errorf("half-open: nextProbe() ok, want none (the probe is due)")
	}
	t1 := t0.Add(42 * time.Second)
	clk.set(t1)
	fail(t, b, 1)
	if got, ok := b.probeAt(); !ok || !got.Equal(t1.Add(time.Millisecond)) {
		t.Errorf("reopened: probeAt() = %v, %v; want %v, true", got, ok, t1.Add(time.Millisecond))
	}
}

// TestEngineBreakerNextProbe: the engine reports an open breaker's next
// probe by subscriber, from its Options.Now, and none for a closed or
// unknown one.
func TestEngineBreakerNextProbe(t *testing.T) {
	st := openBolt(t)
	sk := newSink(t, func(request, int) (int, http.Header) { return http.StatusBadGateway, nil })
	// The engine's clock runs an hour ahead of gobreaker's: the probe time
	// must come from the engine's.
	o := testOptions(t)
	o.Now = func() time.Time { return time.Now().Add(time.Hour) }
	cfg := testSub("a", sk.URL)
	cfg.MaxInFlight = 1
	cfg.Breaker = gateway.BreakerConfig{ConsecutiveFailures: 2, Cooldown: 30 * time.Minute}
	putEvents(t, st, 3, time.Now(), "a")
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, o)
	if _, ok := e.BreakerNextProbe("a"); ok {
		t.Errorf("closed breaker: BreakerNextProbe ok, want none")
	}
	before := o.Now()
	waitFor(t, "breaker open", func() bool { return e.Breaker("a") == "open" })
	after := o.Now()
	got, ok := e.BreakerNextProbe("a")
	if !ok || got.Before(before.Add(30*time.Minute)) || got.After(after.Add(30*time.Minute)) {
		t.Errorf("BreakerNextProbe = %v, %v; want between %v and %v", got, ok, before.Add(30*time.Minute), after.Add(30*time.Minute))
	}
	if _, ok := e.BreakerNextProbe("nobody"); ok {
		t.Errorf("unknown subscriber: BreakerNextProbe ok, want none")
	}
}
