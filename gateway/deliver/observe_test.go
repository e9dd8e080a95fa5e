package deliver

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// recordingObserver keeps every AttemptInfo it is told of.
type recordingObserver struct {
	mu  sync.Mutex
	got []AttemptInfo
}

func (o *recordingObserver) Attempt(a AttemptInfo) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, a)
}

func (o *recordingObserver) attempts() []AttemptInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got)
}

// TestObserverAndRates: every attempt reaches the Observer with its
// subscriber, outcome, duration and the time since the delivery was
// created, and lands in the subscriber's rates ring.
func TestObserverAndRates(t *testing.T) {
	st := openBolt(t)
	sk := newSink(t, func(r request, nth int) (int, http.Header) {
		if nth < 3 {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	// Received a minute ago: the end-to-end latency includes that minute.
	ids := putEvents(t, st, 1, time.Now().Add(-time.Minute), "a")
	obs := &recordingObserver{}
	o := testOptions(t)
	o.Observer = obs
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}, o)

	waitFor(t, "delivered", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	waitFor(t, "three attempts observed", func() bool { return len(obs.attempts()) == 3 })
	got := obs.attempts()
	var statuses []gateway.DeliveryStatus
	for _, a := range got {
		statuses = append(statuses, a.Status)
		if a.Subscriber != "a" {
			t.Errorf("subscriber = %q, want a", a.Subscriber)
		}
		if a.Duration <= 0 {
			t.Errorf("duration = %v, want the request's", a.Duration)
		}
		if a.EndToEnd < time.Minute {
			t.Errorf("end to end = %v, want at least the minute since receipt", a.EndToEnd)
		}
	}
	want := []gateway.DeliveryStatus{gateway.StatusRetrying, gateway.StatusRetrying, gateway.StatusDelivered}
	if !slices.Equal(statuses, want) {
		t.Errorf("outcomes = %v, want %v", statuses, want)
	}

	rates := e.Rates()
	r, ok := rates["a"]
	if !ok || len(rates) != 1 {
		t.Fatalf("Rates() = %v, want subscriber a alone", rates)
	}
	if len(r.Delivered) != RateBuckets || len(r.Failed) != RateBuckets {
		t.Fatalf("series lengths %d, %d, want %d", len(r.Delivered), len(r.Failed), RateBuckets)
	}
	if d, f := sum(r.Delivered), sum(r.Failed); d != 1 || f != 2 {
		t.Errorf("rates: %d delivered, %d failed, want 1 and 2", d, f)
	}

	// SetObserver replaces it; nil removes it without a panic.
	e.SetObserver(nil)
	ids = putEvents(t, st, 1, time.Now(), "a")
	e.Notify("a")
	waitFor(t, "second event delivered", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	waitFor(t, "fourth attempt counted", func() bool { return e.Attempts("a").Delivered == 2 })
	if n := len(obs.attempts()); n != 3 {
		t.Errorf("removed observer told of %d attempts, want still 3", n)
	}
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

// TestRateRing: attempts count in the bucket of their time; buckets older
// than RateWindow fall off; the last bucket is the current one; a clock
// that steps back counts in the newest bucket.
func TestRateRing(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).Truncate(RateBucket)
	var r rateRing
	r.add(t0, true)
	r.add(t0.Add(time.Second), false)
	r.add(t0.Add(RateBucket), true)
	r.add(t0.Add(-time.Hour), false) // the clock stepped back: counted in the newest

	s := r.series(t0.Add(RateBucket + time.Second))
	last := RateBuckets - 1
	if s.Delivered[last] != 1 || s.Failed[last] != 1 || s.Delivered[last-1] != 1 || s.Failed[last-1] != 1 {
		t.Errorf("last two buckets delivered %v failed %v, want [1 1] and [1 1]",
			s.Delivered[last-1:], s.Failed[last-1:])
	}
	if d, f := sum(s.Delivered), sum(s.Failed); d != 2 || f != 2 {
		t.Errorf("totals %d delivered %d failed, want 2 and 2", d, f)
	}

	// Ten minutes on: the same counts, 60 buckets further back.
	s = r.series(t0.Add(RateBucket + 10*time.Minute))
	if s.Delivered[last-60] != 1 || s.Delivered[last-61] != 1 || s.Delivered[last] != 0 {
		t.Errorf("ten minutes on, delivered = %v, want ones at %d and %d", s.Delivered, last-61, last-60)
	}

	// Past the window: all gone, and new attempts count afresh.
	later := t0.Add(RateWindow + time.Hour)
	r.add(later, true)
	s = r.series(later)
	if d, f := sum(s.Delivered), sum(s.Failed); d != 1 || f != 0 || s.Delivered[last] != 1 {
		t.Errorf("after the window: %d delivered %d failed (last %d), want only the new one", d, f, s.Delivered[last])
	}
}
