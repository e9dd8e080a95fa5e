package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Pause is exact: once SetPaused has paused a subscriber (for any reason), Claim leases nothing
// of that subscriber (other subscribers flow), and after it is released
// everything held is due, with no attempt counted for the wait.
func testClaimPaused(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	put(t, s,
		newEvent("evt_p1", "src", "src.product.updated", at(0), "sub-a", "sub-b"),
		newEvent("evt_p2", "src", "src.product.updated", at(time.Millisecond), "sub-a"),
	)
	if err := s.SetPaused(ctx, "sub-a", gateway.PauseGone); err != nil {
		t.Fatalf("SetPaused(sub-a): %v", err)
	}
	if cs := claim(t, s, "sub-a", at(time.Minute), 10); len(cs) != 0 {
		t.Errorf("Claim(sub-a) while paused got %d claims, want 0", len(cs))
	}
	if cs := claim(t, s, "sub-b", at(time.Minute), 10); len(cs) != 1 {
		t.Errorf("Claim(sub-b) while sub-a is paused got %d claims, want 1", len(cs))
	}
	if err := s.SetPaused(ctx, "sub-a", gateway.PauseNone); err != nil {
		t.Fatalf("SetPaused(sub-a, none): %v", err)
	}
	cs := claim(t, s, "sub-a", at(2*time.Minute), 10)
	if len(cs) != 2 {
		t.Fatalf("Claim(sub-a) after resume got %d claims, want 2", len(cs))
	}
	for _, c := range cs {
		if c.Attempts != 0 {
			t.Errorf("%s after resume: %d attempts, want 0", c.EventID, c.Attempts)
		}
	}
	// A pause while a delivery is leased lets that attempt be recorded.
	if err := s.SetPaused(ctx, "sub-a", gateway.PauseAdmin); err != nil {
		t.Fatalf("SetPaused(sub-a): %v", err)
	}
	record(t, s, cs[0], retrying(at(3*time.Minute), at(4*time.Minute), "HTTP 503"))
	if got := claim(t, s, "sub-a", at(10*time.Minute), 10); len(got) != 0 {
		t.Errorf("Claim(sub-a) paused with a retry due got %d claims, want 0", len(got))
	}
}

// Subscribers names every subscriber with unfinished or dead work, and no
// other: delivered work alone does not keep a name listed.
func testSubscribers(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	want := func(step string, names ...string) {
		t.Helper()
		got, err := s.Subscribers(ctx)
		if err != nil {
			t.Fatalf("%s: Subscribers: %v", step, err)
		}
		if !equalStrings(got, names) {
			t.Errorf("%s: Subscribers = %v, want %v", step, got, names)
		}
	}
	want("empty store")
	put(t, s,
		newEvent("evt_s1", "src", "src.product.updated", at(0), "sub-b", "sub-a"),
		newEvent("evt_s2", "src", "src.product.updated", at(time.Millisecond), "sub-c"),
		newEvent("evt_s3", "src", "src.product.updated", at(2*time.Millisecond)),
	)
	want("after Put", "sub-a", "sub-b", "sub-c")
	record(t, s, claimOne(t, s, "sub-b", at(time.Second)), delivered(at(2*time.Second)))
	record(t, s, claimOne(t, s, "sub-c", at(time.Second)), retrying(at(2*time.Second), at(time.Minute), "HTTP 500"))
	want("sub-b delivered, sub-c retrying", "sub-a", "sub-c")
	record(t, s, claimOne(t, s, "sub-c", at(2*time.Minute)), dead(at(2*time.Minute), "HTTP 404"))
	want("sub-c dead", "sub-a", "sub-c")
}

// Purge deletes a subscriber's pending, retrying and dead deliveries,
// leased or not, and only those: its delivered history and every other
// subscriber's deliveries stay, and retention can drop the events after.
func testPurge(t *testing.T, h harness) {
	s := h.store(t)
	ctx := context.Background()
	put(t, s,
		newEvent("evt_u1", "src", "src.product.updated", at(0), "gone", "kept"),
		newEvent("evt_u2", "src", "src.product.updated", at(time.Millisecond), "gone", "kept"),
		newEvent("evt_u3", "src", "src.product.updated", at(2*time.Millisecond), "gone", "kept"),
		newEvent("evt_u4", "src", "src.product.updated", at(3*time.Millisecond), "gone"),
		newEvent("evt_u5", "src", "src.product.updated", at(4*time.Millisecond), "gone"),
	)
	// gone: u1 delivered, u2 dead, u3 retrying, u4 leased, u5 pending.
	cs := claim(t, s, "gone", at(time.Second), 4)
	if len(cs) != 4 {
		t.Fatalf("Claim(gone) got %d claims, want 4", len(cs))
	}
	byID := map[string]gateway.Claim{}
	for _, c := range cs {
		byID[c.EventID] = c
	}
	record(t, s, byID["evt_u1"], delivered(at(2*time.Second)))
	record(t, s, byID["evt_u2"], dead(at(2*time.Second), "HTTP 410"))
	record(t, s, byID["evt_u3"], retrying(at(2*time.Second), at(time.Minute), "HTTP 502"))

	n, err := s.Purge(ctx, "gone")
	if err != nil || n != 4 {
		t.Fatalf("Purge(gone) = %d, %v; want 4, nil", n, err)
	}
	wantErr(t, "Record on a purged delivery's lease", s.Record(ctx, byID["evt_u4"], delivered(at(3*time.Second))), gateway.ErrLeaseLost)
	if got := claim(t, s, "gone", at(time.Hour), 10); len(got) != 0 {
		t.Errorf("Claim(gone) after Purge got %d claims, want 0", len(got))
	}
	if st := stats(t, s, "gone"); st.Pending != 0 || st.Dead != 0 || st.Delivered != 1 {
		t.Errorf("Stats(gone) after Purge = pending %d dead %d delivered %d; want 0 0 1", st.Pending, st.Dead, st.Delivered)
	}
	if dl, err := s.Dead(ctx, "gone", gateway.DeadFilter{Limit: 10}); err != nil || len(dl) != 0 {
		t.Errorf("Dead(gone) after Purge = %d records, %v; want 0, nil", len(dl), err)
	}
	if names, err := s.Subscribers(ctx); err != nil || !equalStrings(names, []string{"kept"}) {
		t.Errorf("Subscribers after Purge = %v, %v; want [kept], nil", names, err)
	}
	if d := delivery(t, s, "evt_u1", "gone"); d.Status != gateway.StatusDelivered || len(d.History) != 1 {
		t.Errorf("evt_u1's delivered record after Purge: %s with %d attempts in history, want delivered with 1", d.Status, len(d.History))
	}
	for _, id := range []string{"evt_u2", "evt_u3", "evt_u4", "evt_u5"} {
		for _, d := range getEvent(t, s, id).Deliveries {
			if d.Subscriber == "gone" {
				t.Errorf("%s still has a delivery to gone (%s) after Purge", id, d.Status)
			}
		}
	}
	page, err := s.List(ctx, gateway.EventFilter{Subscriber: "gone", Status: gateway.StatusPending})
	if err != nil || len(page.Events) != 0 {
		t.Errorf("List(gone, pending) after Purge = %d events, %v; want 0, nil", len(page.Events), err)
	}
	if got := claim(t, s, "kept", at(time.Hour), 10); len(got) != 3 {
		t.Errorf("Claim(kept) after Purge(gone) got %d claims, want 3", len(got))
	}
	if n, err := s.Purge(ctx, "gone"); err != nil || n != 0 {
		t.Errorf("second Purge(gone) = %d, %v; want 0, nil", n, err)
	}
	// The name may come back: a redelivery makes a fresh delivery.
	if n, err := s.Redeliver(ctx, "evt_u5", "gone", at(2*time.Hour)); err != nil || n != 1 {
		t.Errorf("Redeliver(evt_u5, gone) after Purge = %d, %v; want 1, nil", n, err)
	}
	if got := claim(t, s, "gone", at(2*time.Hour), 10); len(got) != 1 || got[0].EventID != "evt_u5" {
		t.Errorf("Claim(gone) after Redeliver got %v, want evt_u5", claimIDs(got))
	}
}

// A purge larger than any one step the store takes still purges it all.
func testPurgeLarge(t *testing.T, h harness) {
	s := h.store(t)
	const total = 2500
	evs := make([]gateway.NewEvent, 0, total)
	for i := range total {
		evs = append(evs, newEvent(fmt.Sprintf("evt_pl%05d", i), "src", "src.product.updated",
			at(time.Duration(i)*time.Millisecond), "gone"))
	}
	put(t, s, evs...)
	if n, err := s.Purge(context.Background(), "gone"); err != nil || n != total {
		t.Fatalf("Purge(gone) = %d, %v; want %d, nil", n, err, total)
	}
	if got := claim(t, s, "gone", at(time.Hour), 10); len(got) != 0 {
		t.Errorf("Claim(gone) after Purge got %d claims, want 0", len(got))
	}
}

// A selective filter over many non-matching events: paging on with the
// cursor finds every match exactly once, in order, whatever budget the
// store gives one call, and ends with an empty cursor.
func testListSelective(t *testing.T, h harness) {
	s := h.store(t)
	const total = 3000
	evs := make([]gateway.NewEvent, 0, total)
	var want []string
	for i := range total {
		id := fmt.Sprintf("evt_ls%05d", i)
		src := "noise"
		if i%1000 == 7 {
			src = "rare"
			want = append([]string{id}, want...)
		}
		// Several events per millisecond, so that cursors fall inside runs
		// of equal receipt times.
		evs = append(evs, newEvent(id, src, src+".product.updated", at(time.Duration(i/4)*time.Millisecond), "sub-a"))
	}
	put(t, s, evs...)
	for _, limit := range []int{1, 2, 50} {
		var got []string
		f := gateway.EventFilter{Source: "rare", Type: "rare.product.updated", Limit: limit}
		for calls := 0; ; calls++ {
			if calls > total {
				t.Fatalf("limit %d: no end after %d calls", limit, calls)
			}
			page, err := s.List(context.Background(), f)
			if err != nil {
				t.Fatalf("limit %d: List: %v", limit, err)
			}
			if len(page.Events) > limit {
				t.Fatalf("limit %d: page of %d events", limit, len(page.Events))
			}
			for _, e := range page.Events {
				got = append(got, e.ID)
			}
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
		if !equalStrings(got, want) {
			t.Errorf("limit %d: paged through %v, want %v", limit, got, want)
		}
	}
}

func claimIDs(cs []gateway.Claim) []string {
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.EventID)
	}
	return ids
}
