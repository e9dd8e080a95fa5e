package boltstore

import (
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestDuplicateWritesNothing: a Put whose events are all duplicates (in
// the dedupe window, or known by a tombstone) opens no write transaction,
// so a replay flood costs no fsync; the duplicates counter still counts
// each one, shown at once and written later in one transaction, and kept
// across a restart.
func TestDuplicateWritesNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := gateway.StoreConfig{Path: dir, Retention: 24 * time.Hour, DedupeWindow: time.Hour, TombstoneWindow: 48 * time.Hour}
	gs, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := gs.(*Store)
	ctx := context.Background()
	recv := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(id string, at time.Time) gateway.NewEvent {
		return gateway.NewEvent{Envelope: gateway.Envelope{ID: id, Source: "src1", Type: "src1.product.updated"},
			Body: []byte(`{}`), ReceivedAt: at, Subscribers: []string{"sub-a"}}
	}
	if _, err := s.Put(ctx, []gateway.NewEvent{ev("evt_gone", recv)}); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Claim(ctx, "sub-a", recv, 10, time.Minute)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Claim = %d, %v", len(cs), err)
	}
	for _, c := range cs {
		if err := s.Record(ctx, c, gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: recv, StatusCode: 200}}); err != nil {
			t.Fatal(err)
		}
	}
	// evt_gone is removed at retention, leaving its tombstone; evt_b is
	// stored.
	late := recv.Add(25 * time.Hour)
	if err := s.Sweep(ctx, late); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, []gateway.NewEvent{ev("evt_b", late)}); err != nil {
		t.Fatal(err)
	}

	tries := s.disk.tries.Load()
	for i := range 50 {
		at := late.Add(time.Duration(i) * time.Second)
		res, err := s.Put(ctx, []gateway.NewEvent{ev("evt_b", at), ev("evt_gone", at), ev("evt_b", at)})
		if err != nil || !res[0].Duplicate || !res[1].Duplicate || !res[2].Duplicate {
			t.Fatalf("Put of duplicates = %+v, %v; want three duplicates", res, err)
		}
	}
	if got := s.disk.tries.Load() - tries; got != 0 {
		t.Errorf("50 Puts of duplicates opened %d write transactions, want 0", got)
	}
	rec, err := s.Event(ctx, "evt_b")
	if err != nil || rec.Duplicates != 100 {
		t.Errorf("Event(evt_b).Duplicates = %d, %v; want 100 (counted, not yet written)", rec.Duplicates, err)
	}
	if err := s.dups.Flush(); err != nil {
		t.Fatalf("writing the counters: %v", err)
	}
	if got := s.disk.tries.Load() - tries; got != 1 {
		t.Errorf("writing the counters took %d write transactions, want 1", got)
	}

	// Counted again, then closed: Close writes them.
	if _, err := s.Put(ctx, []gateway.NewEvent{ev("evt_b", late)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	gs, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer gs.Close()
	if rec, err := gs.Event(ctx, "evt_b"); err != nil || rec.Duplicates != 101 {
		t.Errorf("after a restart, Event(evt_b).Duplicates = %d, %v; want 101", rec.Duplicates, err)
	}
}
