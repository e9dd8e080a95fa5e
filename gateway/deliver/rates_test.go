package deliver

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestRatesOutliveRemoval: a subscriber removed from the config keeps its
// rates while its window holds an attempt (the dashboard charts what it
// went through), one added back goes on from them, and once the window
// has passed with nothing in it the removed subscriber's ring goes.
func TestRatesOutliveRemoval(t *testing.T) {
	st := openBolt(t)
	sk := newSink(t, func(request, int) (int, http.Header) { return http.StatusOK, nil })
	var ahead atomic.Int64 // how far the engine's clock runs ahead of the wall's
	o := testOptions(t)
	o.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	cfg := testSub("a", sk.URL)
	subs := map[string]*gateway.SubscriberConfig{"a": cfg}
	ids := putEvents(t, st, 2, time.Now(), "a")
	e := startEngine(t, st, subs, o)
	waitFor(t, "delivered", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	waitFor(t, "two attempts counted", func() bool { return e.Attempts("a").Delivered == 2 })

	delivered := func() (int64, bool) {
		r, ok := e.Rates()["a"]
		return sum(r.Delivered), ok
	}
	e.Update(map[string]*gateway.SubscriberConfig{})
	if n, ok := delivered(); !ok || n != 2 {
		t.Errorf("removed: Rates()[a] delivered %d (listed %v), want 2", n, ok)
	}
	e.Update(subs)
	if n, ok := delivered(); !ok || n != 2 {
		t.Errorf("added back: Rates()[a] delivered %d (listed %v), want 2", n, ok)
	}

	e.Update(map[string]*gateway.SubscriberConfig{})
	ahead.Store(int64(RateWindow + RateBucket))
	if _, ok := delivered(); ok {
		t.Errorf("removed, window passed: Rates() lists a, want it gone")
	}
	e.mu.RLock()
	_, kept := e.rings["a"]
	e.mu.RUnlock()
	if kept {
		t.Errorf("removed, window passed: ring of a kept, want it dropped")
	}
}
