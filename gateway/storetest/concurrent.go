package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

const (
	putters       = 32
	eventsPerPut  = 5
	claimWorkers  = 4
	claimsPerCall = 7
)

func testConcurrentPut(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range putters {
		wg.Go(func() {
			var evs []gateway.NewEvent
			for i := range eventsPerPut {
				id := fmt.Sprintf("evt_g%02d_%d", g, i)
				evs = append(evs, newEvent(id, "src1", "src1.product.updated", at(time.Duration(g)*time.Millisecond), "sub-a"))
			}
			res, err := s.Put(ctx, evs)
			if err != nil {
				t.Errorf("putter %d: Put: %v", g, err)
				return
			}
			for i, r := range res {
				if r.Duplicate {
					t.Errorf("putter %d: event %d reported duplicate", g, i)
				}
			}
		})
	}
	wg.Wait()
	total := putters * eventsPerPut
	if got := stats(t, s, "sub-a").Pending; got != int64(total) {
		t.Errorf("Stats.Pending = %d, want %d", got, total)
	}

	// Several workers claim at once; each delivery goes to exactly one.
	var mu sync.Mutex
	holders := map[string]int{}
	handed := 0
	now := at(time.Second)
	for w := range claimWorkers {
		wg.Go(func() {
			for {
				cs, err := s.Claim(ctx, "sub-a", now, claimsPerCall, time.Minute)
				if err != nil {
					t.Errorf("worker %d: Claim: %v", w, err)
					return
				}
				if len(cs) == 0 {
					return
				}
				mu.Lock()
				handed += len(cs)
				for _, c := range cs {
					holders[c.EventID]++
				}
				// A store that hands deliveries out again would keep the
				// workers busy for ever: stop once more went out than exist.
				over := handed > total
				mu.Unlock()
				if over {
					return
				}
			}
		})
	}
	wg.Wait()
	if len(holders) != total {
		t.Errorf("claimed %d distinct deliveries, want %d", len(holders), total)
	}
	for id, n := range holders {
		if n != 1 {
			t.Errorf("%s handed out %d times, want once", id, n)
		}
	}
}

func testConcurrentPutSameID(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for g := range putters {
		wg.Go(func() {
			e := newEvent("evt_same", "src1", "src1.product.updated", at(time.Duration(g)*time.Millisecond), "sub-a")
			res, err := s.Put(ctx, []gateway.NewEvent{e})
			if err != nil {
				t.Errorf("putter %d: Put: %v", g, err)
				return
			}
			if !res[0].Duplicate {
				mu.Lock()
				stored++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if stored != 1 {
		t.Errorf("%d concurrent Puts of one id stored it %d times, want once", putters, stored)
	}
	rec := getEvent(t, s, "evt_same")
	if rec.Duplicates != putters-1 || len(rec.Deliveries) != 1 {
		t.Errorf("Duplicates = %d, deliveries = %d; want %d, 1", rec.Duplicates, len(rec.Deliveries), putters-1)
	}
}

func testNotFound(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	put(t, s, newEvent("evt_here", "src1", "src1.product.updated", at(0), "sub-a"))
	tests := []struct {
		name string
		call func() error
	}{
		{"Event", func() error { _, err := s.Event(ctx, "evt_missing"); return err }},
		{"Redeliver all", func() error { _, err := s.Redeliver(ctx, "evt_missing", "", at(0)); return err }},
		{"Redeliver one", func() error { _, err := s.Redeliver(ctx, "evt_missing", "sub-a", at(0)); return err }},
	}
	for _, tc := range tests {
		wantErr(t, tc.name, tc.call(), gateway.ErrNotFound)
	}
}

func testPing(t *testing.T, h harness) {
	s := h.store(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping = %v, want nil", err)
	}
}
