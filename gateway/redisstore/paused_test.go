package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestPausedBeforeReasons: a store written before pause reasons has the
// paused sets and no paused_reason entry; such a pause reads as an admin
// pause (the only kind there was), holds claims, and resume clears it.
func TestPausedBeforeReasons(t *testing.T) {
	s := openTest(t, "oldpause")
	ctx := context.Background()
	ev := testEvent("evt_1")
	if _, err := s.Put(ctx, []gateway.NewEvent{ev}); err != nil {
		t.Fatal(err)
	}
	for p := range s.nparts() {
		if err := s.rdb.SAdd(ctx, s.pkey(p, "paused"), "sub-a").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := s.Paused(ctx, "sub-a"); err != nil || r != gateway.PauseAdmin {
		t.Errorf("Paused = %q, %v; want %q", r, err, gateway.PauseAdmin)
	}
	if cs, err := s.Claim(ctx, "sub-a", ev.ReceivedAt, 10, time.Minute); err != nil || len(cs) != 0 {
		t.Errorf("Claim while paused = %d claims, %v; want none", len(cs), err)
	}
	if err := s.SetPaused(ctx, "sub-a", gateway.PauseNone); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Paused(ctx, "sub-a"); err != nil || r != gateway.PauseNone {
		t.Errorf("Paused after resume = %q, %v; want none", r, err)
	}
	if n, err := s.rdb.Exists(ctx, s.key("paused_reason")).Result(); err != nil || n != 0 {
		t.Errorf("paused_reason after resume: exists %d, %v; want gone", n, err)
	}
}
