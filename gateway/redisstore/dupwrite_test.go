package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestDuplicateWritesNothing: a Put whose events are all duplicates (in
// the dedupe window, or known by a tombstone) makes Redis write nothing
// (no change counted, nothing appended to the AOF), so a replay flood
// costs no fsync; the duplicates counter still counts each one, shown at
// once and written later in one script call, and by Close.
func TestDuplicateWritesNothing(t *testing.T) {
	srv := testredis.Start(t)
	cfg := gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL())},
		Retention: 24 * time.Hour, DedupeWindow: time.Hour, TombstoneWindow: 48 * time.Hour}
	s, err := open(cfg, CallerClock())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	recv := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(id string, at time.Time) gateway.NewEvent {
		e := testEvent(id)
		e.ReceivedAt = at
		return e
	}
	if _, err := s.Put(ctx, []gateway.NewEvent{ev("evt_gone", recv)}); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Claim(ctx, "sub-a", recv, 10, time.Minute)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Claim = %d, %v", len(cs), err)
	}
	if err := s.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: recv, StatusCode: 200}}); err != nil {
		t.Fatal(err)
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

	dirty, aof := infoInt(t, srv, "persistence", "rdb_changes_since_last_save"), infoInt(t, srv, "persistence", "aof_current_size")
	for i := range 50 {
		at := late.Add(time.Duration(i) * time.Second)
		res, err := s.Put(ctx, []gateway.NewEvent{ev("evt_b", at), ev("evt_gone", at), ev("evt_b", at)})
		if err != nil || !res[0].Duplicate || !res[1].Duplicate || !res[2].Duplicate {
			t.Fatalf("Put of duplicates = %+v, %v; want three duplicates", res, err)
		}
	}
	if got := infoInt(t, srv, "persistence", "rdb_changes_since_last_save") - dirty; got != 0 {
		t.Errorf("50 Puts of duplicates made %d changes, want 0", got)
	}
	if got := infoInt(t, srv, "persistence", "aof_current_size") - aof; got != 0 {
		t.Errorf("50 Puts of duplicates grew the AOF by %d bytes, want 0", got)
	}
	rec, err := s.Event(ctx, "evt_b")
	if err != nil || rec.Duplicates != 100 {
		t.Errorf("Event(evt_b).Duplicates = %d, %v; want 100 (counted, not yet written)", rec.Duplicates, err)
	}
	if err := s.dups.Flush(); err != nil {
		t.Fatalf("writing the counters: %v", err)
	}
	if got := infoInt(t, srv, "persistence", "rdb_changes_since_last_save") - dirty; got != 1 {
		t.Errorf("writing the counters made %d changes, want 1 (one HINCRBY)", got)
	}
	if n, err := s.rdb.Exists(ctx, s.key("e", "evt_gone")).Result(); err != nil || n != 0 {
		t.Errorf("the removed event's hash exists (%d, %v) after the counters were written: want none", n, err)
	}

	// Counted again, then closed: Close writes them.
	if _, err := s.Put(ctx, []gateway.NewEvent{ev("evt_b", late)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := open(cfg, CallerClock())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if rec, err := s2.Event(ctx, "evt_b"); err != nil || rec.Duplicates != 101 {
		t.Errorf("after Close, Event(evt_b).Duplicates = %d, %v; want 101", rec.Duplicates, err)
	}
}
