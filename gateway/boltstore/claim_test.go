package boltstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestPauseStopsClaimsAtOnce: claimers run while the subscriber is paused.
// Every Claim that begins after SetPaused(admin) has returned leases
// nothing, though deliveries are due; after SetPaused(none) they flow
// again.
func TestPauseStopsClaimsAtOnce(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	s.db.NoSync = true // durability is not under test
	var evs []gateway.NewEvent
	for i := range 50 {
		evs = append(evs, testEvent(fmt.Sprintf("evt_%02d", i), t0, "sub-a"))
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatalf("Put: %v", err)
	}
	now := t0.Add(time.Second)
	var (
		paused, stop  atomic.Bool
		before, after atomic.Int64 // claim calls begun before / after the pause returned
		wg            sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for !stop.Load() {
				wasPaused := paused.Load()
				cs, err := s.Claim(ctx, "sub-a", now, 2, time.Hour)
				if err != nil {
					t.Errorf("worker %d: Claim: %v", w, err)
					return
				}
				if wasPaused {
					after.Add(1)
					if len(cs) > 0 {
						t.Errorf("worker %d: a Claim begun after SetPaused(admin) returned leased %d", w, len(cs))
					}
				} else {
					before.Add(1)
				}
				for _, c := range cs { // hand it back: always something due
					if err := s.Release(ctx, c, now); err != nil {
						t.Errorf("worker %d: Release: %v", w, err)
					}
				}
			}
		})
	}
	for before.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	if err := s.SetPaused(ctx, "sub-a", gateway.PauseAdmin); err != nil {
		t.Fatalf("SetPaused(admin): %v", err)
	}
	paused.Store(true)
	for after.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if err := s.SetPaused(ctx, "sub-a", gateway.PauseNone); err != nil {
		t.Fatalf("SetPaused(none): %v", err)
	}
	if cs, err := s.Claim(ctx, "sub-a", now, 100, time.Hour); err != nil || len(cs) != len(evs) {
		t.Errorf("Claim after resume = %d, %v; want all %d", len(cs), err, len(evs))
	}
}
