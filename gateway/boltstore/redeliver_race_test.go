package boltstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestRedeliverAtomicAgainstClaim: Redeliver and Claim race on one event's
// deliveries, a worker per delivery claiming and ending leases that never
// run out. Redeliver must either refuse a leased delivery (ErrConflict) or
// reset it before any Claim can lease it, never in between: a Claim that
// slipped between its lease check and its reset would hold a lease the
// reset then takes away, while the reset queues the delivery for a second
// holder. So every Record and Release here must find its lease.
func TestRedeliverAtomicAgainstClaim(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	s.db.NoSync = true // durability is not under test; the interleavings are
	var subs []string
	for i := range 16 { // a reset of all of them leaves the later ones a wide window
		subs = append(subs, fmt.Sprintf("sub-%02d", i))
	}
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_r", t0, subs...)}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	now := t0.Add(time.Second)
	// Enough resets that a window between check and reset would be hit many
	// times over; maxCalls ends the run should conflicts abound.
	const wantResets, maxCalls = 2500, 20000
	var (
		resets  atomic.Int64
		failed  atomic.Bool
		stop    atomic.Bool
		workers sync.WaitGroup
		redo    sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		failed.Store(true)
	}
	for _, sub := range subs {
		workers.Go(func() {
			for i := 0; !stop.Load(); i++ {
				cs, err := s.Claim(ctx, sub, now, 1, time.Hour)
				if err != nil {
					fail("%s: Claim: %v", sub, err)
					return
				}
				if len(cs) == 0 {
					runtime.Gosched()
					continue
				}
				runtime.Gosched() // hold it a moment, as a send would
				if i%4 != 0 {
					err = s.Release(ctx, cs[0], now)
				} else {
					err = s.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusDelivered,
						Attempt: gateway.Attempt{At: now, StatusCode: 200}})
				}
				if err != nil {
					fail("%s: ending a lease that never runs out: %v", sub, err)
				}
				for range 10 { // leave it free a while, for Redeliver to find
					runtime.Gosched()
				}
			}
		})
	}
	for r := range 2 {
		redo.Go(func() {
			for i := 0; i < maxCalls && resets.Load() < wantResets && !failed.Load(); i++ {
				sub := "" // mostly all at once; now and then one
				if i%5 == 4 {
					sub = subs[(i+r)%len(subs)]
				}
				n, err := s.Redeliver(ctx, "evt_r", sub, now)
				switch {
				case errors.Is(err, gateway.ErrConflict):
				case err != nil:
					fail("Redeliver(%q): %v", sub, err)
				default:
					resets.Add(int64(n))
				}
			}
		})
	}
	redo.Wait()
	stop.Store(true)
	workers.Wait()
	if resets.Load() == 0 {
		t.Errorf("no Redeliver went through: the race was not run")
	}
	if n := leaseCount(s); n > len(subs) {
		t.Errorf("%d lease entries for %d deliveries", n, len(subs))
	}
	checkIndexes(t, s)
}

// TestRedeliverDeadRightAfterDeath: a redelivery of dead deliveries made
// just as the Record that killed one commits finds it, rather than taking
// it for a delivery still in that Record's hands. The group commit's
// lease entries are given up before any other write transaction can run;
// a redelivery that came between the commit and that would skip it.
func TestRedeliverDeadRightAfterDeath(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_d", t0, "sub")}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	now := t0.Add(time.Second)
	cs, err := s.Claim(ctx, "sub", now, 1, time.Minute)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Claim = %d claims, %v", len(cs), err)
	}

	committed, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.gc.committed = func() {
		once.Do(func() {
			close(committed)
			<-release
		})
	}
	recorded := make(chan error, 1)
	go func() {
		recorded <- s.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusDead, Attempt: gateway.Attempt{At: now, StatusCode: 410}})
	}()
	<-committed // the death is committed; its lease entry not yet given up
	redelivered := make(chan int, 1)
	go func() {
		n, err := s.RedeliverDead(ctx, "sub", now)
		if err != nil {
			t.Errorf("RedeliverDead: %v", err)
		}
		redelivered <- n
	}()
	// Give a redelivery that does not wait its chance to run in the gap
	// (which this test is about); one that waits is not hurried by it.
	time.Sleep(50 * time.Millisecond)
	close(release)
	if err := <-recorded; err != nil {
		t.Fatalf("Record: %v", err)
	}
	if n := <-redelivered; n != 1 {
		t.Errorf("RedeliverDead redelivered %d, want 1: the delivery was dead and in no one's hands", n)
	}
}
