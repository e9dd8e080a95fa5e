package e2e

import (
	"sync/atomic"
	"testing"
	"time"
)

// Gateways sharing one Redis split the work without doubling it: with no
// crash, every event reaches each subscriber exactly once, whichever
// gateway took it in.
func TestSharedRedisDeliversOnce(t *testing.T) {
	t.Parallel()
	const events = 1000
	w := newWorld(t, redisBackend)
	a := newRecorder(t, "a", 1)
	b := newRecorder(t, "b", 1)
	w.subscribe("a", sub{rec: a})
	w.subscribe("b", sub{rec: b, maxInFlight: 2})
	gws := []*gateway{w.start(), w.start(), w.start()}

	var progress atomic.Int64
	accepted := sendAll(events, gws, &progress)
	var subjects []string
	for i, ok := range accepted {
		if !ok {
			t.Fatalf("event %d was not accepted with every gateway up", i)
		}
		subjects = append(subjects, "product/"+crashID(i))
	}
	for _, r := range []*recorder{a, b} {
		r.waitSubjects(t, subjects, 60*time.Second)
	}
	// Stopped, the gateways have nothing more in flight: the counts are final.
	for _, g := range gws {
		g.stop()
	}
	for _, r := range []*recorder{a, b} {
		n, dup := r.counts()
		if n != events || dup != 0 {
			t.Errorf("subscriber %s: got %d events and %d duplicates, want %d and 0", r.name, n, dup, events)
		}
	}
}
