package redisstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// A dead delivery recorded before dead reasons has no dr field: Dead and
// Event read it with no reason (the admin API's "unknown"), and no reason
// filter lists it. A redelivery of it works as of any other.
func TestDeadReasonBeforeReasons(t *testing.T) {
	s := openTest(t, "olddead")
	ctx := context.Background()
	ev := testEvent("evt_old")
	ev.Envelope.Subject = "product/OLD"
	if _, err := s.Put(ctx, []gateway.NewEvent{ev}); err != nil {
		t.Fatal(err)
	}
	now := ev.ReceivedAt.Add(time.Second)
	cs, err := s.Claim(ctx, "sub-a", now, 1, time.Minute)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Claim = %v, %v", cs, err)
	}
	if err := s.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusDead, DeadReason: gateway.DeadPermanent,
		Attempt: gateway.Attempt{At: now, StatusCode: 400, Error: "HTTP 400"}}); err != nil {
		t.Fatal(err)
	}
	key := s.pkey(0, "e", "evt_old")
	if n, err := s.rdb.HDel(ctx, key, "d:sub-a:dr").Result(); err != nil || n != 1 {
		t.Fatalf("HDEL %s d:sub-a:dr = %d, %v; want the field record.lua wrote", key, n, err)
	}

	dl, err := s.Dead(ctx, "sub-a", gateway.DeadFilter{})
	if err != nil || len(dl) != 1 || dl[0].DeadReason != gateway.DeadUnknown || dl[0].Type != "src1.product.updated" || dl[0].Subject != "product/OLD" {
		t.Fatalf("Dead = %+v, %v; want evt_old, no reason, its type and subject", dl, err)
	}
	if dl, err := s.Dead(ctx, "sub-a", gateway.DeadFilter{Reason: gateway.DeadPermanent}); err != nil || len(dl) != 0 {
		t.Errorf("Dead(permanent) = %+v, %v; want none", dl, err)
	}
	rec, err := s.Event(ctx, "evt_old")
	if err != nil || rec.Deliveries[0].Status != gateway.StatusDead || rec.Deliveries[0].DeadReason != gateway.DeadUnknown {
		t.Fatalf("Event = %+v, %v; want dead, no reason", rec, err)
	}
	if n, err := s.RedeliverDead(ctx, "sub-a", now.Add(time.Second)); err != nil || n != 1 {
		t.Errorf("RedeliverDead = %d, %v; want 1", n, err)
	}
}

// Dead with a reason pages through the dead set past its first page to
// find a rare reason, and stops after the scan bound it is given.
func TestDeadReasonScan(t *testing.T) {
	s := openTest(t, "deadscan")
	ctx := context.Background()
	const n = 230 // more than two of dead.lua's pages of 100
	var evs []gateway.NewEvent
	for i := range n {
		evs = append(evs, testEvent(fmt.Sprintf("evt_%03d", i)))
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	now := evs[0].ReceivedAt.Add(time.Second)
	cs, err := s.Claim(ctx, "sub-a", now, n, time.Minute)
	if err != nil || len(cs) != n {
		t.Fatalf("Claim = %d, %v", len(cs), err)
	}
	for _, c := range cs {
		var i int
		fmt.Sscanf(c.EventID, "evt_%d", &i)
		// The three oldest dead are permanent; the newer ones, attempts.
		why := gateway.DeadAttempts
		if i < 3 {
			why = gateway.DeadPermanent
		}
		if err := s.Record(ctx, c, gateway.Outcome{Status: gateway.StatusDead, DeadReason: why,
			Attempt: gateway.Attempt{At: now.Add(time.Duration(i) * time.Millisecond), StatusCode: 400}}); err != nil {
			t.Fatal(err)
		}
	}
	dl, err := s.Dead(ctx, "sub-a", gateway.DeadFilter{Reason: gateway.DeadPermanent, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range dl {
		ids = append(ids, d.EventID)
	}
	if want := []string{"evt_002", "evt_001", "evt_000"}; !slices.Equal(ids, want) {
		t.Errorf("Dead(permanent) = %v, want %v", ids, want)
	}
	// Bounded: told to examine the 200 newest, it finds none of them.
	rows, err := deadScript.Run(ctx, s.rdb, []string{s.bases[0]}, "sub-a", 10, string(gateway.DeadPermanent), 200).Slice()
	if err != nil || len(rows) != 0 {
		t.Errorf("dead.lua with a scan of 200 = %d rows, %v; want none", len(rows), err)
	}
	rows, err = deadScript.Run(ctx, s.rdb, []string{s.bases[0]}, "sub-a", 10, string(gateway.DeadPermanent), 228).Slice()
	if err != nil || len(rows) != 1 {
		t.Errorf("dead.lua with a scan of 228 = %d rows, %v; want the one within it", len(rows), err)
	}
}
