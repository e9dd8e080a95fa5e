package deliver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookgate/hookgate/gateway"
)

func testRetriedUntilDelivered(t *testing.T, bk backend) {
	st := bk.open(t)
	sk := newSink(t, func(r request, nth int) (int, http.Header) {
		if nth < 3 {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	ids := putEvents(t, st, 1, time.Now(), "a")
	o := testOptions(t)
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}, o)

	waitFor(t, "delivered", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	waitFor(t, "three attempts counted", func() bool {
		n := e.Attempts("a")
		return n.Delivered+n.Retrying+n.Dead == 3
	})
	if got, want := e.Attempts("a"), (AttemptCounts{Delivered: 1, Retrying: 2}); got != want {
		t.Errorf("Attempts = %+v, want %+v", got, want)
	}
	d := delivery(t, st, ids[0], "a")
	if got, want := codes(d), []int{503, 503, 200}; !slices.Equal(got, want) {
		t.Errorf("attempt codes = %v, want %v", got, want)
	}
	if d.Attempts != 3 {
		t.Errorf("attempts = %d, want 3", d.Attempts)
	}
	var reasons []string
	for _, a := range d.History {
		reasons = append(reasons, a.Error)
	}
	if want := []string{"HTTP 503", "HTTP 503", ""}; !slices.Equal(reasons, want) {
		t.Errorf("attempt errors = %q, want %q", reasons, want)
	}
	if got := sk.count(ids[0]); got != 3 {
		t.Errorf("subscriber saw %d requests, want 3", got)
	}
}

func testPermanentFailureIsDeadAtOnce(t *testing.T, bk backend) {
	st := bk.open(t)
	sk := newSink(t, func(request, int) (int, http.Header) { return http.StatusBadRequest, nil })
	ids := putEvents(t, st, 5, time.Now(), "a")
	cfg := testSub("a", sk.URL)
	cfg.MaxInFlight = 1
	cfg.Breaker.ConsecutiveFailures = 2 // a 4xx must not count against it
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))

	waitFor(t, "dead", statusIs(t, st, "a", gateway.StatusDead, ids...))
	for _, id := range ids {
		d := delivery(t, st, id, "a")
		if d.Attempts != 1 || d.LastStatusCode != 400 || d.LastError != "HTTP 400" {
			t.Errorf("%s: attempts %d, last %d %q; want 1, 400 \"HTTP 400\"", id, d.Attempts, d.LastStatusCode, d.LastError)
		}
	}
	if got := sk.total(); got != 5 {
		t.Errorf("subscriber saw %d requests, want 5", got)
	}
	if got := e.Breaker("a"); got != "closed" {
		t.Errorf("breaker = %q after 4xx answers, want closed", got)
	}
}

// testRedirectNotFollowed: a 3xx is recorded and retried, never chased.
func testRedirectNotFollowed(t *testing.T, bk backend) {
	st := bk.open(t)
	var chased atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { chased.Add(1) }))
	defer target.Close()
	sk := newSink(t, func(request, int) (int, http.Header) {
		return http.StatusFound, http.Header{"Location": {target.URL}}
	})
	now := time.Now()
	ids := putEvents(t, st, 1, now, "a")
	o := testOptions(t)
	o.Now = func() time.Time { return now } // the retry never comes due
	startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}, o)

	waitFor(t, "one attempt", func() bool { return delivery(t, st, ids[0], "a").Attempts == 1 })
	d := delivery(t, st, ids[0], "a")
	if d.Status != gateway.StatusRetrying || d.LastStatusCode != 302 || d.LastError != "HTTP 302 (redirect not followed)" {
		t.Errorf("delivery = %s %d %q, want retrying 302 \"HTTP 302 (redirect not followed)\"", d.Status, d.LastStatusCode, d.LastError)
	}
	if n := chased.Load(); n != 0 {
		t.Errorf("redirect target got %d requests, want 0", n)
	}
}

// testRequestHeaders checks what a subscriber receives, verifying the
// signature with the official library for each of two rotated keys.
func testRequestHeaders(t *testing.T, bk backend) {
	st := bk.open(t)
	sk := newSink(t, nil)
	ids := putEvents(t, st, 1, time.Now(), "a")
	second := []byte("second-key-for-rotation-xxxxxxxx")
	cfg := testSub("a", sk.URL)
	cfg.SigningKeys = [][]byte{testKey, second}
	cfg.Headers = map[string]string{"X-Team": "search", "Content-Type": "text/plain"}
	startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))

	waitFor(t, "delivered", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	rec, err := st.Event(context.Background(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	sk.mu.Lock()
	r := sk.reqs[0]
	sk.mu.Unlock()
	for _, key := range [][]byte{testKey, second} {
		wh, _ := standardwebhooks.NewWebhook(whsec(key))
		if err := wh.Verify(r.Body, r.Header); err != nil {
			t.Errorf("official Verify with one rotated key: %v", err)
		}
	}
	want := map[string]string{
		"Content-Type":  "application/cloudevents+json",
		"User-Agent":    "hookgate/test",
		"X-Team":        "search",
		HeaderID:        ids[0],
		HeaderTimestamp: r.Header.Get(HeaderTimestamp),
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if ts, err := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64); err != nil || ts <= 0 {
		t.Errorf("webhook-timestamp %q is not unix seconds", r.Header.Get(HeaderTimestamp))
	}
	if !bytes.Equal(r.Body, rec.Envelope) {
		t.Errorf("body = %s, want the stored envelope %s", r.Body, rec.Envelope)
	}
}

// testRetrySchedule asserts the recorded NextAttemptAt under an injected
// clock: backoff with injected jitter, Retry-After in both forms, capped.
func testRetrySchedule(t *testing.T, bk backend) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header http.Header
		rand   float64
		want   time.Duration
	}{
		{"backoff, full", 500, nil, 1, 2 * time.Second},
		{"backoff, most jitter", 500, nil, 0, time.Second},
		{"429 delta seconds", 429, http.Header{"Retry-After": {"120"}}, 1, 2 * time.Minute},
		{"503 http date", 503, http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 1, 90 * time.Second},
		{"429 capped at max_backoff", 429, http.Header{"Retry-After": {"86400"}}, 1, time.Hour},
		{"500 ignores Retry-After", 500, http.Header{"Retry-After": {"120"}}, 1, 2 * time.Second},
		{"unreadable Retry-After", 429, http.Header{"Retry-After": {"later"}}, 1, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := bk.open(t)
			sk := newSink(t, func(request, int) (int, http.Header) { return tt.status, tt.header })
			ids := putEvents(t, st, 1, now, "a")
			cfg := testSub("a", sk.URL)
			cfg.Retry = gateway.RetryConfig{MaxAttempts: 10, InitialBackoff: 2 * time.Second, MaxBackoff: time.Hour, MaxAge: 24 * time.Hour}
			o := testOptions(t)
			o.Now = func() time.Time { return now }
			o.Rand = func() float64 { return tt.rand }
			startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, o)

			waitFor(t, "one attempt", func() bool { return delivery(t, st, ids[0], "a").Attempts == 1 })
			d := delivery(t, st, ids[0], "a")
			if d.Status != gateway.StatusRetrying || d.NextAttemptAt == nil {
				t.Fatalf("delivery %s, next %v; want retrying with a next attempt", d.Status, d.NextAttemptAt)
			}
			if got, want := *d.NextAttemptAt, now.Add(tt.want); !got.Equal(want) {
				t.Errorf("next attempt at %v, want %v", got, want)
			}
			if at := d.History[0].At; !at.Equal(now) {
				t.Errorf("attempt at %v, want %v", at, now)
			}
			sk.mu.Lock()
			ts := sk.reqs[0].Header.Get(HeaderTimestamp)
			sk.mu.Unlock()
			if want := strconv.FormatInt(now.Unix(), 10); ts != want {
				t.Errorf("webhook-timestamp = %s, want %s (the injected clock)", ts, want)
			}
		})
	}
}

func testMaxAgeEndsRetries(t *testing.T, bk backend) {
	now := time.Now()
	st := bk.open(t)
	sk := newSink(t, func(request, int) (int, http.Header) { return 503, nil })
	ids := putEvents(t, st, 1, now.Add(-2*time.Hour), "a") // created two hours ago
	cfg := testSub("a", sk.URL)
	cfg.Retry.MaxAge = time.Hour
	startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))

	waitFor(t, "dead", statusIs(t, st, "a", gateway.StatusDead, ids...))
	if d := delivery(t, st, ids[0], "a"); d.Attempts != 1 {
		t.Errorf("attempts = %d, want 1: past max_age, the first failure ends it", d.Attempts)
	}
}

func testMaxInFlight(t *testing.T, bk backend) {
	st := bk.open(t)
	const limit = 3
	hold := make(chan struct{})
	sk := newSink(t, func(request, int) (int, http.Header) {
		<-hold
		return 200, nil
	})
	t.Cleanup(func() { close(hold) }) // runs after the engine's Stop, before the sink closes
	ids := putEvents(t, st, 30, time.Now(), "a")
	cfg := testSub("a", sk.URL)
	cfg.MaxInFlight = limit
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))

	// Let requests through one at a time while the engine keeps every
	// slot busy, checking the bound all along.
	done := statusIs(t, st, "a", gateway.StatusDelivered, ids...)
	waitFor(t, "all delivered", func() bool {
		if n := e.InFlight("a"); n > limit {
			t.Fatalf("InFlight = %d, want <= %d", n, limit)
		}
		select {
		case hold <- struct{}{}:
		default:
		}
		return done()
	})
	if p := sk.peak.Load(); p > limit {
		t.Errorf("subscriber saw %d concurrent requests, want <= %d", p, limit)
	}
	t.Logf("peak concurrency %d of %d", sk.peak.Load(), limit)
}

// testTimeout: a subscriber that does not answer within the timeout costs
// an attempt recorded as a timeout, and counts against the breaker.
func testTimeout(t *testing.T, bk backend) {
	st := bk.open(t)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client leave
		<-r.Context().Done()        // answers only when the client gives up
	}))
	defer hang.Close()
	now := time.Now()
	ids := putEvents(t, st, 1, now, "a")
	cfg := testSub("a", hang.URL)
	cfg.Timeout = 50 * time.Millisecond
	cfg.Breaker = gateway.BreakerConfig{ConsecutiveFailures: 1, Cooldown: time.Hour}
	o := testOptions(t)
	o.Now = func() time.Time { return now }
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, o)

	waitFor(t, "one attempt", func() bool { return delivery(t, st, ids[0], "a").Attempts == 1 })
	d := delivery(t, st, ids[0], "a")
	if d.Status != gateway.StatusRetrying || d.LastError != "timeout after 50ms" || d.LastStatusCode != 0 {
		t.Errorf("delivery %s %d %q, want retrying 0 \"timeout after 50ms\"", d.Status, d.LastStatusCode, d.LastError)
	}
	if got := e.Breaker("a"); got != "open" {
		t.Errorf("breaker = %q after a timeout with consecutive_failures 1, want open", got)
	}
}
