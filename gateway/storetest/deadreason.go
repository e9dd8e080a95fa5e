package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// deadFor is a dead outcome with a reason.
func deadFor(when time.Time, why gateway.DeadReason) gateway.Outcome {
	o := dead(when, "died: "+string(why))
	o.DeadReason = why
	return o
}

// deadList is Dead, failing the test on error.
func deadList(t *testing.T, s gateway.Store, sub string, f gateway.DeadFilter) []gateway.DeliveryRecord {
	t.Helper()
	dl, err := s.Dead(context.Background(), sub, f)
	if err != nil {
		t.Fatalf("Dead(%s, %+v): %v", sub, f, err)
	}
	return dl
}

func deadIDs(dl []gateway.DeliveryRecord) []string {
	var ids []string
	for _, d := range dl {
		ids = append(ids, d.EventID)
	}
	return ids
}

// testDeadReason: each reason recorded with a dead outcome reads back from
// Dead and Event, with the event's type and subject on the Dead entries;
// one recorded without a reason (as before reasons were) reads back as
// unknown; a delivery that is not dead has none.
func testDeadReason(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	reasons := append(gateway.DeadReasons(), gateway.DeadUnknown)
	var evs []gateway.NewEvent
	for i, why := range reasons {
		evs = append(evs, newEvent(fmt.Sprintf("evt_r%d", i), "src1", "src1."+string(why)+".updated", at(0), "sub-a"))
	}
	evs = append(evs, newEvent("evt_alive", "src1", "src1.product.updated", at(0), "sub-a"))
	put(t, s, evs...)
	wantReason := map[string]gateway.DeadReason{}
	for _, c := range claim(t, s, "sub-a", at(time.Second), 20) {
		if c.EventID == "evt_alive" {
			record(t, s, c, retrying(at(time.Second), at(time.Hour), "HTTP 503"))
			continue
		}
		var i int
		fmt.Sscanf(c.EventID, "evt_r%d", &i)
		why := reasons[i]
		wantReason[c.EventID] = why
		// Each dies at its own time: Dead lists the newest first.
		record(t, s, c, deadFor(at(time.Duration(i+1)*time.Minute), why))
	}
	if len(wantReason) != len(reasons) {
		t.Fatalf("claimed %d dead-to-be deliveries, want %d", len(wantReason), len(reasons))
	}

	dl := deadList(t, s, "sub-a", gateway.DeadFilter{Limit: 20})
	if len(dl) != len(reasons) {
		t.Fatalf("Dead(sub-a) = %v, want %d entries", deadIDs(dl), len(reasons))
	}
	for k, d := range dl {
		i := len(reasons) - 1 - k // newest first
		id := fmt.Sprintf("evt_r%d", i)
		wantType := "src1." + string(reasons[i]) + ".updated"
		if d.EventID != id || d.DeadReason != reasons[i] || d.Type != wantType || d.Subject != "product/"+id {
			t.Errorf("Dead(sub-a)[%d] = %s reason %q type %q subject %q; want %s %q %q %q",
				k, d.EventID, d.DeadReason, d.Type, d.Subject, id, reasons[i], wantType, "product/"+id)
		}
	}
	for id, why := range wantReason {
		rec, err := s.Event(ctx, id)
		if err != nil {
			t.Fatalf("Event(%s): %v", id, err)
		}
		if got := rec.Deliveries[0]; got.Status != gateway.StatusDead || got.DeadReason != why {
			t.Errorf("Event(%s) delivery = %s reason %q, want dead %q", id, got.Status, got.DeadReason, why)
		}
	}
	rec, err := s.Event(ctx, "evt_alive")
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Deliveries[0]; got.Status != gateway.StatusRetrying || got.DeadReason != gateway.DeadUnknown {
		t.Errorf("Event(evt_alive) delivery = %s reason %q, want retrying with no reason", got.Status, got.DeadReason)
	}
}

// testDeadReasonFilter: Dead with a Reason lists only those, newest
// first, within the limit; a reason none died of lists nothing; unknown
// ones match no reason.
func testDeadReasonFilter(t *testing.T, h harness) {
	s := h.store(t)
	plan := []struct {
		id  string
		why gateway.DeadReason
	}{
		{"evt_p1", gateway.DeadPermanent}, {"evt_a1", gateway.DeadAttempts}, {"evt_p2", gateway.DeadPermanent},
		{"evt_g1", gateway.DeadGone}, {"evt_u1", gateway.DeadUnknown}, {"evt_p3", gateway.DeadPermanent},
		{"evt_a2", gateway.DeadAttempts},
	}
	dieAt := map[string]int{}
	why := map[string]gateway.DeadReason{}
	for i, p := range plan {
		put(t, s, newEvent(p.id, "src1", "src1.product.updated", at(0), "sub-a", "sub-b"))
		dieAt[p.id], why[p.id] = i, p.why
	}
	for _, c := range claim(t, s, "sub-a", at(time.Second), 20) {
		record(t, s, c, deadFor(at(time.Duration(dieAt[c.EventID]+1)*time.Minute), why[c.EventID]))
	}
	// sub-b's deliveries of the same events die of something else: the
	// filter is the subscriber's.
	for _, c := range claim(t, s, "sub-b", at(time.Second), 20) {
		record(t, s, c, deadFor(at(time.Minute), gateway.DeadMaxAge))
	}

	tests := []struct {
		f    gateway.DeadFilter
		want []string
	}{
		{gateway.DeadFilter{Reason: gateway.DeadPermanent}, []string{"evt_p3", "evt_p2", "evt_p1"}},
		{gateway.DeadFilter{Reason: gateway.DeadPermanent, Limit: 2}, []string{"evt_p3", "evt_p2"}},
		{gateway.DeadFilter{Reason: gateway.DeadAttempts}, []string{"evt_a2", "evt_a1"}},
		{gateway.DeadFilter{Reason: gateway.DeadGone}, []string{"evt_g1"}},
		{gateway.DeadFilter{Reason: gateway.DeadMaxAge}, nil},
		{gateway.DeadFilter{Reason: gateway.DeadTransform}, nil},
		{gateway.DeadFilter{}, []string{"evt_a2", "evt_p3", "evt_u1", "evt_g1", "evt_p2", "evt_a1", "evt_p1"}},
	}
	for _, tc := range tests {
		dl := deadList(t, s, "sub-a", tc.f)
		if got := deadIDs(dl); !equalStrings(got, tc.want) {
			t.Errorf("Dead(sub-a, %+v) = %v, want %v", tc.f, got, tc.want)
		}
		for _, d := range dl {
			if tc.f.Reason != "" && d.DeadReason != tc.f.Reason {
				t.Errorf("Dead(sub-a, %+v): %s has reason %q", tc.f, d.EventID, d.DeadReason)
			}
		}
	}
	if got := deadIDs(deadList(t, s, "sub-b", gateway.DeadFilter{Reason: gateway.DeadMaxAge})); len(got) != len(plan) {
		t.Errorf("Dead(sub-b, max_age) = %v, want all %d", got, len(plan))
	}
}

// testDeadReasonRedeliver: a redelivery (Redeliver, RedeliverDead) clears
// the reason; the next death records its own.
func testDeadReasonRedeliver(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	put(t, s, newEvent("evt_1", "src1", "src1.product.updated", at(0), "sub-a"),
		newEvent("evt_2", "src1", "src1.product.updated", at(0), "sub-a"))
	for _, c := range claim(t, s, "sub-a", at(time.Second), 10) {
		record(t, s, c, deadFor(at(2*time.Second), gateway.DeadGone))
	}
	reasonOf := func(id string) (gateway.DeliveryStatus, gateway.DeadReason) {
		t.Helper()
		rec, err := s.Event(ctx, id)
		if err != nil {
			t.Fatalf("Event(%s): %v", id, err)
		}
		return rec.Deliveries[0].Status, rec.Deliveries[0].DeadReason
	}

	if n, err := s.Redeliver(ctx, "evt_1", "sub-a", at(time.Minute)); err != nil || n != 1 {
		t.Fatalf("Redeliver = %d, %v; want 1", n, err)
	}
	if st, why := reasonOf("evt_1"); st != gateway.StatusPending || why != gateway.DeadUnknown {
		t.Errorf("evt_1 after Redeliver: %s reason %q, want pending with none", st, why)
	}
	if got := deadIDs(deadList(t, s, "sub-a", gateway.DeadFilter{Reason: gateway.DeadGone})); !equalStrings(got, []string{"evt_2"}) {
		t.Errorf("Dead(gone) after Redeliver = %v, want [evt_2]", got)
	}
	c := claimOne(t, s, "sub-a", at(time.Minute))
	record(t, s, c, retrying(at(time.Minute), at(2*time.Minute), "HTTP 500"))
	if st, why := reasonOf("evt_1"); st != gateway.StatusRetrying || why != gateway.DeadUnknown {
		t.Errorf("evt_1 retrying after Redeliver: %s reason %q, want none", st, why)
	}
	c = claimOne(t, s, "sub-a", at(2*time.Minute))
	record(t, s, c, deadFor(at(2*time.Minute), gateway.DeadAttempts))
	if st, why := reasonOf("evt_1"); st != gateway.StatusDead || why != gateway.DeadAttempts {
		t.Errorf("evt_1 dead again: %s reason %q, want dead attempts", st, why)
	}

	if n, err := s.RedeliverDead(ctx, "sub-a", at(3*time.Minute)); err != nil || n != 2 {
		t.Fatalf("RedeliverDead = %d, %v; want 2", n, err)
	}
	for _, id := range []string{"evt_1", "evt_2"} {
		if st, why := reasonOf(id); st != gateway.StatusPending || why != gateway.DeadUnknown {
			t.Errorf("%s after RedeliverDead: %s reason %q, want pending with none", id, st, why)
		}
	}
	for _, c := range claim(t, s, "sub-a", at(3*time.Minute), 10) {
		record(t, s, c, delivered(at(3*time.Minute)))
	}
	for _, id := range []string{"evt_1", "evt_2"} {
		if st, why := reasonOf(id); st != gateway.StatusDelivered || why != gateway.DeadUnknown {
			t.Errorf("%s delivered after RedeliverDead: %s reason %q, want none", id, st, why)
		}
	}

	// A replay (Requeue with Reset) is a redelivery too.
	put(t, s, newEvent("evt_3", "src1", "src1.product.updated", at(time.Hour), "sub-a"))
	c = claimOne(t, s, "sub-a", at(time.Hour))
	record(t, s, c, deadFor(at(time.Hour), gateway.DeadTransform))
	if st, why := reasonOf("evt_3"); st != gateway.StatusDead || why != gateway.DeadTransform {
		t.Errorf("evt_3: %s reason %q, want dead transform", st, why)
	}
	if n, _ := requeueAll(t, s, gateway.RequeueRange{Subscriber: "sub-a", Window: window(time.Hour, 2*time.Hour), Reset: true},
		at(2*time.Hour), false); n != 1 {
		t.Errorf("replay queued %d, want 1", n)
	}
	if st, why := reasonOf("evt_3"); st != gateway.StatusPending || why != gateway.DeadUnknown {
		t.Errorf("evt_3 after a replay: %s reason %q, want pending with none", st, why)
	}
	if got := deadList(t, s, "sub-a", gateway.DeadFilter{Reason: gateway.DeadTransform}); len(got) != 0 {
		t.Errorf("Dead(transform) after a replay = %v, want none", deadIDs(got))
	}
}

// testDeadReasonInvalid: Record refuses, with ErrInvalid and recording
// nothing, a reason that is not a known one or not on a dead outcome; the
// lease is still the caller's.
func testDeadReasonInvalid(t *testing.T, h harness) {
	s := h.store(t)
	put(t, s, newEvent("evt_1", "src1", "src1.product.updated", at(0), "sub-a"))
	c := claimOne(t, s, "sub-a", at(time.Second))
	bad := []gateway.Outcome{
		deadFor(at(time.Second), "teapot"),
		deadFor(at(time.Second), "Permanent"),
		func() gateway.Outcome {
			o := retrying(at(time.Second), at(time.Minute), "HTTP 503")
			o.DeadReason = gateway.DeadAttempts
			return o
		}(),
	}
	for _, o := range bad {
		if err := s.Record(context.Background(), c, o); !errors.Is(err, gateway.ErrInvalid) {
			t.Errorf("Record(%s, reason %q) = %v, want ErrInvalid", o.Status, o.DeadReason, err)
		}
	}
	rec, err := s.Event(context.Background(), "evt_1")
	if err != nil {
		t.Fatal(err)
	}
	if d := rec.Deliveries[0]; d.Attempts != 0 || len(d.History) != 0 {
		t.Errorf("after refused Records: %d attempts, %d history; want nothing recorded", d.Attempts, len(d.History))
	}
	record(t, s, c, deadFor(at(2*time.Second), gateway.DeadPermanent))
}
