package deliver

import (
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestNotifyKeepsBackoff: while claims fail, a Notify (every ingest
// request routed to the subscriber, e.g. events stored on the healthy
// masters of a cluster) does not end the backoff wait.
func TestNotifyKeepsBackoff(t *testing.T) {
	s := &downStore{Store: openBolt(t)}
	snk := newSink(t, nil)
	e := startEngine(t, s, map[string]*gateway.SubscriberConfig{"a": testSub("a", snk.URL)}, testOptions(t))
	s.down.Store(true)
	end := time.Now().Add(2 * time.Second)
	for time.Now().Before(end) {
		e.Notify("a")
		time.Sleep(time.Millisecond)
	}
	if n := s.claims.Load(); n > 20 {
		t.Errorf("%d failing claims in 2s of outage with Notify every 1ms; the backoff allows ~10", n)
	}
}
