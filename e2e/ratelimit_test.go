package e2e

import (
	"sync/atomic"
	"testing"
	"time"
)

// rate_limit: 20/s with a burst of 5. Once the burst is spent, deliveries
// run at 20/s ± 10%, whichever gateways send them: on Redis two gateways
// draw from one bucket, the embedded store has one gateway. In no stretch
// of time are more requests sent than the bucket allows.
func TestRateLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const (
			events = 100
			rate   = 20.0
			burst  = 5
		)
		w := newWorld(t, b)
		rec := newRecorder(t, "limited", 1)
		w.subscribe("limited", sub{rec: rec, extra: map[string]any{"rate_limit": map[string]any{"rate": "20/s", "burst": burst}}})
		gws := []*gateway{w.start()}
		if b.name == redisBackend.name {
			gws = append(gws, w.start())
		}
		var progress atomic.Int64
		for i, ok := range sendAll(events, gws, &progress) {
			if !ok {
				t.Fatalf("event %d was not accepted", i)
			}
		}
		rec.waitN(t, events, 60*time.Second)

		rec.mu.Lock()
		arrivals := append([]time.Time(nil), rec.arrivals...)
		rec.mu.Unlock()
		if len(arrivals) != events {
			t.Fatalf("subscriber got %d requests, want %d (one each)", len(arrivals), events)
		}
		// The bucket's promise: between any two requests, at most the
		// burst plus what refilled meanwhile (and one for the edges).
		for i := range arrivals {
			for j := i + 1; j < len(arrivals); j++ {
				allowed := burst + rate*arrivals[j].Sub(arrivals[i]).Seconds() + 1
				if n := float64(j - i + 1); n > allowed {
					t.Fatalf("requests %d to %d: %v apart, %.0f requests where the limit allows %.1f",
						i+1, j+1, arrivals[j].Sub(arrivals[i]), n, allowed)
				}
			}
		}
		// The steady rate, past the burst.
		steady := arrivals[2*burst:]
		got := float64(len(steady)-1) / steady[len(steady)-1].Sub(steady[0]).Seconds()
		if got < rate*0.9 || got > rate*1.1 {
			t.Errorf("steady rate %.2f/s, want %.0f/s ± 10%%", got, rate)
		}
		t.Logf("%d gateways: steady rate %.2f/s over %v", len(gws), got, steady[len(steady)-1].Sub(steady[0]).Round(time.Millisecond))
	})
}
