package boltstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestResetEndsMemoryLease: leases live in memory, so every write that
// resets or deletes a delivery must end its lease there too. After each,
// the old holder's Record is ErrLeaseLost and records nothing, and the
// lease table keeps no entry behind.
// (Redeliver refuses a lease that has not run out, ErrConflict; past it,
// the delivery is reset and the lease ends.)
func TestResetEndsMemoryLease(t *testing.T) {
	ctx := context.Background()
	hour := 100 * 24 * time.Hour // past the dedupe window and retention
	tests := []struct {
		name  string
		reset func(s *Store) error
		// wantPending: the delivery is queued afresh (else it is gone).
		wantPending bool
	}{
		{"Redeliver one", func(s *Store) error {
			_, err := s.Redeliver(ctx, "evt_l", "sub-a", t0.Add(2*time.Minute))
			return err
		}, true},
		{"Redeliver all", func(s *Store) error {
			_, err := s.Redeliver(ctx, "evt_l", "", t0.Add(2*time.Minute))
			return err
		}, true},
		{"Put after the dedupe window", func(s *Store) error {
			_, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_l", t0.Add(hour), "sub-a")})
			return err
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, t.TempDir())
			if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_l", t0, "sub-a")}); err != nil {
				t.Fatalf("Put: %v", err)
			}
			cs, err := s.Claim(ctx, "sub-a", t0, 10, time.Minute)
			if err != nil || len(cs) != 1 {
				t.Fatalf("Claim = %d, %v; want 1 claim", len(cs), err)
			}
			if err := tc.reset(s); err != nil {
				t.Fatalf("reset: %v", err)
			}
			err = s.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusDelivered,
				Attempt: gateway.Attempt{At: t0.Add(2 * time.Second), StatusCode: 200}})
			if !errors.Is(err, gateway.ErrLeaseLost) {
				t.Errorf("Record with the lease taken before the reset = %v, want ErrLeaseLost", err)
			}
			st, err := s.Stats(ctx, "sub-a")
			if err != nil {
				t.Fatalf("Stats: %v", err)
			}
			if got, want := st.Pending, count(tc.wantPending); st.Delivered != 0 || got != want {
				t.Errorf("Stats = pending %d delivered %d, want pending %d delivered 0", got, st.Delivered, want)
			}
			if tc.wantPending {
				// Due again at once, to anyone: no lease is left over.
				again, err := s.Claim(ctx, "sub-a", t0.Add(hour+time.Second), 10, time.Minute)
				if err != nil || len(again) != 1 || again[0].Token == cs[0].Token {
					t.Errorf("Claim after the reset = %+v, %v; want the delivery with a new token", again, err)
				}
			}
			checkIndexes(t, s)
		})
	}
}

// TestLeaseTableEmptiesAfterUse: a Record or Release that commits ends its
// lease, and Sweep drops expired ones whose holder never came back, so the
// table does not grow with the deliveries ever made.
func TestLeaseTableEmptiesAfterUse(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	var evs []gateway.NewEvent
	for _, id := range []string{"evt_1", "evt_2", "evt_3"} {
		evs = append(evs, testEvent(id, t0, "sub-a"))
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatalf("Put: %v", err)
	}
	cs, err := s.Claim(ctx, "sub-a", t0, 10, time.Minute)
	if err != nil || len(cs) != 3 {
		t.Fatalf("Claim = %d, %v; want 3 claims", len(cs), err)
	}
	if err := s.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusDelivered,
		Attempt: gateway.Attempt{At: t0, StatusCode: 200}}); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if err := s.Release(ctx, cs[1], t0.Add(time.Second)); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if got := leaseCount(s); got != 1 {
		t.Errorf("%d leases after Record and Release of two of three, want 1", got)
	}
	if err := s.Sweep(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if got := leaseCount(s); got != 0 {
		t.Errorf("%d leases after Sweep past the last one's end, want 0", got)
	}
}

func leaseCount(s *Store) int {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	return len(s.leases.m)
}

// TestLeasesExclusiveUnderLoad: workers claim, release and record at once
// with leases that never expire. A delivery leased twice would show up as
// a Record or Release that lost its lease (only one token per delivery
// is current) or as a delivery recorded twice.
func TestLeasesExclusiveUnderLoad(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	const events, workers = 120, 6
	var evs []gateway.NewEvent
	for i := range events {
		evs = append(evs, testEvent(fmt.Sprintf("evt_%03d", i), t0, "sub-a"))
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatalf("Put: %v", err)
	}
	now := t0.Add(time.Second)
	var mu sync.Mutex
	recorded := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for round := 0; ; round++ {
				cs, err := s.Claim(ctx, "sub-a", now, 4, time.Hour)
				if err != nil {
					t.Errorf("worker %d: Claim: %v", w, err)
					return
				}
				if len(cs) == 0 {
					return
				}
				for i, c := range cs {
					if (round+i+w)%3 == 0 { // hand some back, to be claimed again
						if err := s.Release(ctx, c, now); err != nil {
							t.Errorf("worker %d: Release %s: %v", w, c.EventID, err)
						}
						continue
					}
					err := s.Record(ctx, c, gateway.Outcome{Status: gateway.StatusDelivered,
						Attempt: gateway.Attempt{At: now, StatusCode: 200}})
					if err != nil {
						t.Errorf("worker %d: Record %s: %v", w, c.EventID, err)
						continue
					}
					mu.Lock()
					recorded[c.EventID]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for _, e := range evs {
		if n := recorded[e.Envelope.ID]; n != 1 {
			t.Errorf("%s recorded %d times, want 1", e.Envelope.ID, n)
		}
	}
	if st, err := s.Stats(ctx, "sub-a"); err != nil || st.Delivered != events || st.Pending != 0 {
		t.Errorf("Stats = %+v, %v; want %d delivered, 0 pending", st, err, events)
	}
	if n := leaseCount(s); n != 0 {
		t.Errorf("%d leases left, want 0", n)
	}
	checkIndexes(t, s)
}
