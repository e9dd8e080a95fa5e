package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

func testRedeliver(t *testing.T, h harness) {
	now := at(time.Hour)
	tests := []struct {
		name      string
		sub       string
		wantN     int
		wantFresh []string // deliveries back to pending, created at now
		wantKept  map[string]gateway.DeliveryStatus
	}{
		{"the dead one", "sub-b", 1, []string{"sub-b"}, map[string]gateway.DeliveryStatus{"sub-a": gateway.StatusDelivered}},
		{"the delivered one", "sub-a", 1, []string{"sub-a"}, map[string]gateway.DeliveryStatus{"sub-b": gateway.StatusDead}},
		{"all", "", 2, []string{"sub-a", "sub-b"}, nil},
		{"a new subscriber", "sub-c", 1, []string{"sub-c"},
			map[string]gateway.DeliveryStatus{"sub-a": gateway.StatusDelivered, "sub-b": gateway.StatusDead}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := h.store(t)
			put(t, s, newEvent("evt_rd", "src1", "src1.product.updated", at(0), "sub-a", "sub-b"))
			record(t, s, claimOne(t, s, "sub-a", at(0)), delivered(at(time.Second)))
			record(t, s, claimOne(t, s, "sub-b", at(0)), dead(at(time.Second), "HTTP 400"))

			n, err := s.Redeliver(context.Background(), "evt_rd", tc.sub, now)
			if err != nil || n != tc.wantN {
				t.Fatalf("Redeliver(%q) = %d, %v; want %d, nil", tc.sub, n, err, tc.wantN)
			}
			rec := getEvent(t, s, "evt_rd")
			if want := 2 + boolInt(tc.sub == "sub-c"); len(rec.Deliveries) != want {
				t.Errorf("got %d deliveries, want %d", len(rec.Deliveries), want)
			}
			for _, sub := range tc.wantFresh {
				d := delivery(t, s, "evt_rd", sub)
				checkFresh(t, d, "evt_rd", now)
				// History is kept: the one earlier attempt, if any.
				if want := boolInt(sub != "sub-c"); len(d.History) != want {
					t.Errorf("%s: %d history entries after Redeliver, want %d", sub, len(d.History), want)
				}
				c := claimOne(t, s, sub, now)
				if c.Attempts != 0 || !c.CreatedAt.Equal(now) {
					t.Errorf("%s: claim after Redeliver: Attempts %d, CreatedAt %v; want 0, %v", sub, c.Attempts, c.CreatedAt, now)
				}
				if got := stats(t, s, sub); got.Pending != 1 || got.Dead != 0 {
					t.Errorf("%s: Stats pending %d dead %d, want 1, 0", sub, got.Pending, got.Dead)
				}
			}
			for sub, want := range tc.wantKept {
				if got := delivery(t, s, "evt_rd", sub).Status; got != want {
					t.Errorf("%s: untouched delivery now %s, want %s", sub, got, want)
				}
			}
			if tc.sub != "" {
				page, err := s.List(context.Background(), gateway.EventFilter{Subscriber: tc.sub})
				if err != nil || len(page.Events) != 1 {
					t.Errorf("List(subscriber %s) = %+v, %v; want the event", tc.sub, page.Events, err)
				}
			}
			dl, err := s.Dead(context.Background(), "sub-b", gateway.DeadFilter{Limit: 10})
			if wantDead := boolInt(tc.sub == "sub-a" || tc.sub == "sub-c"); err != nil || len(dl) != wantDead {
				t.Errorf("Dead(sub-b) = %d entries, %v; want %d", len(dl), err, wantDead)
			}
		})
	}
}

// testRedeliverUnrouted: an event no subscriber matched gets its first
// delivery from Redeliver (say, after a subscriber was added), and is no
// longer listed as unrouted.
func testRedeliverUnrouted(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	put(t, s, newEvent("evt_ur", "src1", "src1.group.created", at(0)))
	if n, err := s.Redeliver(ctx, "evt_ur", "", at(time.Minute)); err != nil || n != 0 {
		t.Errorf("Redeliver(all) of an unrouted event = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.Redeliver(ctx, "evt_ur", "sub-new", at(time.Minute)); err != nil || n != 1 {
		t.Fatalf("Redeliver(sub-new) = %d, %v; want 1, nil", n, err)
	}
	tests := []struct {
		f    gateway.EventFilter
		want []string
	}{
		{gateway.EventFilter{Status: gateway.StatusUnrouted}, nil},
		{gateway.EventFilter{Status: gateway.StatusPending}, []string{"evt_ur"}},
		{gateway.EventFilter{Subscriber: "sub-new", Status: gateway.StatusPending}, []string{"evt_ur"}},
	}
	for _, tc := range tests {
		page, err := s.List(ctx, tc.f)
		if err != nil {
			t.Fatalf("List(%+v): %v", tc.f, err)
		}
		var got []string
		for _, e := range page.Events {
			got = append(got, e.ID)
			if e.Status != gateway.StatusPending {
				t.Errorf("List(%+v): %s has status %s, want pending", tc.f, e.ID, e.Status)
			}
		}
		if !equalStrings(got, tc.want) {
			t.Errorf("List(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	checkFresh(t, delivery(t, s, "evt_ur", "sub-new"), "evt_ur", at(time.Minute))
}

func testRedeliverDead(t *testing.T, h harness) {
	s := h.store(t)
	for _, id := range []string{"evt_x1", "evt_x2", "evt_x3", "evt_x4"} {
		put(t, s, newEvent(id, "src1", "src1.product.updated", at(0), "sub-a", "sub-b"))
	}
	for _, c := range claim(t, s, "sub-a", at(0), 10) {
		if c.EventID == "evt_x4" {
			record(t, s, c, delivered(at(time.Second)))
		} else {
			record(t, s, c, dead(at(time.Second), "HTTP 422"))
		}
	}
	for _, c := range claim(t, s, "sub-b", at(0), 10) {
		record(t, s, c, dead(at(time.Second), "HTTP 422"))
	}

	now := at(time.Hour)
	n, err := s.RedeliverDead(context.Background(), "sub-a", now)
	if err != nil || n != 3 {
		t.Fatalf("RedeliverDead(sub-a) = %d, %v; want 3, nil", n, err)
	}
	if got := stats(t, s, "sub-a"); got.Pending != 3 || got.Dead != 0 || got.Delivered != 1 {
		t.Errorf("Stats(sub-a) = %+v, want pending 3, dead 0, delivered 1", got)
	}
	if dl, err := s.Dead(context.Background(), "sub-a", gateway.DeadFilter{Limit: 10}); err != nil || len(dl) != 0 {
		t.Errorf("Dead(sub-a) after RedeliverDead = %d entries, %v; want 0", len(dl), err)
	}
	if got := stats(t, s, "sub-b").Dead; got != 4 {
		t.Errorf("Stats(sub-b).Dead = %d, want 4 (untouched)", got)
	}
	for _, c := range claim(t, s, "sub-a", now, 10) {
		if c.Attempts != 0 || !c.CreatedAt.Equal(now) || c.EventID == "evt_x4" {
			t.Errorf("claim after RedeliverDead = %s, %d attempts, created %v; want a dead one, 0, %v", c.EventID, c.Attempts, c.CreatedAt, now)
		}
	}
	if n, err := s.RedeliverDead(context.Background(), "sub-a", now); err != nil || n != 0 {
		t.Errorf("second RedeliverDead = %d, %v; want 0, nil", n, err)
	}
}

// A pause holds its reason until it is resumed; pausing again replaces
// the reason, and each subscriber's flag is its own.
func testPaused(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	const none, admin, gone = gateway.PauseNone, gateway.PauseAdmin, gateway.PauseGone
	steps := []struct {
		sub    string
		set    *gateway.PauseReason
		wantA  gateway.PauseReason
		wantB  gateway.PauseReason
		action string
	}{
		{action: "initially", wantA: none, wantB: none},
		{action: "pause a", sub: "sub-a", set: ptr(admin), wantA: admin, wantB: none},
		{action: "pause a again", sub: "sub-a", set: ptr(admin), wantA: admin, wantB: none},
		{action: "pause b gone", sub: "sub-b", set: ptr(gone), wantA: admin, wantB: gone},
		{action: "resume a", sub: "sub-a", set: ptr(none), wantA: none, wantB: gone},
		{action: "resume a again", sub: "sub-a", set: ptr(none), wantA: none, wantB: gone},
		{action: "pause a gone", sub: "sub-a", set: ptr(gone), wantA: gone, wantB: gone},
		{action: "pause a by admin", sub: "sub-a", set: ptr(admin), wantA: admin, wantB: gone},
		{action: "resume b", sub: "sub-b", set: ptr(none), wantA: admin, wantB: none},
		{action: "pause b by admin", sub: "sub-b", set: ptr(admin), wantA: admin, wantB: admin},
	}
	for _, st := range steps {
		if st.set != nil {
			if err := s.SetPaused(ctx, st.sub, *st.set); err != nil {
				t.Fatalf("%s: SetPaused: %v", st.action, err)
			}
		}
		for sub, want := range map[string]gateway.PauseReason{"sub-a": st.wantA, "sub-b": st.wantB} {
			got, err := s.Paused(ctx, sub)
			if err != nil || got != want {
				t.Errorf("%s: Paused(%s) = %q, %v; want %q, nil", st.action, sub, got, err, want)
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ptr[T any](v T) *T { return &v }

// A delivery is in one worker's hands at a time: redelivering one under an
// unexpired lease would start a second send beside the first, so it is
// refused (ErrConflict) and changes nothing, for one subscriber or all. Once
// the attempt is recorded, or the lease has run out, it goes through.
func testRedeliverLeased(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	put(t, s, newEvent("evt_1", "src", "src.product.updated", at(0), "sub-a", "sub-b"))
	c := claimOne(t, s, "sub-a", at(time.Second))
	for _, sub := range []string{"sub-a", ""} {
		_, err := s.Redeliver(ctx, "evt_1", sub, at(2*time.Second))
		wantErr(t, "Redeliver(evt_1, "+sub+") while sub-a holds it", err, gateway.ErrConflict)
	}
	// Nothing changed: the holder still records, sub-b is still due.
	record(t, s, c, delivered(at(3*time.Second)))
	if got := delivery(t, s, "evt_1", "sub-a"); got.Status != gateway.StatusDelivered || got.Attempts != 1 {
		t.Errorf("sub-a after refused Redeliver and Record: %s after %d attempts, want delivered after 1", got.Status, got.Attempts)
	}
	if n, err := s.Redeliver(ctx, "evt_1", "sub-a", at(4*time.Second)); err != nil || n != 1 {
		t.Fatalf("Redeliver after Record = %d, %v; want 1, nil", n, err)
	}
	// A lease that has run out holds nothing.
	c = claimOne(t, s, "sub-a", at(5*time.Second))
	if n, err := s.Redeliver(ctx, "evt_1", "", at(5*time.Second+lease+time.Second)); err != nil || n != 2 {
		t.Errorf("Redeliver after the lease ran out = %d, %v; want 2, nil", n, err)
	}
	wantErr(t, "Record on the lease Redeliver ended", s.Record(ctx, c, delivered(at(6*time.Second))), gateway.ErrLeaseLost)
}

// testRedeliverNumbering: attempts are numbered by their place in the
// history, going on across manual redeliveries; the first attempt after
// each redelivery is marked, while the retry policy's count (Claim.Attempts)
// starts again from zero.
func testRedeliverNumbering(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	put(t, s, newEvent("evt_rn", "src1", "src1.product.updated", at(0), "sub-a"))
	record(t, s, claimOne(t, s, "sub-a", at(0)), retrying(at(time.Second), at(time.Minute), "HTTP 503"))
	record(t, s, claimOne(t, s, "sub-a", at(time.Minute)), dead(at(time.Minute), "HTTP 400"))
	for i, when := range []time.Duration{time.Hour, 2 * time.Hour} {
		if _, err := s.Redeliver(ctx, "evt_rn", "sub-a", at(when)); err != nil {
			t.Fatalf("Redeliver %d: %v", i+1, err)
		}
		c := claimOne(t, s, "sub-a", at(when))
		if c.Attempts != 0 {
			t.Errorf("claim after redelivery %d: Attempts %d, want 0", i+1, c.Attempts)
		}
		record(t, s, c, retrying(at(when), at(when+time.Minute), "HTTP 503"))
		c = claimOne(t, s, "sub-a", at(when+time.Minute))
		if c.Attempts != 1 {
			t.Errorf("second claim after redelivery %d: Attempts %d, want 1", i+1, c.Attempts)
		}
		record(t, s, c, delivered(at(when+time.Minute)))
	}
	d := delivery(t, s, "evt_rn", "sub-a")
	if d.Attempts != 2 || d.Status != gateway.StatusDelivered {
		t.Errorf("delivery: %s after %d attempts, want delivered after 2 (since the last redelivery)", d.Status, d.Attempts)
	}
	want := []struct {
		code        int
		redelivered bool
	}{{503, false}, {400, false}, {503, true}, {200, false}, {503, true}, {200, false}}
	if len(d.History) != len(want) {
		t.Fatalf("history has %d attempts, want %d: %+v", len(d.History), len(want), d.History)
	}
	for i, a := range d.History {
		if a.N != i+1 || a.StatusCode != want[i].code || a.Redelivered != want[i].redelivered {
			t.Errorf("History[%d] = attempt %d, status %d, redelivered %v; want attempt %d, status %d, redelivered %v",
				i, a.N, a.StatusCode, a.Redelivered, i+1, want[i].code, want[i].redelivered)
		}
	}
}
