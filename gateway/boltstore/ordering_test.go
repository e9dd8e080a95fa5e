package boltstore

import (
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestOrderingAfterCrash: leases live in memory, so after a crash the
// store cannot tell a head that was sent (not yet recorded) from one
// never tried. A backfilled older event must then not go ahead of a head
// created before the store was opened: it waits behind it, so that the
// consumer never sees the head's version, then an older one.
func TestOrderingAfterCrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	now := time.Now()
	old := testEvent("evt_old", now.Add(-time.Minute), "sub-b") // stored before sub-a existed
	old.Envelope.Subject = "product/P"
	head := testEvent("evt_head", now, "sub-a")
	head.Envelope.Subject, head.Ordered = "product/P", []string{"sub-a"}
	if _, err := s.Put(ctx, []gateway.NewEvent{old, head}); err != nil {
		t.Fatal(err)
	}
	if cs, err := s.Claim(ctx, "sub-a", now, 1, time.Hour); err != nil || len(cs) != 1 {
		t.Fatalf("Claim = %d, %v; want the head, sent", len(cs), err)
	}
	s.Close() // the crash: the lease is gone with the process

	s = openTest(t, dir)
	r := gateway.RequeueRange{Subscriber: "sub-a", Window: gateway.TimeWindow{Since: now.Add(-time.Hour), Until: now.Add(-time.Second)}, Ordered: true}
	if res, err := s.Requeue(ctx, r, now); err != nil || res.Queued != 1 {
		t.Fatalf("Requeue = %+v, %v; want the old event queued", res, err)
	}
	cs, err := s.Claim(ctx, "sub-a", now.Add(time.Minute), 10, time.Hour)
	if err != nil || len(cs) != 1 || cs[0].EventID != "evt_head" {
		t.Fatalf("Claim after the crash = %v, %v; want evt_head again, the older one waiting behind it", cs, err)
	}
	rec, err := s.Event(ctx, "evt_old")
	if err != nil || len(rec.Deliveries) != 2 {
		t.Fatalf("Event(evt_old) = %+v, %v", rec.Deliveries, err)
	}
	for _, d := range rec.Deliveries {
		if d.Subscriber == "sub-a" && d.WaitingOn != "evt_head" {
			t.Errorf("evt_old to sub-a waits on %q, want evt_head", d.WaitingOn)
		}
	}
}
