package deliver

import (
	"bytes"
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// sendGoroutines counts the goroutines in dispatcher.worker, and of them
// those waiting for their next claim (parked in its select).
func sendGoroutines() (all, idle int) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if !bytes.Contains(g, []byte("deliver.(*dispatcher).worker(")) {
			continue
		}
		all++
		// Parked in worker's own select, not somewhere inside send.
		header, _, _ := bytes.Cut(g, []byte("\n"))
		if bytes.Contains(header, []byte("[select")) && !bytes.Contains(g, []byte("deliver.(*dispatcher).send(")) {
			idle++
		}
	}
	return all, idle
}

// idleForever: send goroutines wait for a claim until their dispatcher
// stops, so that the tests below tell reuse and exit apart without reading
// a clock.
func idleForever(t *testing.T) Options {
	o := testOptions(t)
	o.SendIdle = time.Hour
	return o
}

// TestSendGoroutinesAreReused: deliveries one after another are carried
// by the one send goroutine, not a new goroutine each.
func TestSendGoroutinesAreReused(t *testing.T) {
	st := openBolt(t)
	sk := newSink(t, func(request, int) (int, http.Header) { return 200, nil })
	cfg := testSub("a", sk.URL)
	cfg.MaxInFlight = 1
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, idleForever(t))

	base := time.Now()
	for i := range 5 {
		ids := putEvents(t, st, 1, base.Add(time.Duration(i)*time.Millisecond), "a")
		e.Notify("a")
		waitFor(t, "the delivery recorded", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
		waitFor(t, "its send goroutine waiting for the next claim", func() bool {
			_, idle := sendGoroutines()
			return idle >= 1
		})
	}
	if all, _ := sendGoroutines(); all != 1 {
		t.Errorf("%d send goroutines after 5 deliveries one at a time, want 1 carrying them all", all)
	}
	if got := sk.total(); got != 5 {
		t.Errorf("subscriber received %d requests, want 5", got)
	}
}

// TestSendGoroutinesEndWithTheEngine: idle send goroutines exit when the
// engine stops, not when their idle time runs out.
func TestSendGoroutinesEndWithTheEngine(t *testing.T) {
	st := openBolt(t)
	sk := newSink(t, func(request, int) (int, http.Header) { return 200, nil })
	cfg := testSub("a", sk.URL)
	e := New(st, map[string]*gateway.SubscriberConfig{"a": cfg}, idleForever(t))
	e.Start(context.Background())
	ids := putEvents(t, st, 20, time.Now(), "a")
	waitFor(t, "every delivery recorded", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	if all, _ := sendGoroutines(); all == 0 {
		t.Fatal("no send goroutine is waiting after the deliveries; the test cannot tell whether Stop ends them")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitFor(t, "send goroutines gone after Stop", func() bool {
		all, _ := sendGoroutines()
		return all == 0
	})
}

// TestIdleSendGoroutinesBounded: after a burst in which records were slow
// (many attempts waiting for Record at once), at most max_in_flight send
// goroutines stay to wait for claims; the others end with their send.
func TestIdleSendGoroutinesBounded(t *testing.T) {
	const limit, n = 2, 10
	gs := &gatedStore{Store: openBolt(t), gate: make(chan struct{})}
	sk := newSink(t, nil)
	ids := putEvents(t, gs, n, time.Now(), "a")
	cfg := testSub("a", sk.URL)
	cfg.MaxInFlight = limit
	o := idleForever(t)
	o.MaxUnrecorded = n
	startEngine(t, gs, map[string]*gateway.SubscriberConfig{"a": cfg}, o)

	waitFor(t, "every attempt waiting for its Record", func() bool { return gs.atGate.Load() == n })
	if all, _ := sendGoroutines(); all != n {
		t.Fatalf("%d send goroutines with %d attempts waiting for Record, want %d", all, n, n)
	}
	for range n {
		gs.atGate.Add(-1)
		gs.gate <- struct{}{}
	}
	waitFor(t, "all delivered", statusIs(t, gs, "a", gateway.StatusDelivered, ids...))
	waitFor(t, "the send goroutines over max_in_flight gone", func() bool {
		all, idle := sendGoroutines()
		return all == limit && idle == limit
	})
}
