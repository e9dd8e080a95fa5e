package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestPartitionedConformance runs the shared Store suite on one server
// with the store split into 4 partitions: claims, listings, stats and
// dead lists then merge what the partitions hold, as they do on a
// cluster, where TestClusterConformance runs the suite with the default.
func TestPartitionedConformance(t *testing.T) {
	srv := testredis.Start(t)
	runConformance(t, func(prefix string) *gateway.RedisConfig {
		return &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: prefix, Partitions: 4}
	})
}

// TestPartitionCount: the count is recorded by the first gateway to use
// the store; a gateway configured with 0 takes the store's; one
// configured with another count is refused by every operation, Ping
// included, with a message that says why.
func TestPartitionCount(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	openN := func(n int) *Store {
		s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "count", Partitions: n}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	first := openN(8)
	if _, err := first.Put(ctx, []gateway.NewEvent{testEvent("evt_1")}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got, err := first.rdb.Get(ctx, first.key("partitions")).Result(); err != nil || got != "8" {
		t.Fatalf("recorded partitions = %q, %v; want 8", got, err)
	}
	same := openN(0)
	if err := same.Ping(ctx); err != nil || same.nparts() != 8 {
		t.Errorf("a gateway configured with 0: Ping %v, %d partitions; want nil, the store's 8", err, same.nparts())
	}
	if rec, err := same.Event(ctx, "evt_1"); err != nil || rec.ID != "evt_1" {
		t.Errorf("Event through the store's count = %+v, %v; want evt_1", rec.ID, err)
	}
	other := openN(4)
	for name, err := range map[string]error{
		"Ping":  other.Ping(ctx),
		"Claim": func() error { _, err := other.Claim(ctx, "sub-a", testEvent("").ReceivedAt, 1, 0); return err }(),
		"Put":   func() error { _, err := other.Put(ctx, []gateway.NewEvent{testEvent("evt_2")}); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), "has 8 partitions and store.redis.partitions is 4") {
			t.Errorf("%s with 4 partitions configured = %v, want the mismatch named", name, err)
		}
	}
}

// TestPartitionsOfOldStore: a store written before partitions (a schema
// marker, no count) is one partition, whatever the default would be.
func TestPartitionsOfOldStore(t *testing.T) {
	s := openTest(t, "old")
	ctx := context.Background()
	if err := s.rdb.Set(ctx, s.key("schema"), schemaVersion, 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.wantParts = 0
	if err := s.Ping(ctx); err != nil || s.nparts() != 1 {
		t.Fatalf("Ping = %v with %d partitions, want nil, 1", err, s.nparts())
	}
}

// TestClusterSpread: on a cluster of three masters a store gets the
// default partitions, and events with different subjects land on every
// master, each found again by id.
func TestClusterSpread(t *testing.T) {
	c := testredis.StartCluster(t)
	cfg := gateway.StoreConfig{Redis: clusterConfig(c, "spread")}
	st, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*Store)
	ctx := context.Background()
	var evs []gateway.NewEvent
	for i := range 200 {
		evs = append(evs, failoverEvent(fmt.Sprintf("evt_%d", i)))
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if s.nparts() != clusterPartitions {
		t.Errorf("partitions = %d, want the cluster default %d", s.nparts(), clusterPartitions)
	}
	for _, m := range c.Masters() {
		node := redis.NewClient(&redis.Options{Addr: m})
		keys, err := node.Keys(ctx, "{spread:*:e:*").Result()
		node.Close()
		if err != nil {
			t.Fatalf("KEYS on %s: %v", m, err)
		}
		if n := len(keys); n == 0 {
			t.Errorf("master %s holds no event of the store", m)
		} else {
			t.Logf("master %s holds %d of the 200 events", m, n)
		}
	}
	for _, e := range evs[:20] {
		if _, err := s.Event(ctx, e.Envelope.ID); err != nil {
			t.Errorf("Event(%s): %v", e.Envelope.ID, err)
		}
	}
	if _, err := s.Event(ctx, "evt_none"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Event(evt_none) = %v, want ErrNotFound", err)
	}
}

// TestKeySlot checks the slot function against Redis's own CLUSTER
// KEYSLOT values (from the Redis Cluster specification's examples and a
// cluster node), and that partition tags fall in their share of the slots.
func TestKeySlot(t *testing.T) {
	for tag, want := range map[string]uint16{"123456789": 12739, "foo": 12182, "hookgate": 6547} {
		if got := keySlot(tag); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", tag, got, want)
		}
	}
	s := &Store{prefix: "hookgate"}
	for _, n := range []int{2, 3, 16, 64} {
		for p := range n {
			tag := strings.Trim(s.partBase(n, p), "{}")
			if got := int(keySlot(tag)) * n / clusterSlots; got != p {
				t.Errorf("partBase(%d, %d) = %s in slot share %d, want %d", n, p, tag, got, p)
			}
		}
	}
}
