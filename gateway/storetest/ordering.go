package storetest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// orderedEvent is an event of subject subj, ordered for the subscribers
// in ordered, delivered to subs.
func orderedEvent(id, subj string, recv time.Time, ordered []string, subs ...string) gateway.NewEvent {
	e := newEvent(id, "src1", "src1.product.updated", recv, subs...)
	e.Envelope.Subject = subj
	e.Ordered = ordered
	return e
}

// claimByID claims up to 10 of sub's deliveries at now and returns the
// claims by event id.
func claimByID(t *testing.T, s gateway.Store, sub string, now time.Time) map[string]gateway.Claim {
	t.Helper()
	out := map[string]gateway.Claim{}
	for _, c := range claim(t, s, sub, now, 10) {
		out[c.EventID] = c
	}
	return out
}

func claimedIDs(m map[string]gateway.Claim) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// testOrdering: per subscriber and subject, one delivery at a time, in
// the order stored; a retrying one holds back its own subject only, a
// dead one lets the next go; an unordered subscriber of the same events
// gets them all at once.
func testOrdering(t *testing.T, h harness) {
	s := h.store(t)
	ord := []string{"sub-a"}
	put(t, s,
		orderedEvent("evt_o1", "product/P", at(0), ord, "sub-a", "sub-b"),
		orderedEvent("evt_o2", "product/P", at(time.Second), ord, "sub-a", "sub-b"),
		orderedEvent("evt_q1", "product/Q", at(time.Second), ord, "sub-a"),
	)
	put(t, s, orderedEvent("evt_o3", "product/P", at(2*time.Second), ord, "sub-a", "sub-b"))
	now := at(time.Minute)

	if got := claimedIDs(claimByID(t, s, "sub-b", now)); !equalStrings(got, []string{"evt_o1", "evt_o2", "evt_o3"}) {
		t.Errorf("unordered sub-b claimed %v, want all three of product/P", got)
	}
	if st := stats(t, s, "sub-a"); st.Pending != 4 {
		t.Errorf("Stats(sub-a).Pending = %d, want 4 (waiting ones count)", st.Pending)
	}
	if d := delivery(t, s, "evt_o2", "sub-a"); d.Status != gateway.StatusPending || d.WaitingOn != "evt_o1" {
		t.Errorf("evt_o2 to sub-a: %s waiting on %q, want pending waiting on evt_o1", d.Status, d.WaitingOn)
	}
	if d := delivery(t, s, "evt_o1", "sub-a"); d.WaitingOn != "" {
		t.Errorf("evt_o1 (the head) waiting on %q, want nothing", d.WaitingOn)
	}

	steps := []struct {
		name string
		at   time.Duration
		want []string
		do   func(cs map[string]gateway.Claim, at time.Time)
	}{
		{"the head of each subject", time.Minute, []string{"evt_o1", "evt_q1"}, func(cs map[string]gateway.Claim, at time.Time) {
			record(t, s, cs["evt_q1"], delivered(at))
			record(t, s, cs["evt_o1"], retrying(at, at.Add(time.Minute), "HTTP 503"))
		}},
		{"a retrying head holds its subject back", time.Minute + time.Second, nil, nil},
		{"the retry, when due", 2 * time.Minute, []string{"evt_o1"}, func(cs map[string]gateway.Claim, at time.Time) {
			record(t, s, cs["evt_o1"], dead(at, "HTTP 410"))
		}},
		{"a dead head lets the next go", 2 * time.Minute, []string{"evt_o2"}, func(cs map[string]gateway.Claim, at time.Time) {
			record(t, s, cs["evt_o2"], delivered(at))
		}},
		{"then the last", 2 * time.Minute, []string{"evt_o3"}, func(cs map[string]gateway.Claim, at time.Time) {
			// Not recorded: the lease runs out, and the head stays the head.
		}},
		{"an expired lease gives the same head back", 2*time.Minute + 2*lease, []string{"evt_o3"}, func(cs map[string]gateway.Claim, at time.Time) {
			record(t, s, cs["evt_o3"], delivered(at))
		}},
		{"nothing left", 10 * time.Minute, nil, nil},
	}
	for _, st := range steps {
		cs := claimByID(t, s, "sub-a", at(st.at))
		if got := claimedIDs(cs); !equalStrings(got, st.want) {
			t.Fatalf("%s: claimed %v, want %v", st.name, got, st.want)
		}
		if st.do != nil {
			st.do(cs, at(st.at))
		}
	}
	// A new event of the subject, with the line empty, is the head at once.
	put(t, s, orderedEvent("evt_o4", "product/P", at(11*time.Minute), ord, "sub-a"))
	if got := claimedIDs(claimByID(t, s, "sub-a", at(11*time.Minute))); !equalStrings(got, []string{"evt_o4"}) {
		t.Errorf("after the line emptied, claimed %v, want evt_o4", got)
	}
}

// testOrderingNoSubject: an event without a subject is not ordered.
func testOrderingNoSubject(t *testing.T, h harness) {
	s := h.store(t)
	ord := []string{"sub-a"}
	put(t, s,
		orderedEvent("evt_n1", "", at(0), ord, "sub-a"),
		orderedEvent("evt_n2", "", at(time.Second), ord, "sub-a"),
	)
	if got := claimedIDs(claimByID(t, s, "sub-a", at(time.Minute))); !equalStrings(got, []string{"evt_n1", "evt_n2"}) {
		t.Errorf("claimed %v, want both (no subject, no order)", got)
	}
}

// testOrderingManual: a redelivered waiting delivery goes out at once,
// outside the line, and the line goes on without it; a purge empties the
// line, and the next event of the subject is the head.
func testOrderingManual(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	ord := []string{"sub-a"}
	put(t, s,
		orderedEvent("evt_m1", "product/M", at(0), ord, "sub-a"),
		orderedEvent("evt_m2", "product/M", at(time.Second), ord, "sub-a"),
		orderedEvent("evt_m3", "product/M", at(2*time.Second), ord, "sub-a"),
	)
	if _, err := s.Redeliver(ctx, "evt_m3", "sub-a", at(time.Minute)); err != nil {
		t.Fatalf("Redeliver(evt_m3): %v", err)
	}
	cs := claimByID(t, s, "sub-a", at(time.Minute))
	if got := claimedIDs(cs); !equalStrings(got, []string{"evt_m1", "evt_m3"}) {
		t.Fatalf("claimed %v, want the head evt_m1 and the redelivered evt_m3", got)
	}
	record(t, s, cs["evt_m3"], delivered(at(time.Minute)))
	record(t, s, cs["evt_m1"], delivered(at(time.Minute)))
	cs = claimByID(t, s, "sub-a", at(time.Minute))
	if got := claimedIDs(cs); !equalStrings(got, []string{"evt_m2"}) {
		t.Fatalf("after the head, claimed %v, want evt_m2 (evt_m3 left the line)", got)
	}
	record(t, s, cs["evt_m2"], delivered(at(time.Minute)))
	if got := claimByID(t, s, "sub-a", at(2*time.Minute)); len(got) != 0 {
		t.Errorf("claimed %v, want nothing: evt_m3 was delivered already", claimedIDs(got))
	}

	put(t, s,
		orderedEvent("evt_p1", "product/M", at(3*time.Minute), ord, "sub-a"),
		orderedEvent("evt_p2", "product/M", at(3*time.Minute+time.Second), ord, "sub-a"),
	)
	if n, err := s.Purge(ctx, "sub-a"); err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2 (the head and the one waiting)", n, err)
	}
	put(t, s, orderedEvent("evt_p3", "product/M", at(4*time.Minute), ord, "sub-a"))
	if got := claimedIDs(claimByID(t, s, "sub-a", at(4*time.Minute))); !equalStrings(got, []string{"evt_p3"}) {
		t.Errorf("after the purge, claimed %v, want evt_p3", got)
	}
	if st := stats(t, s, "sub-a"); st.Pending != 1 {
		t.Errorf("Stats.Pending after the purge = %d, want 1", st.Pending)
	}
}

// testOrderingRequeue: a backfill or replay for an ordered subscriber puts
// each delivery in its subject's line by receipt time: an older event
// goes before a newer head not yet tried; one that finds the head tried
// already waits behind it, before the newer ones waiting.
func testOrderingRequeue(t *testing.T, h harness) {
	s := h.store(t)
	ord := []string{"sub-a"}
	// Stored before sub-a existed: no delivery to it.
	put(t, s,
		orderedEvent("evt_r0", "product/R", at(time.Second), nil, "sub-b"),
		orderedEvent("evt_s0", "product/S", at(3*time.Second), nil, "sub-b"),
		orderedEvent("evt_r1", "product/R", at(5*time.Second), nil, "sub-b"),
		orderedEvent("evt_t0", "product/T", at(6*time.Second), nil, "sub-b"),
	)
	// Live ones for sub-a: evt_r2 heads product/R untried; evt_t1 heads
	// product/T and is tried (retrying); evt_t2 waits behind it.
	put(t, s,
		orderedEvent("evt_r2", "product/R", at(10*time.Second), ord, "sub-a"),
		orderedEvent("evt_t1", "product/T", at(11*time.Second), ord, "sub-a"),
		orderedEvent("evt_t2", "product/T", at(12*time.Second), ord, "sub-a"),
	)
	cs := claimByID(t, s, "sub-a", at(20*time.Second))
	if got := claimedIDs(cs); !equalStrings(got, []string{"evt_r2", "evt_t1"}) {
		t.Fatalf("live heads: claimed %v, want evt_r2 and evt_t1", got)
	}
	// evt_r2 is handed back untried (a breaker opened), evt_t1 fails.
	if err := s.Release(context.Background(), cs["evt_r2"], at(20*time.Second)); err != nil {
		t.Fatalf("Release: %v", err)
	}
	record(t, s, cs["evt_t1"], retrying(at(20*time.Second), at(time.Minute), "HTTP 503"))

	// Release kept evt_r2 untried: an older event may still go first.
	queued, _ := requeueAll(t, s, gateway.RequeueRange{Subscriber: "sub-a", Window: window(0, 9*time.Second), Ordered: true},
		at(30*time.Second), false)
	if queued != 4 {
		t.Fatalf("Requeue queued %d, want 4", queued)
	}
	if d := delivery(t, s, "evt_r2", "sub-a"); d.WaitingOn != "evt_r0" {
		t.Errorf("evt_r2 waiting on %q, want evt_r0 (the older event goes first)", d.WaitingOn)
	}
	steps := []struct {
		at   time.Duration
		want []string
	}{
		{30 * time.Second, []string{"evt_r0", "evt_s0"}}, // product/T's head is retrying until 1m
		{time.Minute, []string{"evt_r1", "evt_t1"}},
		{time.Minute, []string{"evt_r2", "evt_t0"}},
		{time.Minute, []string{"evt_t2"}},
		{time.Minute, nil},
	}
	for i, st := range steps {
		cs := claimByID(t, s, "sub-a", at(st.at))
		if got := claimedIDs(cs); !equalStrings(got, st.want) {
			t.Fatalf("step %d: claimed %v, want %v", i+1, got, st.want)
		}
		for _, c := range cs {
			record(t, s, c, delivered(at(st.at)))
		}
	}
}

// testOrderingEdges: a subject's line is one whatever the source; events
// of one instant wait in the order stored, not by id; a head stored
// afresh without its delivery (past the dedupe window, routed elsewhere
// now) lets the next one go rather than leave it waiting for good.
func testOrderingEdges(t *testing.T, h harness) {
	ord := []string{"sub-a"}
	t.Run("one line across sources", func(t *testing.T) {
		s := h.store(t)
		var evs []gateway.NewEvent
		for i := range 6 {
			e := orderedEvent(fmt.Sprintf("evt_x%d", i), "product/X", at(time.Duration(i)*time.Millisecond), ord, "sub-a")
			e.Envelope.Source = fmt.Sprintf("src%d", i)
			evs = append(evs, e)
		}
		put(t, s, evs...)
		if got := claimedIDs(claimByID(t, s, "sub-a", at(time.Minute))); !equalStrings(got, []string{"evt_x0"}) {
			t.Errorf("claimed %v, want only evt_x0: one subject is one line, whatever its source", got)
		}
	})
	t.Run("one instant keeps the order stored", func(t *testing.T) {
		s := h.store(t)
		put(t, s, orderedEvent("evt_h", "asset/1", at(0), ord, "sub-a"))
		head := claimOne(t, s, "sub-a", at(time.Second))
		// One batch, one receipt time: created, then updated.
		put(t, s,
			orderedEvent("evt_zz_created", "asset/1", at(time.Second), ord, "sub-a"),
			orderedEvent("evt_aa_updated", "asset/1", at(time.Second), ord, "sub-a"),
		)
		record(t, s, head, delivered(at(2*time.Second)))
		for _, want := range []string{"evt_zz_created", "evt_aa_updated"} {
			c := claimOne(t, s, "sub-a", at(3*time.Second))
			if c.EventID != want {
				t.Fatalf("claimed %s, want %s (the order stored)", c.EventID, want)
			}
			record(t, s, c, delivered(at(3*time.Second)))
		}
	})
	t.Run("a head stored afresh without its delivery", func(t *testing.T) {
		s := h.store(t)
		put(t, s,
			orderedEvent("evt_head", "product/F", at(0), ord, "sub-a"),
			orderedEvent("evt_next", "product/F", at(time.Second), ord, "sub-a"),
		)
		// The same upstream event past the dedupe window, routed to no one
		// now: stored afresh, without the delivery that headed the line.
		put(t, s, orderedEvent("evt_head", "product/F", at(DedupeWindow+time.Hour), ord))
		late := at(DedupeWindow + 2*time.Hour)
		if got := claimedIDs(claimByID(t, s, "sub-a", late)); !equalStrings(got, []string{"evt_next"}) {
			t.Errorf("claimed %v, want evt_next, no longer held by a head that is gone", got)
		}
	})
}

// testOrderingLongSubject: a subject longer than any store key may be (a
// 40,000-character IIMMPACT id, 48 KB of catalog360 id) still has its
// own line, kept apart from another long subject that differs only in
// its last byte, and the event keeps the whole subject. A store names
// such lines by a hash of the subject; an error here was a 503 that the
// upstream retried for ever.
func testOrderingLongSubject(t *testing.T, h harness) {
	s := h.store(t)
	ord := []string{"sub-a"}
	long := "product/" + strings.Repeat("x", 48<<10)
	other := long[:len(long)-1] + "y"
	put(t, s,
		orderedEvent("evt_l1", long, at(0), ord, "sub-a"),
		orderedEvent("evt_l2", long, at(time.Second), ord, "sub-a"),
		orderedEvent("evt_m1", other, at(time.Second), ord, "sub-a"),
	)
	if got := getEvent(t, s, "evt_l1").Subject; got != long {
		t.Errorf("stored subject has %d bytes, want the whole %d", len(got), len(long))
	}
	if d := delivery(t, s, "evt_l2", "sub-a"); d.WaitingOn != "evt_l1" {
		t.Errorf("evt_l2 waiting on %q, want evt_l1", d.WaitingOn)
	}
	cs := claimByID(t, s, "sub-a", at(time.Minute))
	if got := claimedIDs(cs); !equalStrings(got, []string{"evt_l1", "evt_m1"}) {
		t.Fatalf("claimed %v, want the head of each long subject", got)
	}
	record(t, s, cs["evt_l1"], delivered(at(time.Minute)))
	if got := claimedIDs(claimByID(t, s, "sub-a", at(time.Minute))); !equalStrings(got, []string{"evt_l2"}) {
		t.Errorf("after the head was delivered, claimed %v, want evt_l2", got)
	}
}
