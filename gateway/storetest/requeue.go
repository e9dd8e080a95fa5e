package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// requeueAll walks r's window to its end, a step at a time, and returns
// what the steps queued and how many steps it took. It fails the test if
// a step examines more than r.Max events (steps may pass it only by
// events sharing one receipt time, which these tests give distinct times
// unless they say otherwise) or if the walk does not end.
func requeueAll(t *testing.T, s gateway.Store, r gateway.RequeueRange, now time.Time, strict bool) (queued, steps int) {
	t.Helper()
	for steps < 1000 {
		res, err := s.Requeue(context.Background(), r, now)
		if err != nil {
			t.Fatalf("Requeue(%s, step %d): %v", r.Subscriber, steps+1, err)
		}
		steps++
		queued += res.Queued
		if strict && r.Max > 0 && res.Examined > r.Max {
			t.Errorf("step %d examined %d events, more than Max %d", steps, res.Examined, r.Max)
		}
		if res.Next == "" {
			return queued, steps
		}
		if res.Next == r.After {
			t.Fatalf("step %d returned the position it was given: the walk makes no progress", steps)
		}
		r.After = res.Next
	}
	t.Fatalf("Requeue walk did not end")
	return
}

// window is [at(from), at(to)).
func window(from, to time.Duration) gateway.TimeWindow {
	return gateway.TimeWindow{Since: at(from), Until: at(to)}
}

// dueIDs claims every due delivery of sub at now and returns their
// event ids in claim order.
func dueIDs(t *testing.T, s gateway.Store, sub string, now time.Time) []string {
	t.Helper()
	var ids []string
	for _, c := range claim(t, s, sub, now, 100) {
		ids = append(ids, c.EventID)
	}
	return ids
}

// testRequeueWindow: the window's bounds are receipt times, Since
// included and Until excluded; each event in it gets a fresh delivery,
// created at now, whatever it was routed to before (an unrouted one
// included), and the store's indexes follow.
func testRequeueWindow(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	for i := range 6 {
		var subs []string
		if i%2 == 0 {
			subs = []string{"sub-a"}
		}
		put(t, s, newEvent(fmt.Sprintf("evt_w%d", i), "src1", "src1.product.updated", at(time.Duration(i)*time.Minute), subs...))
	}
	now := at(time.Hour)
	queued, _ := requeueAll(t, s, gateway.RequeueRange{Subscriber: "sub-new", Window: window(time.Minute, 4*time.Minute)}, now, true)
	if queued != 3 {
		t.Errorf("queued %d, want 3 (received at 1m, 2m, 3m)", queued)
	}
	want := []string{"evt_w1", "evt_w2", "evt_w3"}
	if got := dueIDs(t, s, "sub-new", now); !equalStrings(got, want) {
		t.Errorf("claimed %v, want %v", got, want)
	}
	for _, id := range want {
		checkFresh(t, delivery(t, s, id, "sub-new"), id, now)
	}
	if got := stats(t, s, "sub-new"); got.Pending != 3 || !got.OldestPendingAt.Equal(now) {
		t.Errorf("Stats(sub-new) = %+v, want 3 pending, oldest created at %v", got, now)
	}
	page, err := s.List(ctx, gateway.EventFilter{Subscriber: "sub-new"})
	if err != nil || len(page.Events) != 3 {
		t.Errorf("List(subscriber sub-new) = %d events, %v; want 3", len(page.Events), err)
	}
	page, err = s.List(ctx, gateway.EventFilter{Status: gateway.StatusUnrouted})
	if err != nil || len(page.Events) != 1 || page.Events[0].ID != "evt_w5" {
		t.Errorf("List(unrouted) = %+v, %v; want only evt_w5", page.Events, err)
	}
	if d := delivery(t, s, "evt_w2", "sub-a"); d.Status != gateway.StatusPending {
		t.Errorf("sub-a's own delivery of evt_w2 is %s, want pending (untouched)", d.Status)
	}
}

// testRequeueOrder: requeued deliveries are claimed in receipt order,
// whatever the event ids' order, ahead of a delivery of an event
// received after them and behind one received before them, across
// however many partitions a store has.
func testRequeueOrder(t *testing.T, h harness) {
	s := h.store(t)
	// Ids run against receipt order; subjects differ, so a partitioned
	// store spreads them.
	ids := []string{"evt_o9", "evt_o3", "evt_o7", "evt_o1", "evt_o8", "evt_o2", "evt_o6", "evt_o0"}
	for i, id := range ids {
		put(t, s, newEvent(id, "src1", "src1.product.updated", at(time.Duration(i)*time.Second), "sub-a"))
	}
	// Live work of sub-b: one event received before the window, one after.
	put(t, s,
		newEvent("evt_early", "src1", "src1.product.updated", at(-time.Minute), "sub-b"),
		newEvent("evt_late", "src1", "src1.product.updated", at(time.Minute), "sub-b"))
	now := at(time.Hour)
	r := gateway.RequeueRange{Subscriber: "sub-b", Window: window(0, 30*time.Second), Max: 3}
	if queued, _ := requeueAll(t, s, r, now, true); queued != len(ids) {
		t.Fatalf("queued %d, want %d", queued, len(ids))
	}
	want := append(append([]string{"evt_early"}, ids...), "evt_late")
	if got := dueIDs(t, s, "sub-b", now); !equalStrings(got, want) {
		t.Errorf("claim order %v, want receipt order %v", got, want)
	}
}

// testRequeueAccept: Accept sees each event's indexed fields, and its
// exact body when Bodies is set (none otherwise); only what it approves
// is queued.
func testRequeueAccept(t *testing.T, h harness) {
	for _, bodies := range []bool{false, true} {
		t.Run(fmt.Sprintf("bodies=%v", bodies), func(t *testing.T) {
			s := h.store(t)
			put(t, s,
				newEvent("evt_a1", "src1", "src1.product.updated", at(0)),
				newEvent("evt_a2", "src2", "src2.option.created", at(time.Second)),
				newEvent("evt_a3", "src1", "src1.product.deleted", at(2*time.Second)))
			seen := map[string]gateway.RequeueEvent{}
			r := gateway.RequeueRange{Subscriber: "sub-f", Window: window(0, time.Minute), Bodies: bodies,
				Accept: func(ev gateway.RequeueEvent) bool {
					seen[ev.ID] = ev
					return ev.Type != "src2.option.created"
				}}
			now := at(time.Hour)
			if queued, _ := requeueAll(t, s, r, now, true); queued != 2 {
				t.Errorf("queued %d, want 2", queued)
			}
			if got, want := dueIDs(t, s, "sub-f", now), []string{"evt_a1", "evt_a3"}; !equalStrings(got, want) {
				t.Errorf("claimed %v, want %v", got, want)
			}
			ev := seen["evt_a2"]
			if ev.Source != "src2" || ev.Subject != "product/evt_a2" || !ev.ReceivedAt.Equal(at(time.Second)) {
				t.Errorf("Accept saw %+v, want source src2, subject product/evt_a2, received %v", ev, at(time.Second))
			}
			for id, ev := range seen {
				if bodies && !bytes.Equal(ev.Body, body(id)) {
					t.Errorf("%s: Accept got body %q, want the stored bytes %q", id, ev.Body, body(id))
				}
				if !bodies && ev.Body != nil {
					t.Errorf("%s: Accept got a body without Bodies", id)
				}
			}
			if len(seen) != 3 {
				t.Errorf("Accept was asked about %d events, want 3", len(seen))
			}
		})
	}
}

// testRequeueExisting: a pending or retrying delivery is never doubled
// nor touched; a delivered or dead one is reset only with Reset (attempts
// zero, created now, history kept); without Reset nothing that exists is
// touched.
func testRequeueExisting(t *testing.T, h harness) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("reset=%v", reset), func(t *testing.T) {
			s := h.store(t)
			for i, id := range []string{"evt_pend", "evt_retr", "evt_done", "evt_dead", "evt_none"} {
				var subs []string
				if id != "evt_none" {
					subs = []string{"sub-a"}
				}
				put(t, s, newEvent(id, "src1", "src1.product.updated", at(time.Duration(i)*time.Second), subs...))
			}
			cs := map[string]gateway.Claim{}
			for _, c := range claim(t, s, "sub-a", at(10*time.Second), 10) {
				cs[c.EventID] = c
			}
			record(t, s, cs["evt_retr"], retrying(at(11*time.Second), at(time.Hour+time.Minute), "HTTP 503"))
			record(t, s, cs["evt_done"], delivered(at(11*time.Second)))
			record(t, s, cs["evt_dead"], dead(at(11*time.Second), "HTTP 400"))
			// evt_pend stays leased to its worker.

			now := at(time.Hour)
			r := gateway.RequeueRange{Subscriber: "sub-a", Window: window(0, time.Minute), Reset: reset}
			queued, _ := requeueAll(t, s, r, now, true)
			want := 1 // evt_none
			if reset {
				want = 3 // and evt_done, evt_dead
			}
			if queued != want {
				t.Errorf("queued %d, want %d", queued, want)
			}
			if err := s.Record(context.Background(), cs["evt_pend"], delivered(at(time.Hour))); err != nil {
				t.Errorf("the leased delivery's holder records after Requeue: %v, want nil", err)
			}
			if d := delivery(t, s, "evt_retr", "sub-a"); d.Status != gateway.StatusRetrying || d.Attempts != 1 {
				t.Errorf("retrying delivery after Requeue: %s, %d attempts; want retrying, 1 (untouched)", d.Status, d.Attempts)
			}
			for _, id := range []string{"evt_done", "evt_dead"} {
				d := delivery(t, s, id, "sub-a")
				if !reset {
					if d.Status == gateway.StatusPending {
						t.Errorf("%s was reset without Reset", id)
					}
					continue
				}
				checkFresh(t, d, id, now)
				if len(d.History) != 1 {
					t.Errorf("%s: %d history entries after the reset, want 1 (kept)", id, len(d.History))
				}
			}
			// Due now: the new and reset ones; the retrying one is not due yet.
			wantDue := []string{"evt_none"}
			if reset {
				wantDue = []string{"evt_done", "evt_dead", "evt_none"}
			}
			if got := dueIDs(t, s, "sub-a", now); !equalStrings(got, wantDue) {
				t.Errorf("due after Requeue: %v, want %v", got, wantDue)
			}
			wantDead := int64(1)
			if reset {
				wantDead = 0
			}
			if got := stats(t, s, "sub-a"); got.Dead != wantDead || got.Retrying != 1 {
				t.Errorf("Stats(sub-a) = %+v, want dead %d, retrying 1", got, wantDead)
			}
			// A second walk finds everything queued already (and leased):
			// nothing is doubled. With Reset it resets evt_pend, delivered
			// since the first walk.
			wantAgain := 0
			if reset {
				wantAgain = 1
			}
			if queued, _ := requeueAll(t, s, r, now, true); queued != wantAgain {
				t.Errorf("second walk queued %d, want %d", queued, wantAgain)
			}
		})
	}
}

// testRequeuePaging: steps chained through Next examine each event once,
// small steps or large, events sharing a receipt time included (a
// catalog360 batch), and the deliveries come out once each.
func testRequeuePaging(t *testing.T, h harness) {
	for _, tc := range []struct{ max, n int }{{1, 12}, {2, 12}, {5, 12}, {0, 12}, {0, 600}} {
		max, n := tc.max, tc.n
		t.Run(fmt.Sprintf("max=%d,events=%d", max, n), func(t *testing.T) {
			s := h.store(t)
			var evs []gateway.NewEvent
			for i := range n {
				recv := at(time.Duration(i) * time.Second)
				if i >= 4 && i < 8 {
					recv = at(4 * time.Second) // one batch
				}
				evs = append(evs, newEvent(fmt.Sprintf("evt_p%03d", i), "src1", "src1.product.updated", recv))
			}
			put(t, s, evs...)
			seen := map[string]int{}
			r := gateway.RequeueRange{Subscriber: "sub-p", Window: window(0, time.Hour), Max: max,
				Accept: func(ev gateway.RequeueEvent) bool { seen[ev.ID]++; return true }}
			now := at(2 * time.Hour)
			queued, steps := requeueAll(t, s, r, now, false)
			if queued != n {
				t.Errorf("queued %d, want %d", queued, n)
			}
			for _, ev := range evs {
				if seen[ev.Envelope.ID] != 1 {
					t.Errorf("%s examined %d times, want once", ev.Envelope.ID, seen[ev.Envelope.ID])
				}
			}
			if max == 1 && steps < 6 {
				t.Errorf("a walk of 12 events one at a time took %d steps: Max not honoured", steps)
			}
			if n > gateway.RequeueBatch && steps < 2 {
				t.Errorf("a walk of %d events took %d step: RequeueBatch not honoured", n, steps)
			}
			st := stats(t, s, "sub-p")
			if st.Pending != int64(n) {
				t.Errorf("sub-p has %d pending, want %d", st.Pending, n)
			}
		})
	}
}

// testRequeueEmpty: a window without events, or with no span at all, is
// done at once and queues nothing; a position the store did not hand out
// is ErrInvalid.
func testRequeueEmpty(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	put(t, s, newEvent("evt_e1", "src1", "src1.product.updated", at(time.Hour)))
	for _, w := range []gateway.TimeWindow{window(0, time.Minute), window(2*time.Hour, time.Hour), window(time.Hour, time.Hour)} {
		res, err := s.Requeue(ctx, gateway.RequeueRange{Subscriber: "sub-e", Window: w}, at(3*time.Hour))
		if err != nil || res.Queued != 0 || res.Next != "" {
			t.Errorf("Requeue(%v .. %v) = %+v, %v; want nothing queued, done", w.Since, w.Until, res, err)
		}
	}
	_, err := s.Requeue(ctx, gateway.RequeueRange{Subscriber: "sub-e", Window: window(0, 2*time.Hour), After: "!"}, at(3*time.Hour))
	wantErr(t, "Requeue with a bad position", err, gateway.ErrInvalid)
	if got := dueIDs(t, s, "sub-e", at(3*time.Hour)); len(got) != 0 {
		t.Errorf("claimed %v after empty walks, want nothing", got)
	}
}

// testMarkSubscribers: a name is new once; its backfill window is the one
// recorded when it first appeared, pending until EndBackfill; subscribers
// the store already held deliveries for before the registry existed are
// not new.
func testMarkSubscribers(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	put(t, s, newEvent("evt_m1", "src1", "src1.product.updated", at(0), "sub-old"))
	record(t, s, claimOne(t, s, "sub-old", at(0)), delivered(at(time.Second)))
	mark := func(subs map[string]gateway.TimeWindow) map[string]gateway.TimeWindow {
		t.Helper()
		got, err := s.MarkSubscribers(ctx, subs)
		if err != nil {
			t.Fatalf("MarkSubscribers: %v", err)
		}
		return got
	}
	w1, w2 := window(-time.Hour, 0), window(0, time.Hour)
	steps := []struct {
		name string
		subs map[string]gateway.TimeWindow
		want map[string]gateway.TimeWindow
	}{
		{"first: the subscriber with deliveries is not new", map[string]gateway.TimeWindow{"sub-old": w1, "sub-new": w1, "sub-plain": {}},
			map[string]gateway.TimeWindow{"sub-new": w1}},
		{"again, other windows: the first is kept, none added", map[string]gateway.TimeWindow{"sub-old": w2, "sub-new": w2, "sub-plain": w2},
			map[string]gateway.TimeWindow{"sub-new": w1}},
		{"a later name", map[string]gateway.TimeWindow{"sub-new": {}, "sub-later": w2},
			map[string]gateway.TimeWindow{"sub-new": w1, "sub-later": w2}},
	}
	for _, st := range steps {
		if got := mark(st.subs); !sameWindows(got, st.want) {
			t.Errorf("%s: pending %v, want %v", st.name, got, st.want)
		}
	}
	for _, name := range []string{"sub-new", "sub-plain", "sub-unknown"} {
		if err := s.EndBackfill(ctx, name); err != nil {
			t.Errorf("EndBackfill(%s): %v", name, err)
		}
	}
	got := mark(map[string]gateway.TimeWindow{"sub-new": w2, "sub-later": w2, "sub-unknown": w2, "sub-old": w2})
	if want := map[string]gateway.TimeWindow{"sub-later": w2, "sub-unknown": w2}; !sameWindows(got, want) {
		t.Errorf("after EndBackfill: pending %v, want %v (ended once, never again)", got, want)
	}
}

func sameWindows(a, b map[string]gateway.TimeWindow) bool {
	if len(a) != len(b) {
		return false
	}
	for k, w := range a {
		if v, ok := b[k]; !ok || !v.Since.Equal(w.Since) || !v.Until.Equal(w.Until) {
			return false
		}
	}
	return true
}
