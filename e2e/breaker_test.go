package e2e

import (
	"fmt"
	"testing"
	"time"
)

// A subscriber that is down opens its breaker; while it is open deliveries
// wait without using attempts, so none dies, and once the subscriber is
// back every event arrives.
func TestBreakerHoldsDeliveries(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, down := range []struct {
			name string
			mode subscriberMode
		}{{"503", down503}, {"closed connections", downClose}} {
			t.Run(down.name, func(t *testing.T) {
				t.Parallel()
				testBreaker(t, b, down.mode)
			})
		}
	})
}

func testBreaker(t *testing.T, b backend, mode subscriberMode) {
	const events = 10
	w := newWorld(t, b)
	r := newRecorder(t, "fragile", 1)
	r.setMode(mode)
	// Backoff far shorter than the cooldown: were waiting behind the open
	// breaker to use attempts, 25 of them would be gone within a cooldown
	// or two. Probes alone (one per cooldown) cannot use them up while the
	// subscriber is held down below.
	w.subscribe("fragile", sub{rec: r,
		retry:   map[string]any{"initial_backoff": "20ms", "max_backoff": "50ms", "max_attempts": 25},
		breaker: map[string]any{"consecutive_failures": 3, "cooldown": "300ms"},
	})
	g := w.start()

	subjects := make([]string, events)
	for i := range events {
		g.mustAccept(product(fmt.Sprintf("BRK%02d", i), 100+i))
		subjects[i] = fmt.Sprintf("product/BRK%02d", i)
	}

	waitFor(t, 30*time.Second, "breaker of fragile is open", func() (bool, string) {
		s := g.subscribers(t)["fragile"]
		return s.Breaker == "open", fmt.Sprintf("breaker %q, %d requests so far", s.Breaker, r.requestCount())
	})
	// Held down through several cooldowns: the 3 failures that opened the
	// breaker plus at least 5 failed probes.
	waitFor(t, 30*time.Second, "fragile has failed 8 requests", func() (bool, string) {
		n := r.requestCount()
		if dead := deadEvents(t, g); len(dead) > 0 {
			t.Fatalf("while the breaker is cycling, after %d requests: dead events %v", n, dead)
		}
		return n >= 8, fmt.Sprintf("%d requests", n)
	})
	s := g.subscribers(t)["fragile"]
	if s.Dead != 0 {
		t.Errorf("while down: subscriber dead count got %d, want 0", s.Dead)
	}
	if s.Pending != events {
		t.Errorf("while down: subscriber pending got %d, want %d", s.Pending, events)
	}

	r.setMode(up)
	r.waitSubjects(t, subjects, 30*time.Second)
	if dead := deadEvents(t, g); len(dead) > 0 {
		t.Errorf("after recovery: dead events %v", dead)
	}
	waitFor(t, 30*time.Second, "breaker of fragile is closed again", func() (bool, string) {
		s := g.subscribers(t)["fragile"]
		return s.Breaker == "closed", fmt.Sprintf("breaker %q", s.Breaker)
	})
	n, dup := r.counts()
	t.Logf("requests %d, delivered %d, duplicates %d", r.requestCount(), n, dup)
}

// deadEvents lists the ids of events with a dead delivery.
func deadEvents(t testing.TB, g *gateway) []string {
	t.Helper()
	var page eventPage
	g.adminGet(t, "/admin/api/events?status=dead&limit=500", &page)
	var ids []string
	for _, e := range page.Events {
		ids = append(ids, e.ID)
	}
	return ids
}
