package redisstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// sentinelConfig points a store at the sentinel, as an operator writes
// store.redis for Sentinel: the sentinel in the URL, the master's name
// in master_name.
func sentinelConfig(s *testredis.Sentinel, prefix string) *gateway.RedisConfig {
	return &gateway.RedisConfig{URL: gateway.Secret("redis://" + s.Addr()), MasterName: s.MasterName(), Prefix: prefix}
}

// directStore opens a store on srv itself, not through the sentinel, to
// see what that server holds.
func directStore(t *testing.T, srv *testredis.Server, prefix string) *Store {
	t.Helper()
	s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: prefix}})
	if err != nil {
		t.Fatalf("open on %s: %v", srv.Addr(), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSentinelStore: a store reaching Redis through a sentinel stores,
// leases and records on the master the sentinel names, and waits for its
// replica as on a master it was given directly: with the replica frozen
// Put fails with ErrUnavailable, and succeeds again once it runs.
func TestSentinelStore(t *testing.T) {
	sen := testredis.StartSentinel(t)
	cfg := gateway.StoreConfig{Redis: sentinelConfig(sen, "sen")}
	// A short wait keeps the frozen case quick; a live replica on loopback
	// confirms well within it. The caller's clock makes a retry an hour
	// off due when the test says, not an hour from now.
	s, err := OpenWith(cfg, ReplicaWait(time.Second), CallerClock())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ids := []string{"evt_s1", "evt_s2", "evt_s3"}
	for _, id := range ids {
		if res, err := s.Put(ctx, []gateway.NewEvent{testEvent(id)}); err != nil || res[0].Duplicate {
			t.Fatalf("Put(%s) = %+v, %v; want stored", id, res, err)
		}
	}
	now := testEvent("").ReceivedAt.Add(time.Second)
	claims, err := s.Claim(ctx, "sub-a", now, 10, time.Minute)
	if err != nil || len(claims) != len(ids) {
		t.Fatalf("Claim = %d claims, %v; want %d", len(claims), err, len(ids))
	}
	// One outcome of each kind, keyed by event.
	outcomes := map[string]gateway.Outcome{
		"evt_s1": {Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: now, StatusCode: 200}},
		"evt_s2": {Status: gateway.StatusRetrying, NextAttemptAt: now.Add(time.Hour),
			Attempt: gateway.Attempt{At: now, StatusCode: 503, Error: "HTTP 503"}},
		"evt_s3": {Status: gateway.StatusDead, Attempt: gateway.Attempt{At: now, StatusCode: 410, Error: "HTTP 410"}},
	}
	for _, c := range claims {
		if err := s.Record(ctx, c, outcomes[c.EventID]); err != nil {
			t.Fatalf("Record(%s): %v", c.EventID, err)
		}
	}

	// The master the sentinel named holds it all, as the store sees it.
	onMaster := directStore(t, sen.Master(), "sen")
	for _, st := range []*Store{s, onMaster} {
		for id, o := range outcomes {
			rec, err := st.Event(ctx, id)
			if err != nil {
				t.Fatalf("Event(%s): %v", id, err)
			}
			if len(rec.Deliveries) != 1 || rec.Deliveries[0].Status != o.Status || rec.Deliveries[0].Attempts != 1 {
				t.Errorf("Event(%s) deliveries = %+v, want one %s after 1 attempt", id, rec.Deliveries, o.Status)
			}
		}
	}
	if cs, err := s.Claim(ctx, "sub-a", now.Add(2*time.Hour), 10, time.Minute); err != nil || len(cs) != 1 || cs[0].EventID != "evt_s2" {
		t.Errorf("Claim once the retry is due = %+v, %v; want evt_s2 alone", cs, err)
	}
	// Health reads the settings of the master behind the sentinel, not
	// the sentinel's: that master has AOF on and evicts nothing.
	if h, err := s.Health(ctx); err != nil || len(h.Warnings) != 0 {
		t.Errorf("Health = %+v, %v; want no warnings", h, err)
	}

	sen.Replica().Pause()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_s4")}); !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("Put with the replica frozen: got %v, want an error wrapping ErrUnavailable", err)
	}
	sen.Replica().Continue()
	testredis.WaitReplicaLinked(t, sen.Master(), sen.Replica())
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_s5")}); err != nil {
		t.Errorf("Put after the replica came back: %v", err)
	}
}

// TestSentinelConformance runs the shared Store suite through a sentinel,
// on a master whose replica must confirm every Put, each subtest isolated
// by its own key prefix.
func TestSentinelConformance(t *testing.T) {
	sen := testredis.StartSentinel(t)
	runConformance(t, func(prefix string) *gateway.RedisConfig { return sentinelConfig(sen, prefix) })
}

// TestSentinelFailover: events are Put while the master fails over to its
// replica, in an orderly way (SENTINEL FAILOVER) or because it was
// SIGKILLed. Either way the replica is promoted with only what it had
// received: Sentinel does not wait for it to catch up, and in the orderly
// case the former master goes on taking writes until the sentinel makes
// it a replica, discarding them. So only Puts a replica confirmed may have
// been acknowledged. Every acknowledged event must be found afterwards by
// a store opened fresh through the sentinel, and be claimable on the new
// master itself; Puts must be acknowledged again after the failover.
func TestSentinelFailover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failover func(*testredis.Sentinel)
	}{
		{"orderly", (*testredis.Sentinel).Failover},
		// The killed master comes back, and is made a replica of the
		// new one: until it has synced, Puts are refused (the new master
		// has nothing to confirm its writes; TestSentinelPromotedWaits).
		{"master killed", func(sen *testredis.Sentinel) {
			sen.KillMaster()
			sen.Replica().Restart()
			sen.WaitOK()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sen := testredis.StartSentinel(t)
			cfg := gateway.StoreConfig{Redis: sentinelConfig(sen, "sfo")}
			s, err := Open(cfg)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()

			l := startPuts(s)
			l.waitAcked(t, 200, "before the failover")
			old := sen.Master()
			ackedBefore, t0 := l.nAcked.Load(), time.Now()
			tc.failover(sen)
			doneAfter := time.Since(t0)
			l.waitAcked(t, l.nAcked.Load()+200, "after the failover")
			acked := l.halt()
			if sen.Master() == old {
				t.Fatalf("master %s after the failover is the one before", old.Addr())
			}
			t.Logf("failover from %s to %s after %d acknowledged Puts, done after %v; %d acknowledged in all, %d failed",
				old.Addr(), sen.Master().Addr(), ackedBefore, doneAfter.Round(time.Millisecond), len(acked), l.failures.Load())
			checkAcked(t, cfg, acked)
			checkClaimable(t, directStore(t, sen.Master(), "sfo"), acked)
		})
	}
}

// TestSentinelPromotedWaits: a replica promoted after its master died has
// no replica of its own, so what it takes exists nowhere else until one
// has synced from it, and Sentinel may yet make another node master (the
// old one, restarted and not yet its replica, with none of it: make chaos
// lost 1,104 of 1,520 events that way). So Put goes on waiting for the
// replica seen before the failover, and fails, until the old master is
// back as the new one's replica.
func TestSentinelPromotedWaits(t *testing.T) {
	sen := testredis.StartSentinel(t)
	cfg := gateway.StoreConfig{Redis: sentinelConfig(sen, "prom")}
	s, err := OpenWith(cfg, ReplicaWait(500*time.Millisecond))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	put := func(id string) error {
		_, err := s.Put(ctx, []gateway.NewEvent{testEvent(id)})
		return err
	}
	// The store has seen the master with its replica.
	for err := put("evt_p1"); err != nil; err = put("evt_p1") {
		if ctx.Err() != nil {
			t.Fatalf("Put with the replica up: %v", err)
		}
	}
	sen.KillMaster()
	// The first Puts may meet the dead master's closed connections; then
	// each reaches the promoted replica, which has no replica to confirm.
	var last error
	for i := range 4 {
		if last = put(fmt.Sprintf("evt_alone_%d", i)); last == nil {
			t.Fatalf("Put %d to the promoted replica, with no replica of its own: acknowledged unconfirmed", i)
		}
	}
	if !errors.Is(last, gateway.ErrUnavailable) {
		t.Errorf("Put to the promoted replica: %v, want ErrUnavailable", last)
	}
	// The old master back as the new one's replica: writes confirmed again.
	sen.Replica().Restart()
	sen.WaitOK()
	for err := put("evt_p2"); err != nil; err = put("evt_p2") {
		if ctx.Err() != nil {
			t.Fatalf("Put with the old master back as a replica: %v", err)
		}
	}
}

// TestSentinelMasterGoneDeliveries: a master killed for good leaves the
// promoted replica with no replica of its own. Puts wait for one (they
// fail: TestSentinelPromotedWaits), but claims and records, whose
// confirmation only spares a duplicate delivery, wait for it only the
// delivery memory: then deliveries go on, unconfirmed.
func TestSentinelMasterGoneDeliveries(t *testing.T) {
	sen := testredis.StartSentinel(t)
	cfg := gateway.StoreConfig{Redis: sentinelConfig(sen, "gone")}
	s, err := OpenWith(cfg, ReplicaWait(300*time.Millisecond), DeliveryReplicaMemory(time.Second), CallerClock())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for err := putOne(ctx, s, "evt_g1"); err != nil; err = putOne(ctx, s, "evt_g1") {
		if ctx.Err() != nil {
			t.Fatalf("Put with the replica up: %v", err)
		}
	}
	sen.KillMaster() // and never restarted
	now := testEvent("").ReceivedAt.Add(time.Second)
	var cs []gateway.Claim
	waitUntil(t, ctx, "a claim on the promoted replica, its replica gone", func() error {
		var err error
		cs, err = s.Claim(ctx, "sub-a", now, 10, time.Hour)
		if err == nil && len(cs) == 0 {
			return errors.New("no claim")
		}
		return err
	})
	if len(cs) != 1 || cs[0].EventID != "evt_g1" {
		t.Fatalf("Claim = %+v, want evt_g1", cs)
	}
	if err := s.Record(ctx, cs[0], gateway.Outcome{Attempt: gateway.Attempt{At: now, StatusCode: 200}, Status: gateway.StatusDelivered}); err != nil {
		t.Errorf("Record on the promoted replica, its replica gone: %v", err)
	}
	if err := putOne(ctx, s, "evt_g2"); err == nil {
		t.Error("Put on the promoted replica, its replica gone: acknowledged unconfirmed")
	}
}

func putOne(ctx context.Context, s *Store, id string) error {
	_, err := s.Put(ctx, []gateway.NewEvent{testEvent(id)})
	return err
}

// waitUntil calls f until it returns nil, failing the test when ctx ends.
func waitUntil(t *testing.T, ctx context.Context, what string, f func() error) {
	t.Helper()
	for {
		err := f()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkClaimable claims every due delivery of sub-a from s and fails the
// test for every acknowledged id not among them.
func checkClaimable(t *testing.T, s *Store, acked []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	claimed := map[string]bool{}
	for {
		cs, err := s.Claim(ctx, "sub-a", time.Now(), gateway.MaxPage, time.Hour)
		if err != nil {
			t.Fatalf("Claim on the new master: %v", err)
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			claimed[c.EventID] = true
		}
	}
	var missing []string
	for _, id := range acked {
		if !claimed[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged events not claimable on the new master, among them %v", len(missing), len(acked), missing[:min(len(missing), 20)])
	}
}
