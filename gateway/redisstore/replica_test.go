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
