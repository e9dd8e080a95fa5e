package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

func openTest(t *testing.T, prefix string) *Store {
	t.Helper()
	srv := testredis.Start(t)
	s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: prefix}})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testEvent(id string) gateway.NewEvent {
	return gateway.NewEvent{
		Envelope:    gateway.Envelope{ID: id, Source: "src1", Type: "src1.product.updated"},
		Body:        []byte(`{"id":"` + id + `"}`),
		ReceivedAt:  time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		Subscribers: []string{"sub-a"},
	}
}

// TestPutCanceled: a caller whose context is already done gets its error,
// and its event is not written.
func TestPutCanceled(t *testing.T) {
	s := openTest(t, "cancel")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_c")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context: got %v, want context.Canceled", err)
	}
	if _, err := s.Event(context.Background(), "evt_c"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Event after the canceled Put: got %v, want ErrNotFound", err)
	}
}

// TestFlushIsolatesFailure: when Redis refuses one call of a coalesced
// batch, that call fails and the others are stored, fully indexed.
func TestFlushIsolatesFailure(t *testing.T) {
	s := openTest(t, "iso")
	ctx := context.Background()
	// A key of the wrong type where the bad event's hash belongs makes
	// Redis answer WRONGTYPE for that event only.
	if err := s.rdb.Set(ctx, s.key("e", "evt_bad"), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	ids := []string{"evt_ok1", "evt_bad", "evt_ok2"}
	var batch []*putCall
	for _, id := range ids {
		batch = append(batch, &putCall{events: []gateway.NewEvent{testEvent(id)}, ctx: ctx, done: make(chan error, 1)})
	}
	s.flush(batch)
	for i, c := range batch {
		err := <-c.done
		if wantFail := ids[i] == "evt_bad"; (err != nil) != wantFail {
			t.Errorf("%s: got error %v, want failure=%v", ids[i], err, wantFail)
		}
		if err == nil && (len(c.res) != 1 || c.res[0].Duplicate) {
			t.Errorf("%s: results %+v, want one stored event", ids[i], c.res)
		}
	}
	cs, err := s.Claim(ctx, "sub-a", time.Date(2030, 1, 1, 0, 0, 1, 0, time.UTC), 10, time.Minute)
	if err != nil || len(cs) != 2 {
		t.Errorf("Claim after the batch = %d claims, %v; want the 2 good events", len(cs), err)
	}
}

// TestPutFailedWriteNotDuplicate: a Put that Redis refuses half way (here
// a foreign key of the wrong type where a queue belongs) must leave no
// event behind that a retry would take for a duplicate: once the fault is
// gone, the retried Put stores the event and every subscriber can claim
// its delivery.
func TestPutFailedWriteNotDuplicate(t *testing.T) {
	s := openTest(t, "partial")
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	bad := s.pkey(0, "q", "sub-b")
	if err := s.rdb.Set(ctx, bad, "not a zset", 0).Err(); err != nil {
		t.Fatal(err)
	}
	ev := testEvent("evt_partial")
	ev.Subscribers = []string{"sub-a", "sub-b"}
	if _, err := s.Put(ctx, []gateway.NewEvent{ev}); err == nil {
		t.Fatal("Put with a foreign key in the way succeeded; want an error")
	}
	if err := s.rdb.Del(ctx, bad).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Put(ctx, []gateway.NewEvent{ev})
	if err != nil || res[0].Duplicate {
		t.Fatalf("retried Put = %+v, %v; want stored, not a duplicate", res, err)
	}
	now := ev.ReceivedAt.Add(time.Second)
	for _, sub := range ev.Subscribers {
		cs, err := s.Claim(ctx, sub, now, 10, time.Minute)
		if err != nil || len(cs) != 1 {
			t.Errorf("Claim(%s) = %d claims, %v; want the event's delivery", sub, len(cs), err)
		}
	}
}

// TestClaimSkipsUnreadableEvent: a key of another type written where an
// event's hash belongs must not block the subscriber's queue: its entry is
// dropped and counted (Health's orphans), and the other deliveries are
// claimed.
func TestClaimSkipsUnreadableEvent(t *testing.T) {
	s := openTest(t, "unreadable")
	ctx := context.Background()
	evs := []gateway.NewEvent{testEvent("evt_1"), testEvent("evt_2"), testEvent("evt_3")}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.Set(ctx, s.pkey(0, "e", "evt_2"), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	now := evs[0].ReceivedAt.Add(time.Second)
	cs, err := s.Claim(ctx, "sub-a", now, 10, time.Minute)
	if err != nil || len(cs) != 2 {
		t.Fatalf("Claim = %d claims, %v; want evt_1 and evt_3", len(cs), err)
	}
	h, err := s.Health(ctx)
	if err != nil || h.Orphans != 1 {
		t.Errorf("Health = %+v, %v; want 1 orphan", h, err)
	}
}

// TestPutOwnConnections: with every connection of the store's pool held
// by slow calls (dispatchers' claims and scrapes against a slow Redis),
// Put still gets a connection and answers: ingest does not wait behind
// deliveries. It holds because Put goes in pipelines, which go-redis runs
// on a pool of their own (PipelinePoolSize), and because its pool opens
// connections beyond PoolSize rather than making callers queue (no
// MaxActiveConns): a client option that changed either would starve
// ingest, and this test would say so.
func TestPutOwnConnections(t *testing.T) {
	s := openTest(t, "ownconns")
	ctx := context.Background()
	// The first Put reads the store's layout and marks its schema, once.
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_0")}); err != nil {
		t.Fatal(err)
	}
	pool := s.rdb.(*redis.Client).Options().PoolSize
	held := pool + 2
	var done atomic.Int64
	var wg sync.WaitGroup
	for i := range held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.rdb.BLPop(ctx, 5*time.Second, fmt.Sprintf("blocked-%d", i))
			done.Add(1)
		}()
	}
	defer wg.Wait()
	// Wait until the pool is taken.
	for deadline := time.Now().Add(10 * time.Second); s.rdb.PoolStats().TotalConns < uint32(pool); {
		if time.Now().After(deadline) {
			t.Fatalf("pool not taken: %+v", s.rdb.PoolStats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	res, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_1")})
	if err != nil || res[0].Duplicate {
		t.Fatalf("Put with the general pool taken = %+v, %v; want stored", res, err)
	}
	if n := done.Load(); n != 0 {
		t.Errorf("Put answered only after %d of the blocking calls ended; want before any", n)
	}
}
