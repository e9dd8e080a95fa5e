package deliver

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

func noneDead(t *testing.T, st gateway.Store, sub string) {
	t.Helper()
	dead, err := st.Dead(context.Background(), sub, gateway.DeadFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) > 0 {
		t.Fatalf("%d deliveries dead, first %s: %s", len(dead), dead[0].EventID, dead[0].LastError)
	}
}

// testSubscriberDownAndBack: with the subscriber's port closed the breaker
// opens, nothing dies while it is open, and every event arrives once the
// subscriber listens again.
func testSubscriberDownAndBack(t *testing.T, bk backend) {
	st := bk.open(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down: connection refused

	ids := putEvents(t, st, 20, time.Now(), "a")
	cfg := testSub("a", "http://"+addr+"/hook")
	cfg.Retry.MaxAttempts = 100
	cfg.Breaker = gateway.BreakerConfig{ConsecutiveFailures: 3, Cooldown: 50 * time.Millisecond}
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))

	waitFor(t, "breaker open", func() bool {
		noneDead(t, st, "a")
		return e.Breaker("a") == "open"
	})
	// A few cooldowns pass with the subscriber still down: probes fail,
	// the breaker reopens, nothing dies.
	waitFor(t, "failed probes", func() bool {
		noneDead(t, st, "a")
		n := 0
		for _, id := range ids {
			n += delivery(t, st, id, "a").Attempts
		}
		return n >= 6
	})
	d := delivery(t, st, ids[0], "a")
	if d.Attempts > 0 && d.LastError != "connect: connection refused" {
		t.Errorf("last error = %q, want \"connect: connection refused\"", d.LastError)
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	sk := newSinkOn(t, ln, nil)
	waitFor(t, "all delivered", func() bool {
		noneDead(t, st, "a")
		return statusIs(t, st, "a", gateway.StatusDelivered, ids...)()
	})
	for _, id := range ids {
		if sk.count(id) < 1 {
			t.Errorf("%s never reached the subscriber", id)
		}
	}
	if got := e.Breaker("a"); got != "closed" {
		t.Errorf("breaker = %q once the subscriber is back, want closed", got)
	}
}

// testOpenBreakerSpendsNoAttempts: with one request at a time, exactly
// consecutive_failures attempts are made before the breaker opens, and
// none while it stays open.
func testOpenBreakerSpendsNoAttempts(t *testing.T, bk backend) {
	st := bk.open(t)
	sk := newSink(t, func(request, int) (int, http.Header) { return http.StatusBadGateway, nil })
	ids := putEvents(t, st, 10, time.Now(), "a")
	cfg := testSub("a", sk.URL)
	cfg.MaxInFlight = 1
	cfg.Breaker = gateway.BreakerConfig{ConsecutiveFailures: 3, Cooldown: time.Hour}
	e := New(st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))
	e.Start(context.Background())

	waitFor(t, "breaker open", func() bool { return e.Breaker("a") == "open" })
	time.Sleep(50 * time.Millisecond) // let the dispatcher loop while open; not an assertion
	if err := e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sk.total(); got != 3 {
		t.Errorf("subscriber saw %d requests, want 3", got)
	}
	attempts := 0
	for _, id := range ids {
		d := delivery(t, st, id, "a")
		attempts += d.Attempts
		if d.Status == gateway.StatusDead || d.Status == gateway.StatusDelivered {
			t.Errorf("%s is %s, want pending or retrying", id, d.Status)
		}
	}
	if attempts != 3 {
		t.Errorf("recorded attempts = %d, want 3", attempts)
	}
}

// testHalfOpenProbe: after the cooldown a probe goes out; its success
// closes the breaker and the rest follow. (That only one probe goes out at
// a time is gobreaker's MaxRequests: 1, not re-tested here.)
func testHalfOpenProbe(t *testing.T, bk backend) {
	st := bk.open(t)
	var healthy atomic.Bool
	sk := newSink(t, func(request, int) (int, http.Header) {
		if healthy.Load() {
			return 200, nil
		}
		return 500, nil
	})
	cfg := testSub("a", sk.URL)
	cfg.MaxInFlight = 8
	cfg.Retry.MaxAttempts = 100
	cfg.Breaker = gateway.BreakerConfig{ConsecutiveFailures: 2, Cooldown: 50 * time.Millisecond}
	ids := putEvents(t, st, 16, time.Now(), "a")
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))

	waitFor(t, "breaker open", func() bool { return e.Breaker("a") == "open" })
	healthy.Store(true)
	waitFor(t, "all delivered", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	noneDead(t, st, "a")
	if got := e.Breaker("a"); got != "closed" {
		t.Errorf("breaker = %q, want closed", got)
	}
}
