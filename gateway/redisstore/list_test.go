package redisstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestListBudget: a selective filter (source with subscriber) examines at
// most listBudget entries of i:all per call:
// the first page comes back short, even empty, with a cursor, and paging
// on finds every match once, newest first, and ends. Receipt times are
// shared by runs longer than the budget, so cursors fall inside ties.
func TestListBudget(t *testing.T) {
	s := openTest(t, "listbudget")
	ctx := context.Background()
	const total = 3 * listBudget
	base := testEvent("").ReceivedAt
	var evs []gateway.NewEvent
	var want []string
	for i := range total {
		ev := testEvent(fmt.Sprintf("evt_%05d", i))
		ev.ReceivedAt = base.Add(time.Duration(i/(listBudget+300)) * time.Millisecond)
		if i%700 == 0 {
			ev.Envelope.Source = "rare"
			want = append(want, ev.Envelope.ID)
		}
		evs = append(evs, ev)
	}
	slices.Reverse(want)
	for b := range slices.Chunk(evs, 500) {
		if _, err := s.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
	}

	for _, limit := range []int{1, 3, gateway.MaxPage} {
		f := gateway.EventFilter{Source: "rare", Subscriber: "sub-a", Limit: limit}
		var got []string
		var pages []int
		for f.Cursor = ""; len(pages) <= total; {
			page, err := s.List(ctx, f)
			if err != nil {
				t.Fatalf("limit %d: List: %v", limit, err)
			}
			pages = append(pages, len(page.Events))
			for _, e := range page.Events {
				got = append(got, e.ID)
			}
			if f.Cursor = page.NextCursor; f.Cursor == "" {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: paged through %v, want %v", limit, got, want)
		}
		// Every call examines at most the budget, so reaching the end
		// takes at least total/budget calls, some of them short.
		if len(pages) < total/listBudget {
			t.Errorf("limit %d: %d calls (pages of %v) covered %d entries, more than %d each", limit, len(pages), pages, total, listBudget)
		}
	}
}

// TestListCursorLeftIndex: when the cursor's own entry leaves the index
// between pages (its delivery changed status), the next page goes on from
// the cursor's position all the same, through a run of equal receipt
// times, neither repeating nor skipping an event.
func TestListCursorLeftIndex(t *testing.T) {
	s := openTest(t, "listleft")
	ctx := context.Background()
	var evs []gateway.NewEvent
	for i := range 9 {
		evs = append(evs, testEvent(fmt.Sprintf("evt_%d", i))) // all received at once
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	now := testEvent("").ReceivedAt
	cs, err := s.Claim(ctx, "sub-a", now, len(evs), time.Minute)
	if err != nil || len(cs) != len(evs) {
		t.Fatalf("Claim = %d claims, %v; want %d", len(cs), err, len(evs))
	}
	claims := map[string]gateway.Claim{}
	for _, c := range cs {
		claims[c.EventID] = c
	}
	f := gateway.EventFilter{Status: gateway.StatusPending, Limit: 2}
	var got []string
	for pages := 0; pages < 10; pages++ {
		page, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			got = append(got, e.ID)
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
		// The last row listed is delivered now: it leaves the pending index.
		last := claims[page.Events[len(page.Events)-1].ID]
		if err := s.Record(ctx, last, gateway.Outcome{Status: gateway.StatusDelivered,
			Attempt: gateway.Attempt{At: now, StatusCode: 200}}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"evt_8", "evt_7", "evt_6", "evt_5", "evt_4", "evt_3", "evt_2", "evt_1", "evt_0"}
	if !slices.Equal(got, want) {
		t.Errorf("paged through %v, want %v", got, want)
	}
}

// TestDeadLimit: Dead gives at most gateway.MaxPage records however many
// are asked for.
func TestDeadLimit(t *testing.T) {
	s := openTest(t, "deadlimit")
	ctx := context.Background()
	const total = gateway.MaxPage + 10
	var evs []gateway.NewEvent
	for i := range total {
		evs = append(evs, testEvent(fmt.Sprintf("evt_%04d", i)))
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	now := testEvent("").ReceivedAt
	cs, err := s.Claim(ctx, "sub-a", now, total, time.Minute)
	if err != nil || len(cs) != total {
		t.Fatalf("Claim = %d claims, %v; want %d", len(cs), err, total)
	}
	dead := gateway.Outcome{Status: gateway.StatusDead, Attempt: gateway.Attempt{At: now, StatusCode: 410, Error: "HTTP 410"}}
	for _, err := range batchRecord(s, cs, dead) {
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct{ limit, want int }{
		{0, defaultLimit},
		{10, 10},
		{gateway.MaxPage, gateway.MaxPage},
		{total, gateway.MaxPage},
	}
	for _, tc := range tests {
		got, err := s.Dead(ctx, "sub-a", gateway.DeadFilter{Limit: tc.limit})
		if err != nil || len(got) != tc.want {
			t.Errorf("Dead(limit %d) = %d records, %v; want %d", tc.limit, len(got), err, tc.want)
		}
	}
}
