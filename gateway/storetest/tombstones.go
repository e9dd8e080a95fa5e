package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// testTombstones: with a tombstone window, an id stays a duplicate past
// its dedupe window while its event is retained (counted on it), and
// after retention has removed the event, for the tombstone window (a
// replay of an old captured request is acknowledged, not stored and
// fanned out anew); long after, it is stored afresh.
func testTombstones(t *testing.T, h harness) {
	s := h.storeWith(t, gateway.StoreConfig{Retention: Retention, DedupeWindow: DedupeWindow, TombstoneWindow: TombstoneWindow})
	ctx := context.Background()
	first := newEvent("evt_tomb", "src1", "src1.product.updated", at(0), "sub-a")
	replay := func(when time.Duration) gateway.NewEvent {
		ev := newEvent("evt_tomb", "src1", "src1.product.updated", at(when), "sub-a")
		ev.Body = []byte(`{"replayed":true}`)
		return ev
	}
	put(t, s, first)
	record(t, s, claimOne(t, s, "sub-a", at(0)), delivered(at(time.Second)))

	// Past the dedupe window, within retention: the stored event is the
	// same upstream event; the replay is counted on it, nothing is queued.
	if r := put(t, s, replay(DedupeWindow+time.Minute)); !r[0].Duplicate {
		t.Errorf("replay past the dedupe window, event retained: Duplicate = false, want true")
	}
	got := getEvent(t, s, "evt_tomb")
	if !bytes.Equal(got.Envelope, first.Body) || !got.ReceivedAt.Equal(at(0)) || got.Duplicates != 1 {
		t.Errorf("event after the replay: body %q, received %v, duplicates %d; want the first body, %v, 1",
			got.Envelope, got.ReceivedAt, got.Duplicates, at(0))
	}
	if n := len(claim(t, s, "sub-a", at(DedupeWindow+2*time.Minute), 10)); n != 0 {
		t.Errorf("Claim after the replay got %d deliveries, want 0", n)
	}

	// Retention removes the event; its tombstone still knows the id, for
	// at least the tombstone window (a few minutes' allowance for clock
	// skew aside).
	removed := Retention + time.Hour
	if err := s.Sweep(ctx, at(removed)); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	_, err := s.Event(ctx, "evt_tomb")
	wantErr(t, "Event after Sweep", err, gateway.ErrNotFound)
	for _, when := range []time.Duration{removed + time.Minute, removed + TombstoneWindow - time.Hour} {
		// A new event in the same call is stored: the tombstone is the
		// replayed id's alone.
		fresh := newEvent("evt_fresh"+when.String(), "src1", "src1.product.updated", at(when), "sub-a")
		r := put(t, s, replay(when), fresh)
		if !r[0].Duplicate || r[1].Duplicate {
			t.Errorf("replay %v after removal, with a new event: results %+v, want [duplicate, stored]", when-removed, r)
		}
		_, err := s.Event(ctx, "evt_tomb")
		wantErr(t, "Event after a replay of a removed event", err, gateway.ErrNotFound)
		cs := claim(t, s, "sub-a", at(when), 10)
		if len(cs) != 1 || cs[0].EventID != fresh.Envelope.ID {
			t.Errorf("Claim after the replay got %d deliveries, want the new event's alone", len(cs))
		}
		for _, c := range cs {
			record(t, s, c, delivered(at(when)))
		}
		// A Put of nothing but the replay: the same answer.
		if r := put(t, s, replay(when+time.Second)); !r[0].Duplicate {
			t.Errorf("replay %v after removal, alone: Duplicate = false, want true", when-removed)
		}
	}
	// Sweeps go on meanwhile, as they do every few minutes.
	if err := s.Sweep(ctx, at(removed+TombstoneWindow)); err != nil {
		t.Fatalf("Sweep: %v", err)
	}

	// Long past the tombstone window, and after Sweep dropped what
	// expired, the id is new again.
	late := removed + 2*TombstoneWindow + time.Hour
	if err := s.Sweep(ctx, at(late)); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if r := put(t, s, replay(late)); r[0].Duplicate {
		t.Errorf("replay %v after removal: Duplicate = true, want stored afresh", late-removed)
	}
	if cs := claim(t, s, "sub-a", at(late), 10); len(cs) != 1 || cs[0].EventID != "evt_tomb" {
		t.Errorf("Claim after the late replay got %d deliveries, want evt_tomb's", len(cs))
	}
}

// testTombstonesOff: a store opened without a tombstone window stores an
// id afresh once its dedupe window has passed, even while the old event
// is retained, and once retention removed it.
func testTombstonesOff(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	put(t, s, newEvent("evt_off", "src1", "src1.product.updated", at(0), "sub-a"))
	if err := s.Sweep(ctx, at(Retention+time.Hour)); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	// The event's delivery was pending: kept. Deliver it, sweep again.
	record(t, s, claimOne(t, s, "sub-a", at(Retention+time.Hour)), delivered(at(Retention+time.Hour)))
	if err := s.Sweep(ctx, at(Retention+2*time.Hour)); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if r := put(t, s, newEvent("evt_off", "src1", "src1.product.updated", at(Retention+3*time.Hour), "sub-a")); r[0].Duplicate {
		t.Errorf("Put after removal without tombstones: Duplicate = true, want stored afresh")
	}
}
