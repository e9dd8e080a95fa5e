package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookgate/hookgate/gateway"
)

var testKey = []byte("test-signing-key-0123456789abcdef")

// testSub is a subscriber config with small waits, so that retries and
// breaker cooldowns pass in milliseconds.
func testSub(name, url string) *gateway.SubscriberConfig {
	return &gateway.SubscriberConfig{
		Name:        name,
		URL:         url,
		Timeout:     5 * time.Second,
		MaxInFlight: 4,
		Retry: gateway.RetryConfig{
			MaxAttempts:    10,
			InitialBackoff: time.Millisecond,
			MaxBackoff:     5 * time.Millisecond,
			MaxAge:         time.Hour,
		},
		Breaker:     gateway.BreakerConfig{ConsecutiveFailures: 5, Cooldown: 50 * time.Millisecond},
		SigningKeys: [][]byte{testKey},
	}
}

// testOptions are engine options for tests: fast polls, no jitter taken
// off (Rand 1), logs discarded unless -v.
func testOptions(t *testing.T) Options {
	level := slog.LevelError + 1
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return Options{
		Rand:         func() float64 { return 1 },
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})),
		UserAgent:    "hookgate/test",
		PollInterval: 5 * time.Millisecond,
		PausedFor:    5 * time.Millisecond,
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startEngine starts an engine and stops it when the test ends.
func startEngine(t *testing.T, s gateway.Store, subs map[string]*gateway.SubscriberConfig, o Options) *Engine {
	t.Helper()
	e := New(s, subs, o)
	e.Start(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return e
}

// putEvents stores n events for the subscribers and returns their ids.
func putEvents(t testing.TB, s gateway.Store, n int, at time.Time, subs ...string) []string {
	t.Helper()
	evs := make([]gateway.NewEvent, n)
	ids := make([]string, n)
	for i := range evs {
		env := gateway.NewEnvelope("src", gateway.Event{
			Identity: fmt.Sprintf("%s-%d-%d", t.Name(), at.UnixNano(), i),
			Type:     "src.product.updated",
			Subject:  fmt.Sprintf("product/%d", i),
			Object:   json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
		}, at)
		body, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		evs[i] = gateway.NewEvent{Envelope: env, Body: body, ReceivedAt: at, Subscribers: subs}
		ids[i] = env.ID
	}
	if _, err := s.Put(context.Background(), evs); err != nil {
		t.Fatalf("Put: %v", err)
	}
	return ids
}

// waitFor polls cond until it holds, failing the test after a generous
// bound. It asserts a condition, never a duration.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// delivery returns the event's delivery to sub.
func delivery(t *testing.T, s gateway.Store, id, sub string) gateway.DeliveryRecord {
	t.Helper()
	rec, err := s.Event(context.Background(), id)
	if err != nil {
		t.Fatalf("Event(%s): %v", id, err)
	}
	for _, d := range rec.Deliveries {
		if d.Subscriber == sub {
			return d
		}
	}
	t.Fatalf("event %s has no delivery to %s", id, sub)
	return gateway.DeliveryRecord{}
}

func statusIs(t *testing.T, s gateway.Store, sub string, want gateway.DeliveryStatus, ids ...string) func() bool {
	return func() bool {
		for _, id := range ids {
			if delivery(t, s, id, sub).Status != want {
				return false
			}
		}
		return true
	}
}

// request is what a sink saw of one POST.
type request struct {
	ID     string
	Header http.Header
	Body   []byte
}

// sink is a real HTTP subscriber. It verifies every request's signature
// with the official Standard Webhooks library, counts concurrency, and answers
// with reply (200 when nil).
type sink struct {
	*httptest.Server
	reply func(r request, nth int) (status int, header http.Header)

	mu       sync.Mutex
	reqs     []request
	perID    map[string]int // requests seen per webhook-id
	busy     map[string]bool
	overlaps int // a webhook-id arrived while the same id was in progress
	badSig   []string

	cur, peak atomic.Int64
}

func newSink(t *testing.T, reply func(r request, nth int) (int, http.Header)) *sink {
	return newSinkOn(t, nil, reply)
}

// newSinkOn is newSink listening on ln (nil: a new loopback port).
func newSinkOn(t *testing.T, ln net.Listener, reply func(r request, nth int) (int, http.Header)) *sink {
	s := &sink{reply: reply, perID: map[string]int{}, busy: map[string]bool{}}
	wh, err := standardwebhooks.NewWebhookRaw(testKey)
	if err != nil {
		t.Fatal(err)
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		c := s.cur.Add(1)
		defer s.cur.Add(-1)
		for p := s.peak.Load(); c > p && !s.peak.CompareAndSwap(p, c); p = s.peak.Load() {
		}
		body, _ := io.ReadAll(hr.Body)
		r := request{ID: hr.Header.Get(HeaderID), Header: hr.Header.Clone(), Body: body}
		s.mu.Lock()
		// Tests with an injected clock sign with times far from the wall
		// clock: the library's tolerance check is TestRequestHeaders' job.
		if err := wh.VerifyIgnoringTimestamp(body, hr.Header); err != nil {
			s.badSig = append(s.badSig, r.ID+": "+err.Error())
		}
		if s.busy[r.ID] {
			s.overlaps++
		}
		s.busy[r.ID] = true
		s.perID[r.ID]++
		nth := s.perID[r.ID]
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()

		status := http.StatusOK
		if s.reply != nil {
			var h http.Header
			status, h = s.reply(r, nth)
			for k, v := range h {
				w.Header()[k] = v
			}
		}
		s.mu.Lock()
		s.busy[r.ID] = false
		s.mu.Unlock()
		w.WriteHeader(status)
	}))
	if ln != nil {
		s.Listener.Close()
		s.Listener = ln
	}
	s.Start()
	t.Cleanup(func() {
		s.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, b := range s.badSig {
			t.Errorf("subscriber rejected a signature: %s", b)
		}
	})
	return s
}

func (s *sink) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perID[id]
}

func (s *sink) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// codes returns the status codes of the delivery's recorded attempts.
func codes(d gateway.DeliveryRecord) []int {
	var c []int
	for _, a := range d.History {
		c = append(c, a.StatusCode)
	}
	return c
}
