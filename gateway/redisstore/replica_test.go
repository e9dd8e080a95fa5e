package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestReplicaAcknowledgement: on a master with a replica, Put answers nil
// only once the replica has the write. With the replica frozen (SIGSTOP:
// still connected, confirming nothing) Put fails with ErrUnavailable, so
// ingest answers 503 and the upstream retries; once the replica runs
// again, Put succeeds again.
func TestReplicaAcknowledgement(t *testing.T) {
	master, replica := testredis.StartReplicated(t)
	cfg := gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(master.URL()), Prefix: "ack"}}
	// A short wait keeps the frozen case quick; a live replica on loopback
	// confirms well within it.
	s, err := OpenWith(cfg, ReplicaWait(time.Second))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	put := func(id string) error {
		_, err := s.Put(ctx, []gateway.NewEvent{testEvent(id)})
		return err
	}

	if err := put("evt_r1"); err != nil {
		t.Fatalf("Put with the replica up: %v", err)
	}

	replica.Pause()
	if err := put("evt_r2"); !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("Put with the replica frozen: got %v, want an error wrapping ErrUnavailable", err)
	}

	replica.Continue()
	testredis.WaitReplicaLinked(t, master, replica)
	if err := put("evt_r3"); err != nil {
		t.Fatalf("Put after the replica came back: %v", err)
	}
	// The upstream's retry of the refused event is taken (stored now, or
	// recognized if the refused write had been kept).
	if err := put("evt_r2"); err != nil {
		t.Errorf("Put retrying the refused event: %v", err)
	}
	for _, id := range []string{"evt_r1", "evt_r2", "evt_r3"} {
		if _, err := s.Event(ctx, id); err != nil {
			t.Errorf("Event(%s): %v", id, err)
		}
	}
}

// TestReplicaWaitAcrossRestart: a master that restarts at the same
// address (a new run_id) while its replica is away is the old master back,
// not a failover's new one: it is about to be made a replica of whichever
// node was promoted, and what it takes alone would be wiped. So writes to
// it still wait for a replica, and fail while none confirms, where they
// were acknowledged unconfirmed.
func TestReplicaWaitAcrossRestart(t *testing.T) {
	master, replica := testredis.StartReplicated(t)
	cfg := gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(master.URL()), Prefix: "restart"}}
	s, err := OpenWith(cfg, ReplicaWait(time.Second))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	put := func(id string) error {
		_, err := s.Put(ctx, []gateway.NewEvent{testEvent(id)})
		return err
	}
	// Setup: the store has seen the master with its replica (a busy
	// machine may need more than one try for the replica to confirm).
	testredis.WaitReplicaLinked(t, master, replica)
	for err := put("evt_1"); err != nil; err = put("evt_1") {
		if ctx.Err() != nil {
			t.Fatalf("Put with the replica up: %v", err)
		}
	}
	replica.Pause() // away: it will not reconnect to the restarted master
	master.Restart()
	// The first Put after the restart may meet the closed connection; the
	// store reads the replica count afresh after it.
	var last error
	for i := range 3 {
		if last = put("evt_after_" + string(rune('a'+i))); last == nil {
			t.Fatalf("Put %d to the restarted master, its replica away: acknowledged without a replica's confirmation", i)
		}
	}
	if !errors.Is(last, gateway.ErrUnavailable) {
		t.Errorf("Put to the restarted master: %v, want ErrUnavailable", last)
	}
	replica.Continue()
}

// TestReplicaClaimAndRecordConfirmed: with a replica, a claim's leases and
// an attempt's record count only once a replica has them, as a Put does:
// a failover that lost them would let the delivery be sent again (make
// chaos: an orderly Sentinel failover made hundreds of duplicates). With
// the replica frozen, Claim hands out nothing and Record fails; once it
// runs, the next Claim hands out the very leases the unconfirmed one took
// (its token is sent again); the record a frozen replica did not confirm
// is failed to its caller (which sends the delivery again only if the
// record is truly lost, when its lease ends).
func TestReplicaClaimAndRecordConfirmed(t *testing.T) {
	master, replica := testredis.StartReplicated(t)
	cfg := gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(master.URL()), Prefix: "claimack"}}
	s, err := OpenWith(cfg, ReplicaWait(300*time.Millisecond), CallerClock())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testredis.WaitReplicaLinked(t, master, replica)
	for _, id := range []string{"evt_c1", "evt_c2"} {
		for _, err := s.Put(ctx, []gateway.NewEvent{testEvent(id)}); err != nil; _, err = s.Put(ctx, []gateway.NewEvent{testEvent(id)}) {
			if ctx.Err() != nil {
				t.Fatalf("Put with the replica up: %v", err)
			}
		}
	}
	now := testEvent("").ReceivedAt.Add(time.Second)

	replica.Pause()
	cs, err := s.Claim(ctx, "sub-a", now, 1, time.Hour)
	if err == nil {
		t.Fatalf("Claim with the replica frozen = %d claims, nil: leases no replica has", len(cs))
	}
	if !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("Claim with the replica frozen: %v, want ErrUnavailable", err)
	}
	replica.Continue()
	testredis.WaitReplicaLinked(t, master, replica)
	var first []gateway.Claim
	for first, err = s.Claim(ctx, "sub-a", now, 1, time.Hour); err != nil; first, err = s.Claim(ctx, "sub-a", now, 1, time.Hour) {
		if ctx.Err() != nil {
			t.Fatalf("Claim with the replica back: %v", err)
		}
	}
	if len(first) != 1 || first[0].EventID != "evt_c1" {
		t.Fatalf("Claim with the replica back = %+v, want the lease on evt_c1 the unconfirmed claim took", first)
	}

	replica.Pause()
	rctx, rcancel := context.WithTimeout(ctx, time.Second)
	err = s.Record(rctx, first[0], gateway.Outcome{Attempt: gateway.Attempt{At: now, StatusCode: 200}, Status: gateway.StatusDelivered})
	rcancel()
	if err == nil {
		t.Fatal("Record with the replica frozen = nil: an outcome no replica has")
	}
	replica.Continue()
	testredis.WaitReplicaLinked(t, master, replica)
	// The record stands on the master, and reaches the replica: the
	// delivery is delivered, and only the other is left to claim.
	ev, err := s.Event(ctx, "evt_c1")
	if err != nil || len(ev.Deliveries) != 1 || ev.Deliveries[0].Status != gateway.StatusDelivered {
		t.Errorf("Event(evt_c1) = %+v, %v; want its delivery delivered", ev.Deliveries, err)
	}
	rest, err := s.Claim(ctx, "sub-a", now, 10, time.Hour)
	if err != nil || len(rest) != 1 || rest[0].EventID != "evt_c2" {
		t.Errorf("Claim after = %+v, %v; want evt_c2 alone", rest, err)
	}
}
