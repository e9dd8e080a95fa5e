package deliver

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// countStore counts Releases.
type countStore struct {
	gateway.Store
	rel atomic.Int64
}

func (c *countStore) Release(ctx context.Context, cl gateway.Claim, at time.Time) error {
	c.rel.Add(1)
	return c.Store.Release(ctx, cl, at)
}

// probeRT fails the first request, panics in the second (the half-open
// probe) and answers 200 after.
type probeRT struct{ n atomic.Int64 }

func (rt *probeRT) RoundTrip(r *http.Request) (*http.Response, error) {
	switch rt.n.Add(1) {
	case 1:
		return &http.Response{StatusCode: 500, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
	case 2:
		panic("a bug in the probe")
	}
	return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

// TestHalfOpenProbePanic: a panic in the half-open probe's attempt tells
// the breaker the probe was aborted, freeing its one slot (left taken,
// the breaker would refuse every later attempt), and the delivery goes
// out once its lease ends.
func TestHalfOpenProbePanic(t *testing.T) {
	s := &countStore{Store: openBolt(t)}
	rt := &probeRT{}
	o := testOptions(t)
	o.Transport = rt
	o.LeaseFor = func(time.Duration) time.Duration { return 200 * time.Millisecond }
	cfg := testSub("a", "http://sink.invalid/hook")
	cfg.Breaker = gateway.BreakerConfig{ConsecutiveFailures: 1, Cooldown: 50 * time.Millisecond}
	ids := putEvents(t, s, 1, time.Now(), "a")
	e := startEngine(t, s, map[string]*gateway.SubscriberConfig{"a": cfg}, o)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if statusIs(t, s, "a", gateway.StatusDelivered, ids...)() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not delivered after 5s: breaker %q, requests %d, releases %d", e.Breaker("a"), rt.n.Load(), s.rel.Load())
}
