package deliver

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// panickyStore is a real store whose Claim and Record each panic once, as
// a bug on an unexpected store reply would.
type panickyStore struct {
	gateway.Store
	claimPanics, recordPanics atomic.Int64
}

func (s *panickyStore) Claim(ctx context.Context, sub string, now time.Time, want int, lease time.Duration) ([]gateway.Claim, error) {
	if s.claimPanics.Add(1) == 1 {
		panic("claim: unexpected reply")
	}
	return s.Store.Claim(ctx, sub, now, want, lease)
}

func (s *panickyStore) Record(ctx context.Context, c gateway.Claim, o gateway.Outcome) error {
	if s.recordPanics.Add(1) == 1 {
		panic("record: unexpected reply")
	}
	return s.Store.Record(ctx, c, o)
}

// TestPanicContained: a panic in a dispatcher's claim and one in a send's
// record are logged and counted, the process goes on, and every delivery
// still arrives: the one whose record panicked when its lease runs out.
func TestPanicContained(t *testing.T) {
	s := &panickyStore{Store: openBolt(t)}
	snk := newSink(t, nil)
	ids := putEvents(t, s, 5, time.Now(), "a")
	before := panicCount("deliver.dispatcher") + panicCount("deliver.send")
	o := testOptions(t)
	o.LeaseFor = func(time.Duration) time.Duration { return 300 * time.Millisecond }
	startEngine(t, s, map[string]*gateway.SubscriberConfig{"a": testSub("a", snk.URL)}, o)
	waitFor(t, "every delivery delivered", statusIs(t, s, "a", gateway.StatusDelivered, ids...))
	if got := panicCount("deliver.dispatcher") + panicCount("deliver.send") - before; got != 2 {
		t.Errorf("panics counted: got %d, want 2 (one claim, one record)", got)
	}
	for _, id := range ids {
		if n := snk.count(id); n < 1 {
			t.Errorf("event %s: %d requests, want at least 1", id, n)
		}
	}
}

func panicCount(component string) int64 {
	for _, p := range gateway.Panics() {
		if p.Component == component {
			return p.Count
		}
	}
	return 0
}
