package deliver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// testStopLetsRequestsFinish: Stop waits for requests in flight, and
// their outcome is recorded.
func testStopLetsRequestsFinish(t *testing.T, bk backend) {
	st := bk.open(t)
	hold := make(chan struct{})
	sk := newSink(t, func(request, int) (int, http.Header) {
		<-hold
		return 200, nil
	})
	ids := putEvents(t, st, 2, time.Now(), "a")
	cfg := testSub("a", sk.URL)
	cfg.MaxInFlight = 2
	e := New(st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))
	e.Start(context.Background())
	waitFor(t, "two requests held", func() bool { return sk.cur.Load() == 2 })

	stopped := make(chan error, 1)
	go func() { stopped <- e.Stop(context.Background()) }()
	close(hold)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, id := range ids {
		if d := delivery(t, st, id, "a"); d.Status != gateway.StatusDelivered || d.Attempts != 1 {
			t.Errorf("%s: %s after %d attempts, want delivered after 1", id, d.Status, d.Attempts)
		}
	}
}

// testStopHandsBackHeldWork: when Stop's grace ends, requests still in
// flight are canceled and their deliveries released, no attempt counted;
// another engine then delivers everything.
func testStopHandsBackHeldWork(t *testing.T, bk backend) {
	st := bk.open(t)
	hold := make(chan struct{})
	stuck := newSink(t, func(request, int) (int, http.Header) {
		<-hold
		return 200, nil
	})
	t.Cleanup(func() { close(hold) })
	ids := putEvents(t, st, 3, time.Now(), "a")
	cfg := testSub("a", stuck.URL)
	cfg.MaxInFlight = 2
	first := New(st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))
	first.Start(context.Background())
	waitFor(t, "two requests held", func() bool { return stuck.cur.Load() == 2 })

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all
	if err := first.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n := first.InFlight("a"); n != 0 {
		t.Errorf("InFlight after Stop = %d, want 0", n)
	}
	for _, id := range ids {
		if d := delivery(t, st, id, "a"); d.Attempts != 0 || d.Status != gateway.StatusPending {
			t.Errorf("%s after Stop: %s with %d attempts, want pending with 0", id, d.Status, d.Attempts)
		}
	}

	sk := newSink(t, nil)
	startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}, testOptions(t))
	waitFor(t, "delivered by the second engine", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	for _, id := range ids {
		if got := sk.count(id); got != 1 {
			t.Errorf("%s reached the second subscriber %d times, want 1", id, got)
		}
		if d := delivery(t, st, id, "a"); d.Attempts != 1 {
			t.Errorf("%s: %d attempts recorded, want 1", id, d.Attempts)
		}
	}
}

// testTwoEngines: two engines (as two gateway processes) share one store;
// every event is delivered and no delivery is in both hands at once.
func testTwoEngines(t *testing.T, bk backend) {
	stA, stB := bk.shared(t)
	sk := newSink(t, func(r request, nth int) (int, http.Header) {
		if nth == 1 && r.ID[len(r.ID)-1]%3 == 0 { // about a third fail once
			return 503, nil
		}
		return 200, nil
	})
	ids := putEvents(t, stA, 60, time.Now(), "a")
	oa, ob := testOptions(t), testOptions(t)
	oa.UserAgent, ob.UserAgent = "hookgate/a", "hookgate/b"
	startEngine(t, stA, map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}, oa)
	startEngine(t, stB, map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}, ob)

	waitFor(t, "all delivered", statusIs(t, stA, "a", gateway.StatusDelivered, ids...))
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.overlaps != 0 {
		t.Errorf("%d requests arrived while the same delivery was in flight", sk.overlaps)
	}
	for _, id := range ids {
		if d := delivery(t, stA, id, "a"); d.Attempts != sk.perID[id] {
			t.Errorf("%s: %d attempts recorded, subscriber saw %d", id, d.Attempts, sk.perID[id])
		}
	}
	by := map[string]int{}
	for _, r := range sk.reqs {
		by[r.Header.Get("User-Agent")]++
	}
	t.Logf("requests by engine: %v", by)
}
