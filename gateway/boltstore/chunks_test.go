package boltstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestLongJobsAreChunked: RedeliverDead, Purge and each pass of Sweep
// over more entries than one chunk holds do all their work, in several
// write transactions of at most a chunk each (so that ingest waits for one
// chunk, never the whole job), and leave every index in step.
func TestLongJobsAreChunked(t *testing.T) {
	ctx := context.Background()
	// Ten entries in chunks of three take four transactions; an empty
	// pass of Sweep takes one.
	const chunk, items, chunks = 3, 10, 4
	ok := func(t *testing.T, what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// events puts items events to sub-a, received at recv.
	events := func(t *testing.T, s *Store, recv time.Time) {
		var evs []gateway.NewEvent
		for i := range items {
			evs = append(evs, testEvent(fmt.Sprintf("evt_%02d", i), recv, "sub-a"))
		}
		_, err := s.Put(ctx, evs)
		ok(t, "Put", err)
	}
	// finish records every due delivery of sub-a with o.
	finish := func(t *testing.T, s *Store, now time.Time, o gateway.Outcome) {
		cs, err := s.Claim(ctx, "sub-a", now, items, time.Minute)
		ok(t, "Claim", err)
		for _, c := range cs {
			ok(t, "Record", s.Record(ctx, c, o))
		}
	}
	dead := gateway.Outcome{Status: gateway.StatusDead, Attempt: gateway.Attempt{At: t0, StatusCode: 410}}
	delivered := gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: t0, StatusCode: 200}}
	tests := []struct {
		name  string
		setup func(t *testing.T, s *Store)
		run   func(s *Store) (int, error) // how many it did, where the method says
		wantN int
		// minTxs: transactions the job takes at least, chunked; one chunk
		// fewer than it would take unchunked.
		minTxs int
		check  func(t *testing.T, s *Store)
	}{
		{"RedeliverDead",
			func(t *testing.T, s *Store) { events(t, s, t0); finish(t, s, t0, dead) },
			func(s *Store) (int, error) { return s.RedeliverDead(ctx, "sub-a", t0.Add(time.Hour)) },
			items, chunks,
			func(t *testing.T, s *Store) {
				if st, _ := s.Stats(ctx, "sub-a"); st.Pending != items || st.Dead != 0 {
					t.Errorf("Stats = pending %d dead %d, want %d, 0", st.Pending, st.Dead, items)
				}
			}},
		{"Purge",
			func(t *testing.T, s *Store) {
				events(t, s, t0)
				cs, err := s.Claim(ctx, "sub-a", t0, 4, time.Minute)
				ok(t, "Claim", err)
				for i, c := range cs { // two dead, one retrying, one leased; the rest pending
					switch i {
					case 0, 1:
						ok(t, "Record", s.Record(ctx, c, dead))
					case 2:
						ok(t, "Record", s.Record(ctx, c, gateway.Outcome{Status: gateway.StatusRetrying,
							NextAttemptAt: t0.Add(time.Hour), Attempt: gateway.Attempt{At: t0, StatusCode: 503}}))
					}
				}
			},
			func(s *Store) (int, error) { return s.Purge(ctx, "sub-a") },
			items, chunks,
			func(t *testing.T, s *Store) {
				if names, err := s.Subscribers(ctx); err != nil || len(names) != 0 {
					t.Errorf("Subscribers after Purge = %v, %v; want none", names, err)
				}
				if st, _ := s.Stats(ctx, "sub-a"); st.Pending != 0 || st.Dead != 0 {
					t.Errorf("Stats = pending %d dead %d, want 0, 0", st.Pending, st.Dead)
				}
			}},
		{"Sweep events",
			func(t *testing.T, s *Store) { events(t, s, t0); finish(t, s, t0, delivered) },
			func(s *Store) (int, error) { return 0, s.Sweep(ctx, t0.Add(48*time.Hour)) },
			0, chunks + 1 + chunks, // events, dead (none), dedupe (the windows ended too)
			func(t *testing.T, s *Store) {
				if page, err := s.List(ctx, gateway.EventFilter{}); err != nil || len(page.Events) != 0 {
					t.Errorf("List after Sweep = %d events, %v; want none", len(page.Events), err)
				}
			}},
		{"Sweep dead deliveries",
			// Dead (at t0) long before their events were received, so that
			// retention ends for the deliveries and not for the events.
			func(t *testing.T, s *Store) {
				events(t, s, t0.Add(47*time.Hour))
				finish(t, s, t0.Add(47*time.Hour), dead)
			},
			// Swept while the dedupe windows (an hour from receipt) last.
			func(s *Store) (int, error) { return 0, s.Sweep(ctx, t0.Add(47*time.Hour+30*time.Minute)) },
			0, 1 + chunks + 1,
			func(t *testing.T, s *Store) {
				if dl, err := s.Dead(ctx, "sub-a", gateway.DeadFilter{Limit: 100}); err != nil || len(dl) != 0 {
					t.Errorf("Dead after Sweep = %d, %v; want none", len(dl), err)
				}
				if page, err := s.List(ctx, gateway.EventFilter{}); err != nil || len(page.Events) != items {
					t.Errorf("List after Sweep = %d events, %v; want all %d kept", len(page.Events), err, items)
				}
			}},
		{"Sweep dedupe entries",
			func(t *testing.T, s *Store) { events(t, s, t0); finish(t, s, t0, delivered) },
			func(s *Store) (int, error) { return 0, s.Sweep(ctx, t0.Add(2*time.Hour)) }, // past the window, not retention
			0, 1 + 1 + chunks,
			func(t *testing.T, s *Store) {
				res, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_00", t0.Add(2*time.Hour), "sub-a")})
				if err != nil || res[0].Duplicate {
					t.Errorf("Put of a forgotten id = %+v, %v; want it stored afresh", res, err)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, t.TempDir())
			s.chunk = chunk
			tc.setup(t, s)
			before := s.updates.Load()
			n, err := tc.run(s)
			if err != nil || n != tc.wantN {
				t.Fatalf("%s = %d, %v; want %d, nil", tc.name, n, err, tc.wantN)
			}
			if txs := s.updates.Load() - before; txs < int64(tc.minTxs) {
				t.Errorf("%s over %d entries took %d transactions; chunks of %d take at least %d", tc.name, items, txs, chunk, tc.minTxs)
			}
			tc.check(t, s)
			checkIndexes(t, s)
		})
	}
}
