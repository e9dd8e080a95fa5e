package redisstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestRerunCountsDuplicateOnce: a copy of an event later in the same
// batch is one duplicate, also when the client ran the script twice.
func TestRerunCountsDuplicateOnce(t *testing.T) {
	s := openTest(t, "revdup")
	hook := &rerunHook{}
	s.rdb.AddHook(hook)
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_0")}); err != nil {
		t.Fatal(err)
	}
	evs := []gateway.NewEvent{testEvent("evt_1"), testEvent("evt_1")}
	hook.armed.Store(true)
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Event(ctx, "evt_1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Duplicates != 1 {
		t.Errorf("duplicates = %d after one within-batch copy, want 1", rec.Duplicates)
	}
}

// TestRetryAloneAfterPartialBatch: in a partitioned store, a batch that
// one partition refuses is retried call by call; the events another
// partition stored in the first try are answered stored, not duplicates.
func TestRetryAloneAfterPartialBatch(t *testing.T) {
	srv := testredis.Start(t)
	s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "revpart", Partitions: 4}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// Two events in different partitions.
	var good, bad gateway.NewEvent
	for i := 0; ; i++ {
		e := testEvent(fmt.Sprintf("evt_%d", i))
		if i == 0 {
			good = e
			continue
		}
		if s.partOf(e.Envelope) != s.partOf(good.Envelope) {
			bad = e
			break
		}
	}
	bad.Subscribers = []string{"sub-a", "sub-b"}
	// A failure in bad's partition only.
	if err := s.rdb.Set(ctx, s.pkey(s.partOf(bad.Envelope), "q", "sub-b"), "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Warm the script cache in both partitions.
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("warm")}); err != nil {
		t.Fatal(err)
	}
	batch := []*putCall{
		{events: []gateway.NewEvent{good}, tok: newToken(), ctx: ctx, done: make(chan error, 1)},
		{events: []gateway.NewEvent{bad}, tok: newToken(), ctx: ctx, done: make(chan error, 1)},
	}
	s.flush(batch)
	if err := <-batch[0].done; err != nil {
		t.Fatalf("good call: %v", err)
	}
	if batch[0].res[0].Duplicate {
		t.Errorf("good call: a new event stored by this very Put answered Duplicate: true")
	}
	if err := <-batch[1].done; err == nil {
		t.Errorf("bad call: no error")
	}
}

// TestRefusedOrderedPutLeavesNoHead: a Put refused for a foreign key in
// its way writes nothing, not even an ordered event's place at the head
// of its subject's line: the next event of the subject, stored once the
// key is gone, is delivered, though the first is never retried.
func TestRefusedOrderedPutLeavesNoHead(t *testing.T) {
	s := openTest(t, "revline")
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	bad := s.pkey(0, "q", "sub-0")
	if err := s.rdb.Set(ctx, bad, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	a := testEvent("evt_a")
	a.Envelope.Subject = "product/1"
	a.Subscribers = []string{"sub-0", "sub-a"}
	a.Ordered = []string{"sub-a"}
	if _, err := s.Put(ctx, []gateway.NewEvent{a}); err == nil {
		t.Fatal("want the Put refused")
	}
	if err := s.rdb.Del(ctx, bad).Err(); err != nil {
		t.Fatal(err)
	}
	b := testEvent("evt_b")
	b.Envelope.Subject = "product/1"
	b.ReceivedAt = a.ReceivedAt.Add(time.Second)
	b.Ordered = []string{"sub-a"}
	if _, err := s.Put(ctx, []gateway.NewEvent{b}); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Claim(ctx, "sub-a", b.ReceivedAt.Add(time.Hour), 10, time.Minute)
	if err != nil || len(cs) != 1 {
		head, _ := s.rdb.Get(ctx, s.pkey(0, "o", "sub-a", "product/1")).Result()
		t.Errorf("Claim = %d claims, %v; want evt_b (evt_a was answered 503, never stored); head is %q", len(cs), err, head)
	}
}
