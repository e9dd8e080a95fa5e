package deliver

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// downStore is a real store that, once down is set, fails every Paused
// and Claim call as unavailable, counting them.
type downStore struct {
	gateway.Store
	down                  atomic.Bool
	reads, paused, claims atomic.Int64
}

var errDown = fmt.Errorf("%w: connection refused", gateway.ErrUnavailable)

func (s *downStore) Paused(ctx context.Context, sub string) (gateway.PauseReason, error) {
	s.reads.Add(1)
	if s.down.Load() {
		s.paused.Add(1)
		return gateway.PauseNone, errDown
	}
	return s.Store.Paused(ctx, sub)
}

func (s *downStore) Claim(ctx context.Context, sub string, now time.Time, want int, lease time.Duration) ([]gateway.Claim, error) {
	if s.down.Load() {
		s.claims.Add(1)
		return nil, errDown
	}
	return s.Store.Claim(ctx, sub, now, want, lease)
}

// lockedBuffer is a log sink the engine writes from its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

// TestStoreDownBacksOff: while the store is down, a paused subscriber's
// flag reads and an active one's claims back off (not one call per poll)
// and log a line for the first failure, not one per call; when the store
// answers again, one line says so and deliveries flow.
func TestStoreDownBacksOff(t *testing.T) {
	s := &downStore{Store: openBolt(t)}
	ctx := context.Background()
	if err := s.SetPaused(ctx, "held", gateway.PauseAdmin); err != nil {
		t.Fatal(err)
	}
	snk := newSink(t, nil)
	logs := &lockedBuffer{}
	o := testOptions(t)
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	startEngine(t, s, map[string]*gateway.SubscriberConfig{
		"held": testSub("held", snk.URL), "active": testSub("active", snk.URL)}, o)
	waitFor(t, "the paused flag read", func() bool { return s.reads.Load() >= 2 })

	s.down.Store(true)
	const window = 2 * time.Second
	time.Sleep(window) // the outage; what is asserted is the count of calls in it
	// Without backoff each dispatcher calls the store once per poll (5ms):
	// ~400 calls in the window. With it: a handful, the waits doubling to
	// maxErrorWait.
	if n := s.paused.Load(); n > 20 {
		t.Errorf("paused flag read %d times in %v of outage; want a backoff (at most 20)", n, window)
	}
	if n := s.claims.Load(); n > 20 {
		t.Errorf("claim tried %d times in %v of outage; want a backoff (at most 20)", n, window)
	}
	if n := logs.count("level=ERROR"); n > 2 {
		t.Errorf("%d ERROR lines in %v of outage; want one per dispatcher:\n%s", n, window, logs.buf.String())
	}

	s.down.Store(false)
	ids := putEvents(t, s, 3, time.Now(), "active")
	waitFor(t, "deliveries after the outage", statusIs(t, s, "active", gateway.StatusDelivered, ids...))
	if n := logs.count("store answers again"); n < 1 {
		t.Errorf("no line says the store answers again:\n%s", logs.buf.String())
	}
}
