package redisstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestPurgeIndexes: after Purge, the event listings by status agree with
// what is left: an event whose only unfinished delivery was purged is no
// longer pending or dead, one left with no delivery at all is unrouted,
// and retention can then drop them (Sweep keeps events with pending work).
func TestPurgeIndexes(t *testing.T) {
	s := openTest(t, "purgeidx")
	ctx := context.Background()
	base := testEvent("").ReceivedAt
	evs := []gateway.NewEvent{testEvent("evt_alone"), testEvent("evt_shared"), testEvent("evt_dead")}
	evs[1].Subscribers = []string{"gone", "kept"}
	evs[0].Subscribers = []string{"gone"}
	evs[2].Subscribers = []string{"gone"}
	for i := range evs {
		evs[i].ReceivedAt = base.Add(time.Duration(i) * time.Millisecond)
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Claim(ctx, "gone", base.Add(time.Second), 10, time.Minute)
	if err != nil || len(cs) != 3 {
		t.Fatalf("Claim(gone) = %d claims, %v; want 3", len(cs), err)
	}
	for _, c := range cs {
		if c.EventID == "evt_dead" {
			if err := s.Record(ctx, c, gateway.Outcome{Status: gateway.StatusDead,
				Attempt: gateway.Attempt{At: base, StatusCode: 410, Error: "HTTP 410"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, err := s.Purge(ctx, "gone"); err != nil || n != 3 {
		t.Fatalf("Purge(gone) = %d, %v; want 3", n, err)
	}

	tests := []struct {
		f    gateway.EventFilter
		want []string
	}{
		{gateway.EventFilter{Status: gateway.StatusPending}, []string{"evt_shared"}},
		{gateway.EventFilter{Status: gateway.StatusDead}, nil},
		{gateway.EventFilter{Status: gateway.StatusUnrouted}, []string{"evt_dead", "evt_alone"}},
		{gateway.EventFilter{Subscriber: "gone"}, nil},
		{gateway.EventFilter{Subscriber: "kept", Status: gateway.StatusPending}, []string{"evt_shared"}},
	}
	for _, tc := range tests {
		page, err := s.List(ctx, tc.f)
		if err != nil {
			t.Fatalf("List(%+v): %v", tc.f, err)
		}
		var got []string
		for _, e := range page.Events {
			got = append(got, e.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(%+v) after Purge = %v, want %v", tc.f, got, tc.want)
		}
	}
	if err := s.Sweep(ctx, base.Add(s.retention+time.Hour)); err != nil {
		t.Fatal(err)
	}
	page, err := s.List(ctx, gateway.EventFilter{})
	if err != nil || len(page.Events) != 1 || page.Events[0].ID != "evt_shared" {
		t.Errorf("List after Sweep = %+v, %v; want evt_shared alone (kept still pending)", page.Events, err)
	}
}
