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

	if err := s.Sweep(ctx, at(Retention+2*time.Minute)); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	for _, id := range []string{"evt_old1", "evt_old2"} {
		_, err := s.Event(ctx, id)
		wantErr(t, "Event("+id+") after Sweep", err, gateway.ErrNotFound)
		_, err = s.Redeliver(ctx, id, "", at(Retention+3*time.Minute))
		wantErr(t, "Redeliver("+id+") after Sweep", err, gateway.ErrNotFound)
	}
	newRec := getEvent(t, s, "evt_new")
	if len(newRec.Deliveries) != 2 {
		t.Errorf("evt_new has %d deliveries after Sweep, want 2", len(newRec.Deliveries))
	}

	filters := []gateway.EventFilter{
		{}, {Source: "src1"}, {Source: "src2"}, {Type: "src1.product.updated"}, {Subscriber: "sub-a"},
		{Subscriber: "sub-b"}, {Status: gateway.StatusDead}, {Status: gateway.StatusPending},
		{Status: gateway.StatusUnrouted}, {Subscriber: "sub-b", Status: gateway.StatusPending},
	}
	for _, f := range filters {
		page, err := s.List(ctx, f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		for _, e := range page.Events {
			if e.ID != "evt_new" {
				t.Errorf("List(%+v) after Sweep lists %s", f, e.ID)
			}
		}
	}

	dl, err := s.Dead(ctx, "sub-a", 10)
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
	cs := claim(t, s, "sub-b", at(Retention+3*time.Minute), 10)
	if len(cs) != 1 || cs[0].EventID != "evt_new" {
		t.Errorf("Claim(sub-b) after Sweep got %d claims, want only evt_new", len(cs))
	}
	if n, err := s.RedeliverDead(ctx, "sub-a", at(Retention+3*time.Minute)); err != nil || n != 1 {
		t.Errorf("RedeliverDead(sub-a) after Sweep = %d, %v; want 1 (evt_new only)", n, err)
	}
}
