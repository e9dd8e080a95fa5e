package boltstore

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// TestPausedBeforeReasons: a file written before pause reasons holds the
// byte 1 as a paused flag; it reads as an admin pause (the only kind
// there was), holds claims, and resume clears it.
func TestPausedBeforeReasons(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_1", t0, "sub-a")}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktPaused).Put([]byte("sub-a"), []byte{1}) }); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Paused(ctx, "sub-a"); err != nil || r != gateway.PauseAdmin {
		t.Errorf("Paused = %q, %v; want %q", r, err, gateway.PauseAdmin)
	}
	if cs, err := s.Claim(ctx, "sub-a", t0, 10, time.Minute); err != nil || len(cs) != 0 {
		t.Errorf("Claim while paused = %d claims, %v; want none", len(cs), err)
	}
	if err := s.SetPaused(ctx, "sub-a", gateway.PauseNone); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Paused(ctx, "sub-a"); err != nil || r != gateway.PauseNone {
		t.Errorf("Paused after resume = %q, %v; want none", r, err)
	}
}
