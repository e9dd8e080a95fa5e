package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestReplicaDuplicateWaits: a provider's retry of an event whose first
// Put wrote it on the master but was refused for want of a replica's
// confirmation (503) is recognized as a duplicate, and a duplicate writes
// nothing. Its Put must still not answer success until a replica has the
// event: the retry's 200 is the event's only acknowledgement, and a
// failover to the replica that never got it would lose it. WAIT counts
// from the connection's own last write (Redis 7.2 and later: only a
// command that propagated something sets it; 7.0 counted any command), so
// a Put that writes nothing, on a connection that wrote nothing since the
// event (another gateway's, a new one after a reset), was confirmed at
// once. So with replicas waited for, a Put that writes nothing else
// writes a key of its own (P:sy, evalAndWait): its WAIT then covers every write before it.
func TestReplicaDuplicateWaits(t *testing.T) {
	master, replica := testredis.StartReplicated(t)
	cfg := gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(master.URL()), Prefix: "dupwait"}}
	open := func() *Store {
		s, err := OpenWith(cfg, ReplicaWait(500*time.Millisecond))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open() // two gateways sharing the store
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Both have written once, with the replica up.
	for _, s := range []*Store{a, b} {
		if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_warm_" + s.inst)}); err != nil {
			t.Fatalf("Put with the replica up: %v", err)
		}
	}

	// With the replica up, a Put of duplicates alone makes one change
	// (the mark), where without replicas it makes none
	// (TestDuplicateWritesNothing).
	if _, err := a.Put(ctx, []gateway.NewEvent{testEvent("evt_dm")}); err != nil {
		t.Fatal(err)
	}
	dirty := infoInt(t, master, "persistence", "rdb_changes_since_last_save")
	if res, err := b.Put(ctx, []gateway.NewEvent{testEvent("evt_dm")}); err != nil || !res[0].Duplicate {
		t.Fatalf("Put of a duplicate = %+v, %v", res, err)
	}
	if got := infoInt(t, master, "persistence", "rdb_changes_since_last_save") - dirty; got < 1 {
		t.Errorf("a Put of a duplicate with a replica waited for made %d changes: its WAIT covers nothing on Redis 7.2+", got)
	}

	replica.Pause()
	if _, err := a.Put(ctx, []gateway.NewEvent{testEvent("evt_dw")}); !errors.Is(err, gateway.ErrUnavailable) {
		t.Fatalf("Put with the replica frozen: %v, want ErrUnavailable", err)
	}
	for name, s := range map[string]*Store{"the same gateway": a, "another gateway": b} {
		res, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_dw")})
		if !errors.Is(err, gateway.ErrUnavailable) {
			t.Errorf("retry on %s, the replica still frozen: %v (%+v), want ErrUnavailable: the event is on no replica", name, err, res)
		}
	}
	replica.Continue()
	testredis.WaitReplicaLinked(t, master, replica)
	for name, s := range map[string]*Store{"the same gateway": a, "another gateway": b} {
		res, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_dw")})
		if err != nil || len(res) != 1 || !res[0].Duplicate {
			t.Errorf("retry on %s, the replica back: %+v, %v; want a duplicate", name, res, err)
		}
	}
}
