package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

func testSweep(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	put(t, s,
		newEvent("evt_old1", "src1", "src1.product.updated", at(0), "sub-a", "sub-b"),
		newEvent("evt_old2", "src2", "src2.option.created", at(time.Minute)),
		newEvent("evt_new", "src1", "src1.product.updated", at(Retention/2), "sub-a", "sub-b"),
	)
	// Old: dead to sub-a, still pending (paused, say) to sub-b. New: dead to
	// sub-a too, pending to sub-b.
	for _, c := range claim(t, s, "sub-a", at(Retention/2), 10) {
		record(t, s, c, dead(at(Retention/2), "HTTP 400"))
	}
	if err := s.Sweep(ctx, at(Retention/2)); err != nil {
		t.Fatalf("early Sweep: %v", err)
	}
	if got := len(getEvent(t, s, "evt_old1").Deliveries); got != 2 {
		t.Errorf("a Sweep before retention ends dropped deliveries: %d left, want 2", got)
	}

	// Past retention: evt_old2 (unrouted) goes; evt_old1 stays, because its
	// delivery to sub-b is still queued: retention never drops an event
	// that has not reached every subscriber.
	if err := s.Sweep(ctx, at(Retention+2*time.Minute)); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	_, err := s.Event(ctx, "evt_old2")
	wantErr(t, "Event(evt_old2) after Sweep", err, gateway.ErrNotFound)
	_, err = s.Redeliver(ctx, "evt_old2", "", at(Retention+3*time.Minute))
	wantErr(t, "Redeliver(evt_old2) after Sweep", err, gateway.ErrNotFound)
	if got := delivery(t, s, "evt_old1", "sub-b"); got.Status != gateway.StatusPending {
		t.Errorf("evt_old1 to sub-b after Sweep: %s, want pending (kept past retention while queued)", got.Status)
	}
	for _, id := range []string{"evt_old1", "evt_new"} {
		if got := len(getEvent(t, s, id).Deliveries); got != 2 {
			t.Errorf("%s has %d deliveries after Sweep, want 2", id, got)
		}
	}
	listed := func(f gateway.EventFilter) map[string]bool {
		t.Helper()
		page, err := s.List(ctx, f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		got := map[string]bool{}
		for _, e := range page.Events {
			got[e.ID] = true
		}
		return got
	}
	for _, f := range []gateway.EventFilter{{}, {Source: "src2"}, {Status: gateway.StatusUnrouted}} {
		if listed(f)["evt_old2"] {
			t.Errorf("List(%+v) after Sweep lists evt_old2", f)
		}
	}
	if !listed(gateway.EventFilter{Subscriber: "sub-b", Status: gateway.StatusPending})["evt_old1"] {
		t.Errorf("List(sub-b pending) after Sweep lacks evt_old1")
	}
	if got := stats(t, s, "sub-b"); got.Pending != 2 {
		t.Errorf("Stats(sub-b) after Sweep: pending %d, want 2", got.Pending)
	}

	// Once evt_old1 reaches sub-b, the next Sweep drops it; evt_new, within
	// retention, stays.
	for _, c := range claim(t, s, "sub-b", at(Retention+3*time.Minute), 10) {
		if c.EventID == "evt_old1" {
			record(t, s, c, delivered(at(Retention+3*time.Minute)))
		} else if err := s.Release(ctx, c, at(Retention+3*time.Minute)); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	if err := s.Sweep(ctx, at(Retention+4*time.Minute)); err != nil {
		t.Fatalf("second Sweep: %v", err)
	}
	_, err = s.Event(ctx, "evt_old1")
	wantErr(t, "Event(evt_old1) after its delivery ended and Sweep", err, gateway.ErrNotFound)
	filters := []gateway.EventFilter{
		{}, {Source: "src1"}, {Source: "src2"}, {Type: "src1.product.updated"}, {Subscriber: "sub-a"},
		{Subscriber: "sub-b"}, {Status: gateway.StatusDead}, {Status: gateway.StatusPending},
		{Status: gateway.StatusUnrouted}, {Subscriber: "sub-b", Status: gateway.StatusPending},
	}
	for _, f := range filters {
		for id := range listed(f) {
			if id != "evt_new" {
				t.Errorf("List(%+v) after second Sweep lists %s", f, id)
			}
		}
	}
	dl, err := s.Dead(ctx, "sub-a", gateway.DeadFilter{Limit: 10})
	if err != nil || len(dl) != 1 || dl[0].EventID != "evt_new" {
		t.Errorf("Dead(sub-a) after Sweep = %+v, %v; want only evt_new", dl, err)
	}
	for sub, want := range map[string]gateway.SubscriberStats{
		"sub-a": {Dead: 1},
		"sub-b": {Pending: 1},
	} {
		got := stats(t, s, sub)
		if got.Pending != want.Pending || got.Dead != want.Dead {
			t.Errorf("Stats(%s) after Sweep: pending %d dead %d, want %d, %d", sub, got.Pending, got.Dead, want.Pending, want.Dead)
		}
	}
	cs := claim(t, s, "sub-b", at(Retention+5*time.Minute), 10)
	if len(cs) != 1 || cs[0].EventID != "evt_new" {
		t.Errorf("Claim(sub-b) after Sweep got %d claims, want only evt_new", len(cs))
	}
	if n, err := s.RedeliverDead(ctx, "sub-a", at(Retention+5*time.Minute)); err != nil || n != 1 {
		t.Errorf("RedeliverDead(sub-a) after Sweep = %d, %v; want 1 (evt_new only)", n, err)
	}
}
