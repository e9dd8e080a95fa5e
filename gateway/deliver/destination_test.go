package deliver

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// memDest is an in-memory queue destination for the engine's own tests
// of the destination lifecycle (the brokers' behaviour is desttest's, on
// real brokers). Each Open makes a new one, recorded in memOpened.
type memDest struct {
	topic string
	mu    sync.Mutex
	got   []*gateway.Message
	fail  atomic.Bool
	block atomic.Pointer[chan struct{}] // set: Publish waits for it
	// blocked counts the Publishes waiting for block.
	blocked atomic.Int64
	closed  atomic.Bool
}

var (
	memMu     sync.Mutex
	memOpened []*memDest
)

func init() {
	gateway.RegisterDestination("deliver_test_mem", &gateway.DestinationDriver{
		Schemes: []string{"mem"}, Topic: "a name", Headers: true,
		Open: func(cfg *gateway.SubscriberConfig) (gateway.Destination, error) {
			d := &memDest{topic: cfg.Topic}
			memMu.Lock()
			memOpened = append(memOpened, d)
			memMu.Unlock()
			return d, nil
		},
	})
}

func (d *memDest) Publish(ctx context.Context, m *gateway.Message) error {
	if d.closed.Load() {
		return errors.New("publish on a closed destination")
	}
	if b := d.block.Load(); b != nil {
		d.blocked.Add(1)
		defer d.blocked.Add(-1)
		select {
		case <-*b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if d.fail.Load() {
		return errors.New("broker says no to mem://user:s3cretpassword@x")
	}
	d.mu.Lock()
	d.got = append(d.got, m)
	d.mu.Unlock()
	return nil
}

func (d *memDest) Close() error { d.closed.Store(true); return nil }

func (d *memDest) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.got)
}

func memSub(topic string) *gateway.SubscriberConfig {
	cfg := testSub("q", "mem://user:s3cretpassword@x")
	cfg.Kind, cfg.Topic = "deliver_test_mem", topic
	cfg.Headers = map[string]string{"X-Team": "search"}
	return cfg
}

func lastOpened(t *testing.T) *memDest {
	t.Helper()
	memMu.Lock()
	defer memMu.Unlock()
	if len(memOpened) == 0 {
		t.Fatal("no destination opened")
	}
	return memOpened[len(memOpened)-1]
}

// A queue subscriber's destination is opened once, kept by a reload that
// leaves its settings, replaced (the old one closed) by one that changes
// its topic, closed on removal; the message carries the id, subject,
// signature and configured headers; a failure is retried with a reason
// that does not show the URL's password.
func TestDestinationLifecycle(t *testing.T) {
	st := openBolt(t)
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"q": memSub("one")}, testOptions(t))
	first := lastOpened(t)
	ids := putEvents(t, st, 2, time.Now(), "q")
	waitFor(t, "delivered", statusIs(t, st, "q", gateway.StatusDelivered, ids...))
	if first.count() != 2 {
		t.Fatalf("destination got %d messages, want 2", first.count())
	}
	m := first.got[0]
	if m.ID != ids[0] && m.ID != ids[1] || m.Subject == "" || m.Signature != Sign([][]byte{testKey}, m.ID, m.Timestamp, m.Body) {
		t.Errorf("message %+v: want an event id, its subject and the signature over the body", m)
	}
	if len(m.Headers) == 0 || m.Headers[0] != (gateway.MessageHeader{Key: "X-Team", Value: "search"}) {
		t.Errorf("headers %v, want X-Team first", m.Headers)
	}

	same := memSub("one")
	same.Retry.MaxAttempts = 3 // not a destination setting
	e.Update(map[string]*gateway.SubscriberConfig{"q": same})
	if lastOpened(t) != first || first.closed.Load() {
		t.Fatal("a reload that keeps the destination's settings opened a new one or closed it")
	}

	// A publish under way when the topic changes finishes on the old
	// destination, which closes after it.
	block := make(chan struct{})
	first.block.Store(&block)
	blocked := putEvents(t, st, 1, time.Now(), "q")
	// Under way means inside Publish: a claim counts in InFlight before
	// its send has taken the destination.
	waitFor(t, "a publish under way", func() bool { return first.blocked.Load() > 0 })
	e.Update(map[string]*gateway.SubscriberConfig{"q": memSub("two")})
	second := lastOpened(t)
	if second == first {
		t.Fatal("a changed topic kept the old destination")
	}
	if first.closed.Load() {
		t.Error("the old destination closed under a publish")
	}
	close(block)
	waitFor(t, "delivered after the reload", statusIs(t, st, "q", gateway.StatusDelivered, blocked...))
	waitFor(t, "old destination closed", first.closed.Load)

	second.fail.Store(true)
	failing := putEvents(t, st, 1, time.Now(), "q")
	waitFor(t, "retrying", statusIs(t, st, "q", gateway.StatusRetrying, failing...))
	if d := delivery(t, st, failing[0], "q"); d.LastError == "" || strings.Contains(d.LastError, "s3cretpassword") {
		t.Errorf("last_error %q: want the broker's reason without the password", d.LastError)
	}
	second.fail.Store(false)
	waitFor(t, "delivered once the broker takes it", statusIs(t, st, "q", gateway.StatusDelivered, failing...))

	e.Update(map[string]*gateway.SubscriberConfig{})
	waitFor(t, "closed on removal", second.closed.Load)
}
