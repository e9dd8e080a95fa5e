package deliver

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// testRateLimited: with rate_limit, attempts never start faster than the
// bucket allows, counted from before the engines started: the k-th
// arrival is at least (k - burst) / rate after that. On Redis two engines
// (two gateways) draw from one bucket; the embedded store is one
// process's, so one engine. Waiting spends no attempt.
func testRateLimited(t *testing.T, bk backend) {
	const (
		n     = 14
		rate  = 40
		burst = 2
	)
	var mu sync.Mutex
	var arrivals []time.Time
	sk := newSink(t, func(r request, nth int) (int, http.Header) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		return 200, nil
	})
	sub := testSub("limited", sk.URL)
	sub.RateLimit = gateway.RateLimit{Rate: rate, Burst: burst}
	subs := map[string]*gateway.SubscriberConfig{"limited": sub}
	a, b := bk.shared(t)
	ids := putEvents(t, a, n, time.Now(), "limited")
	start := time.Now()
	startEngine(t, a, subs, testOptions(t))
	if bk.name != "embedded" {
		startEngine(t, b, subs, testOptions(t))
	}
	waitFor(t, "every event delivered", statusIs(t, a, "limited", gateway.StatusDelivered, ids...))
	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != n {
		t.Fatalf("subscriber got %d requests, want %d", len(arrivals), n)
	}
	for k, at := range arrivals {
		earliest := time.Duration(float64(k+1-burst) / rate * float64(time.Second))
		// A millisecond of slack: the Redis bucket counts whole ms.
		if got := at.Sub(start); got < earliest-time.Millisecond {
			t.Errorf("request %d arrived %v after the start, before the limit allows (%v)", k+1, got, earliest)
		}
	}
	for _, id := range ids {
		if d := delivery(t, a, id, "limited"); d.Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1 (waiting for a token spends none)", id, d.Attempts)
		}
	}
}
