package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// batchRecord runs calls through one flushRecords, as the writer does with
// Records arriving together, and returns each call's answer.
func batchRecord(s *Store, recs []gateway.Claim, o gateway.Outcome) []error {
	var batch []*recordCall
	for _, c := range recs {
		batch = append(batch, &recordCall{label: c.EventID + "/" + c.Subscriber, ctx: context.Background(),
			done: make(chan error, 1), args: s.recordValues(c, o)})
	}
	s.flushRecords(batch)
	errs := make([]error, len(batch))
	for i, c := range batch {
		errs[i] = <-c.done
	}
	return errs
}

// TestRecordBatch: attempts recorded in one script call, two of them on
// the same event, keep the event's per-status counts, indexes and stats
// as one call each would; a stale token in the batch fails alone.
func TestRecordBatch(t *testing.T) {
	s := openTest(t, "recbatch")
	ctx := context.Background()
	ev := testEvent("evt_1")
	ev.Subscribers = []string{"sub-a", "sub-b"}
	if _, err := s.Put(ctx, []gateway.NewEvent{ev}); err != nil {
		t.Fatal(err)
	}
	now := ev.ReceivedAt.Add(time.Second)
	var claims []gateway.Claim
	for _, sub := range ev.Subscribers {
		cs, err := s.Claim(ctx, sub, now, 10, time.Minute)
		if err != nil || len(cs) != 1 {
			t.Fatalf("Claim(%s) = %d claims, %v; want 1", sub, len(cs), err)
		}
		claims = append(claims, cs[0])
	}
	stale := claims[0]
	stale.Token = "stale"
	claims = append(claims, stale)
	errs := batchRecord(s, claims, gateway.Outcome{Status: gateway.StatusDelivered,
		Attempt: gateway.Attempt{At: now, Duration: time.Millisecond, StatusCode: 200}})
	for i, want := range []error{nil, nil, gateway.ErrLeaseLost} {
		if !errors.Is(errs[i], want) || (want == nil && errs[i] != nil) {
			t.Errorf("record %d: got %v, want %v", i, errs[i], want)
		}
	}

	rec, err := s.Event(ctx, "evt_1")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rec.Deliveries {
		if d.Status != gateway.StatusDelivered || d.Attempts != 1 || len(d.History) != 1 {
			t.Errorf("delivery to %s: status %s, %d attempts, %d history; want delivered, 1, 1",
				d.Subscriber, d.Status, d.Attempts, len(d.History))
		}
	}
	for _, tc := range []struct {
		f    gateway.EventFilter
		want int
	}{
		{gateway.EventFilter{Status: gateway.StatusDelivered}, 1},
		{gateway.EventFilter{Status: gateway.StatusPending}, 0},
		{gateway.EventFilter{Subscriber: "sub-b", Status: gateway.StatusDelivered}, 1},
		{gateway.EventFilter{Subscriber: "sub-a", Status: gateway.StatusPending}, 0},
	} {
		page, err := s.List(ctx, tc.f)
		if err != nil || len(page.Events) != tc.want {
			t.Errorf("List(%+v) = %d events, %v; want %d", tc.f, len(page.Events), err, tc.want)
		}
	}
	for _, sub := range ev.Subscribers {
		st, err := s.Stats(ctx, sub)
		if err != nil || st.Delivered != 1 || st.Pending != 0 || !st.LastSuccessAt.Equal(now.Truncate(time.Millisecond)) {
			t.Errorf("Stats(%s) = %+v, %v; want 1 delivered, none pending, last success %v", sub, st, err, now)
		}
	}
}

// TestRecordBatchIsolatesFailure: when Redis refuses one attempt of a
// batch, that Record fails and the others are recorded.
func TestRecordBatchIsolatesFailure(t *testing.T) {
	s := openTest(t, "recfail")
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_ok1"), testEvent("evt_ok2")}); err != nil {
		t.Fatal(err)
	}
	now := testEvent("").ReceivedAt.Add(time.Second)
	claims, err := s.Claim(ctx, "sub-a", now, 10, time.Minute)
	if err != nil || len(claims) != 2 {
		t.Fatalf("Claim = %d claims, %v; want 2", len(claims), err)
	}
	// A key of the wrong type where an event hash belongs makes Redis
	// answer WRONGTYPE for that attempt only.
	if err := s.rdb.Set(ctx, s.key("e", "evt_bad"), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	bad := gateway.Claim{EventID: "evt_bad", Subscriber: "sub-a", Token: "x"}
	errs := batchRecord(s, []gateway.Claim{claims[0], bad, claims[1]}, gateway.Outcome{Status: gateway.StatusDead,
		Attempt: gateway.Attempt{At: now, StatusCode: 400, Error: "HTTP 400"}})
	for i, wantFail := range []bool{false, true, false} {
		if (errs[i] != nil) != wantFail {
			t.Errorf("record %d: got %v, want failure=%v", i, errs[i], wantFail)
		}
	}
	dead, err := s.Dead(ctx, "sub-a", gateway.DeadFilter{Limit: 10})
	if err != nil || len(dead) != 2 {
		t.Errorf("Dead(sub-a) = %d, %v; want the 2 good events", len(dead), err)
	}
}

// TestEventLongHistory: Event reads a history longer than one HMGET slice
// of the event script, in order.
func TestEventLongHistory(t *testing.T) {
	s := openTest(t, "longhist")
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_h")}); err != nil {
		t.Fatal(err)
	}
	now := testEvent("").ReceivedAt
	const attempts = 1100
	for i := range attempts {
		cs, err := s.Claim(ctx, "sub-a", now, 1, time.Minute)
		if err != nil || len(cs) != 1 {
			t.Fatalf("attempt %d: Claim = %d claims, %v; want 1", i+1, len(cs), err)
		}
		if err := s.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusRetrying, NextAttemptAt: now,
			Attempt: gateway.Attempt{At: now, StatusCode: 503, Error: "HTTP 503"}}); err != nil {
			t.Fatalf("attempt %d: Record: %v", i+1, err)
		}
	}
	rec, err := s.Event(ctx, "evt_h")
	if err != nil || len(rec.Deliveries) != 1 {
		t.Fatalf("Event = %+v, %v; want one delivery", rec, err)
	}
	h := rec.Deliveries[0].History
	if len(h) != attempts {
		t.Fatalf("history has %d attempts, want %d", len(h), attempts)
	}
	for i, a := range h {
		if a.N != i+1 {
			t.Fatalf("history[%d].N = %d, want %d", i, a.N, i+1)
		}
	}
}

// TestRecordBatchStoreDown: a batch of Records sent while Redis is gone
// (a reset connection, a restart) fails each call with ErrUnavailable:
// the writer must answer every call and go on, never crash.
func TestRecordBatchStoreDown(t *testing.T) {
	srv := testredis.Start(t)
	s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "recdown"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_1"), testEvent("evt_2")}); err != nil {
		t.Fatal(err)
	}
	now := testEvent("").ReceivedAt.Add(time.Second)
	claims, err := s.Claim(ctx, "sub-a", now, 10, time.Minute)
	if err != nil || len(claims) != 2 {
		t.Fatalf("Claim = %d claims, %v; want 2", len(claims), err)
	}
	srv.Stop()
	errs := batchRecord(s, claims, gateway.Outcome{Status: gateway.StatusDelivered,
		Attempt: gateway.Attempt{At: now, StatusCode: 200}})
	for i, err := range errs {
		if !errors.Is(err, gateway.ErrUnavailable) {
			t.Errorf("record %d with Redis down: got %v, want ErrUnavailable", i, err)
		}
	}
}

// TestRecordOutlivesOutage: a Record made while Redis restarts tries
// again until Redis is back, and lands: the attempt is recorded once (no
// lost lease, no second send when the lease runs out).
func TestRecordOutlivesOutage(t *testing.T) {
	srv := testredis.Start(t) // AOF, appendfsync always
	s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "recout"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_1")}); err != nil {
		t.Fatal(err)
	}
	now := testEvent("").ReceivedAt.Add(time.Second)
	claims, err := s.Claim(ctx, "sub-a", now, 1, time.Minute)
	if err != nil || len(claims) != 1 {
		t.Fatalf("Claim = %d claims, %v; want 1", len(claims), err)
	}
	srv.Stop()
	recorded := make(chan error, 1)
	go func() {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		recorded <- s.Record(rctx, claims[0], gateway.Outcome{Status: gateway.StatusDelivered,
			Attempt: gateway.Attempt{At: now, StatusCode: 200}})
	}()
	time.Sleep(2 * time.Second) // longer than the client's own retries
	srv.Restart()
	if err := <-recorded; err != nil {
		t.Fatalf("Record across the restart: %v", err)
	}
	rec, err := s.Event(ctx, "evt_1")
	if err != nil || rec.Deliveries[0].Status != gateway.StatusDelivered || len(rec.Deliveries[0].History) != 1 {
		t.Fatalf("Event = %+v, %v; want delivered with one attempt", rec, err)
	}
}
