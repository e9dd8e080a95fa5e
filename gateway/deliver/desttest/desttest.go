// Package desttest is the conformance suite for queue destinations
// (gateway.Destination): the delivery engine, on a real embedded store,
// delivers to a real broker, and the suite reads back what arrived. Each
// destination's test file is a call to Run with a Kit for its broker.
package desttest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/boltstore"
	"github.com/hookgate/hookgate/gateway/deliver"
)

// Key signs every message of the suite; Received messages must verify
// with it.
var Key = []byte("desttest-signing-key-0123456789ab")

// Received is one message as the broker holds it: its body and its
// headers (Redis stream fields id, timestamp and signature are given as
// webhook-id, webhook-timestamp and webhook-signature).
type Received struct {
	Body    []byte
	Headers map[string]string
}

// Broker is one running broker for one test.
type Broker struct {
	URL   string
	Addrs []string
	Topic string
	// Read returns every message on Topic so far, oldest first.
	Read func(t *testing.T) []Received
	// RefusedTopic is a topic the broker refuses every message to, for a
	// reason an operator must fix (a Redis key of another type, a subject
	// no JetStream stream takes).
	RefusedTopic string
	// Stop makes the broker unreachable; Restart brings it back with
	// what it held.
	Stop, Restart func()
}

// Kit describes a destination kind to the suite.
type Kit struct {
	Kind string
	// Start starts a fresh broker (stopped when the test ends) with Topic
	// ready to receive.
	Start func(t *testing.T) *Broker
	// Dedupes: the broker drops a second message with the same id
	// (JetStream's Nats-Msg-Id).
	Dedupes bool
}

// Run runs every conformance test against the kit's destination.
func Run(t *testing.T, kit Kit) {
	t.Run("Delivered", func(t *testing.T) { testDelivered(t, kit) })
	t.Run("BrokerDownRetried", func(t *testing.T) { testBrokerDown(t, kit) })
	t.Run("SubjectOrder", func(t *testing.T) { testSubjectOrder(t, kit) })
	t.Run("TopicChangeOnUpdate", func(t *testing.T) { testTopicChange(t, kit) })
	t.Run("RefusedIsRetried", func(t *testing.T) { testRefused(t, kit) })
	if kit.Dedupes {
		t.Run("DedupeByID", func(t *testing.T) { testDedupe(t, kit) })
	}
}

func sub(kit Kit, b *Broker) *gateway.SubscriberConfig {
	return &gateway.SubscriberConfig{
		Name: "q", Kind: kit.Kind, URL: b.URL, Addrs: b.Addrs, Topic: b.Topic,
		Timeout: 2 * time.Second, MaxInFlight: 4,
		Retry: gateway.RetryConfig{MaxAttempts: 1000, InitialBackoff: 5 * time.Millisecond,
			MaxBackoff: 20 * time.Millisecond, MaxAge: time.Hour},
		Breaker:     gateway.BreakerConfig{ConsecutiveFailures: 5, Cooldown: 50 * time.Millisecond},
		SigningKeys: gateway.Keys{Key},
		Ordering:    gateway.OrderingNone,
	}
}

func openStore(t *testing.T) gateway.Store {
	s, err := boltstore.Open(gateway.StoreConfig{Path: t.TempDir()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func startEngine(t *testing.T, s gateway.Store, cfg *gateway.SubscriberConfig) *deliver.Engine {
	level := slog.LevelError + 1
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	e := deliver.New(s, map[string]*gateway.SubscriberConfig{cfg.Name: cfg}, deliver.Options{
		Rand:         func() float64 { return 1 },
		Logger:       slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: level})),
		UserAgent:    "hookgate/test",
		PollInterval: 5 * time.Millisecond,
		PausedFor:    5 * time.Millisecond,
	})
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

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

var seq atomic.Int64

// put stores one event per subject for subscriber q and returns the ids
// and the stored bodies.
func put(t *testing.T, s gateway.Store, subjects ...string) (ids []string, bodies map[string][]byte) {
	return putFor(t, s, false, subjects...)
}

// putFor is put; ordered: q has ordering: subject.
func putFor(t *testing.T, s gateway.Store, ordered bool, subjects ...string) (ids []string, bodies map[string][]byte) {
	t.Helper()
	now := time.Now()
	bodies = map[string][]byte{}
	evs := make([]gateway.NewEvent, len(subjects))
	for i, subj := range subjects {
		n := seq.Add(1)
		env := gateway.NewEnvelope("src", gateway.Event{
			Identity: fmt.Sprintf("%s-%d", t.Name(), n),
			Type:     "src.product.updated",
			Subject:  subj,
			Object:   json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)),
		}, now)
		body, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		evs[i] = gateway.NewEvent{Envelope: env, Body: body, ReceivedAt: now, Subscribers: []string{"q"}}
		if ordered {
			evs[i].Ordered = []string{"q"}
		}
		ids = append(ids, env.ID)
		bodies[env.ID] = body
	}
	if _, err := s.Put(context.Background(), evs); err != nil {
		t.Fatalf("Put: %v", err)
	}
	return ids, bodies
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func status(t *testing.T, s gateway.Store, id string) gateway.DeliveryRecord {
	t.Helper()
	rec, err := s.Event(context.Background(), id)
	if err != nil {
		t.Fatalf("Event(%s): %v", id, err)
	}
	for _, d := range rec.Deliveries {
		if d.Subscriber == "q" {
			return d
		}
	}
	t.Fatalf("event %s has no delivery to q", id)
	return gateway.DeliveryRecord{}
}

func allDelivered(t *testing.T, s gateway.Store, ids []string) func() bool {
	return func() bool {
		for _, id := range ids {
			if status(t, s, id).Status != gateway.StatusDelivered {
				return false
			}
		}
		return true
	}
}

// verify checks that m's body is one of the stored envelopes and that its
// signature verifies over it, and returns its id.
func verify(t *testing.T, m Received, bodies map[string][]byte) string {
	t.Helper()
	wh, err := standardwebhooks.NewWebhookRaw(Key)
	if err != nil {
		t.Fatal(err)
	}
	id := m.Headers["webhook-id"]
	want, ok := bodies[id]
	if !ok {
		t.Errorf("message with webhook-id %q is none of the stored events", id)
		return id
	}
	if string(m.Body) != string(want) {
		t.Errorf("message %s body = %s, want the envelope %s", id, m.Body, want)
	}
	h := http.Header{}
	for k, v := range m.Headers {
		h.Set(k, v)
	}
	if err := wh.Verify(m.Body, h); err != nil {
		t.Errorf("message %s: signature does not verify: %v (headers %v)", id, err, m.Headers)
	}
	return id
}

func testDelivered(t *testing.T, kit Kit) {
	b := kit.Start(t)
	s := openStore(t)
	ids, bodies := put(t, s, "product/1", "product/2", "", "product/3")
	startEngine(t, s, sub(kit, b))
	waitFor(t, "delivered", allDelivered(t, s, ids))
	got := b.Read(t)
	if len(got) != len(ids) {
		t.Fatalf("broker holds %d messages, want %d", len(got), len(ids))
	}
	seen := map[string]int{}
	for _, m := range got {
		seen[verify(t, m, bodies)]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("event %s: %d messages, want 1", id, seen[id])
		}
		d := status(t, s, id)
		if d.Attempts != 1 || len(d.History) != 1 || d.History[0].Error != "" {
			t.Errorf("event %s: attempts %d history %+v, want one clean attempt", id, d.Attempts, d.History)
		}
	}
}

func testBrokerDown(t *testing.T, kit Kit) {
	b := kit.Start(t)
	s := openStore(t)
	b.Stop()
	ids, bodies := put(t, s, "product/1", "product/2")
	startEngine(t, s, sub(kit, b))
	waitFor(t, "failed attempts", func() bool {
		for _, id := range ids {
			if d := status(t, s, id); d.Attempts == 0 || d.LastError == "" {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		if d := status(t, s, id); d.Status != gateway.StatusRetrying && d.Status != gateway.StatusPending {
			t.Errorf("event %s status %s while the broker is down, want retrying", id, d.Status)
		}
	}
	if err := status(t, s, ids[0]).LastError; strings.Contains(err, b.URL) {
		t.Errorf("last_error %q quotes the broker URL", err)
	}
	b.Restart()
	waitFor(t, "delivered after restart", allDelivered(t, s, ids))
	seen := map[string]int{}
	for _, m := range b.Read(t) {
		seen[verify(t, m, bodies)]++
	}
	for _, id := range ids {
		if seen[id] < 1 {
			t.Errorf("event %s never reached the broker (at least once)", id)
		}
	}
}

func testSubjectOrder(t *testing.T, kit Kit) {
	b := kit.Start(t)
	s := openStore(t)
	var subjects []string
	for i := range 30 {
		subjects = append(subjects, fmt.Sprintf("product/%d", i%3))
	}
	ids, bodies := putFor(t, s, true, subjects...)
	cfg := sub(kit, b)
	cfg.Ordering = gateway.OrderingSubject
	startEngine(t, s, cfg)
	waitFor(t, "delivered", allDelivered(t, s, ids))
	subjOf := map[string]string{}
	for i, id := range ids {
		subjOf[id] = subjects[i]
	}
	var gotOrder = map[string][]string{}
	for _, m := range b.Read(t) {
		id := verify(t, m, bodies)
		gotOrder[subjOf[id]] = append(gotOrder[subjOf[id]], id)
	}
	for i, id := range ids {
		subj := subjects[i]
		if len(gotOrder[subj]) == 0 || gotOrder[subj][0] != id {
			t.Fatalf("subject %s: broker order %v does not follow receipt order at %s", subj, gotOrder[subj], id)
		}
		gotOrder[subj] = gotOrder[subj][1:]
	}
}

func testTopicChange(t *testing.T, kit Kit) {
	b1 := kit.Start(t)
	s := openStore(t)
	cfg := sub(kit, b1)
	e := startEngine(t, s, cfg)
	ids1, bodies := put(t, s, "product/1")
	waitFor(t, "delivered to the first broker", allDelivered(t, s, ids1))

	b2 := kit.Start(t)
	next := sub(kit, b2)
	e.Update(map[string]*gateway.SubscriberConfig{"q": next})
	ids2, bodies2 := put(t, s, "product/2")
	waitFor(t, "delivered to the second broker", allDelivered(t, s, ids2))
	if got := b1.Read(t); len(got) != 1 || verify(t, got[0], bodies) != ids1[0] {
		t.Errorf("first broker holds %d messages, want only %s", len(got), ids1[0])
	}
	if got := b2.Read(t); len(got) != 1 || verify(t, got[0], bodies2) != ids2[0] {
		t.Errorf("second broker holds %d messages, want only %s", len(got), ids2[0])
	}
}

// testDedupe publishes one message twice, as a retry after a lost
// acknowledgement would: the broker keeps one.
func testDedupe(t *testing.T, kit Kit) {
	b := kit.Start(t)
	s := openStore(t)
	_, bodies := put(t, s, "product/1")
	drv, err := gateway.LookupDestination(kit.Kind)
	if err != nil {
		t.Fatal(err)
	}
	d, err := drv.Open(sub(kit, b))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for id, body := range bodies {
		ts := time.Now()
		m := &gateway.Message{ID: id, Subject: "product/1", Timestamp: ts, Body: body,
			Signature: deliver.Sign([][]byte{Key}, id, ts, body)}
		for i := range 2 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := publishWhenUp(ctx, d, m)
			cancel()
			if err != nil {
				t.Fatalf("publish %d: %v", i+1, err)
			}
		}
	}
	if got := b.Read(t); len(got) != 1 {
		t.Errorf("broker holds %d messages after the same id twice, want 1", len(got))
	}
}

// publishWhenUp retries while the fresh connection is being made.
func publishWhenUp(ctx context.Context, d gateway.Destination, m *gateway.Message) error {
	for {
		err := d.Publish(ctx, m)
		if err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testRefused: a broker that refuses the message (a misconfiguration)
// makes the delivery retry, not die, and opens the breaker; the reason is
// recorded.
func testRefused(t *testing.T, kit Kit) {
	b := kit.Start(t)
	s := openStore(t)
	ids, _ := put(t, s, "product/1")
	cfg := sub(kit, b)
	cfg.Topic = b.RefusedTopic
	cfg.Breaker.Cooldown = time.Hour // stays open once opened
	e := startEngine(t, s, cfg)
	// The breaker opens as the fifth attempt ends, just before it is
	// recorded.
	waitFor(t, "breaker open, five attempts recorded", func() bool {
		return e.Breaker("q") == "open" && status(t, s, ids[0]).Attempts >= cfg.Breaker.ConsecutiveFailures
	})
	d := status(t, s, ids[0])
	if d.Status != gateway.StatusRetrying || d.Attempts != cfg.Breaker.ConsecutiveFailures || d.LastError == "" {
		t.Errorf("delivery %s after %d attempts, last error %q; want retrying after %d, with a reason",
			d.Status, d.Attempts, d.LastError, cfg.Breaker.ConsecutiveFailures)
	}
	t.Logf("recorded reason: %s", d.LastError)
}
