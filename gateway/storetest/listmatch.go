package storetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// listAll pages through f from its cursor to the end and returns the ids
// in order and the pages read. It fails the test if a page is larger than
// its limit or reports nothing searched.
func listAll(t *testing.T, s gateway.Store, f gateway.EventFilter) ([]string, []gateway.EventPage) {
	t.Helper()
	var ids []string
	var pages []gateway.EventPage
	for calls := 0; ; calls++ {
		if calls > 1000 {
			t.Fatalf("%+v: no end after %d calls", f, calls)
		}
		page, err := s.List(context.Background(), f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		if f.Limit > 0 && len(page.Events) > f.Limit {
			t.Fatalf("page of %d events, limit %d", len(page.Events), f.Limit)
		}
		if page.NextCursor != "" && (page.Scanned == 0 || page.SearchedUntil == nil) {
			t.Fatalf("page with a cursor reports scanned %d, searched_until %v", page.Scanned, page.SearchedUntil)
		}
		for _, e := range page.Events {
			ids = append(ids, e.ID)
		}
		pages = append(pages, page)
		if page.NextCursor == "" {
			return ids, pages
		}
		f.Cursor = page.NextCursor
	}
}

// testListMatch: EventFilter.Match narrows what the other filters pass,
// is asked only about those, within the scan budget, and a page that the
// budget cuts short (even empty) says how far it searched and goes on to
// the matches beyond it.
func testListMatch(t *testing.T, h harness) {
	s := h.store(t)
	const total = 3000
	evs := make([]gateway.NewEvent, 0, total)
	var want []string
	for i := range total {
		id := fmt.Sprintf("evt_lm%05d", i)
		// The subject, which no store indexes, is the filter that narrows:
		// every event counts against the budget.
		ev := newEvent(id, "src", "src.product.updated", at(time.Duration(i/4)*time.Millisecond), "sub-a")
		ev.Envelope.Subject = "product/odd"
		if i%2 == 0 {
			ev.Envelope.Subject = "product/even"
		}
		// Hits only near the oldest end, far beyond one page's budget,
		// and on both sides of the source filter.
		if i < 40 && i%5 < 2 {
			ev.Body = fmt.Appendf(nil, `{"id":%q,"tag":"hit"}`, id)
			if i%2 == 0 {
				want = append([]string{id}, want...)
			}
		}
		evs = append(evs, ev)
	}
	put(t, s, evs...)

	for _, limit := range []int{1, 3, 50} {
		asked := map[string]int{}
		f := gateway.EventFilter{Subject: "product/even", Limit: limit, Match: func(body []byte) bool {
			if !bytes.Contains(body, []byte(`"id":"evt_lm`)) {
				t.Errorf("Match given %q, not a stored body", body)
			}
			id := string(body[bytes.Index(body, []byte("evt_lm")):][:len("evt_lm00000")])
			asked[id]++
			return bytes.Contains(body, []byte(`"tag":"hit"`))
		}}
		got, pages := listAll(t, s, f)
		if !equalStrings(got, want) {
			t.Errorf("limit %d: paged through %v, want %v", limit, got, want)
		}
		if len(pages) < 2 || len(pages[0].Events) != 0 || pages[0].NextCursor == "" {
			t.Errorf("limit %d: first page %d events, cursor %q: want an empty page with a cursor (the hits are beyond the budget)",
				limit, len(pages[0].Events), pages[0].NextCursor)
		}
		if p := pages[0]; p.SearchedUntil == nil || !p.SearchedUntil.Before(at(time.Duration(total/4-1)*time.Millisecond)) ||
			!p.SearchedUntil.After(at(0)) {
			t.Errorf("limit %d: first page searched until %v, want between the oldest and newest receipt", limit, p.SearchedUntil)
		}
		for id, n := range asked {
			if !strings.HasSuffix(id, "0") && !strings.HasSuffix(id, "2") && !strings.HasSuffix(id, "4") &&
				!strings.HasSuffix(id, "6") && !strings.HasSuffix(id, "8") {
				t.Errorf("limit %d: Match asked about %s, which the subject filter refuses", limit, id)
			}
			if n > 1+len(pages) {
				t.Errorf("limit %d: Match asked about %s %d times over %d pages", limit, id, n, len(pages))
			}
		}
		scanned := 0
		for _, p := range pages {
			scanned += p.Scanned
		}
		if scanned < total/2 {
			t.Errorf("limit %d: pages scanned %d entries in all, want at least the %d events of the subject", limit, scanned, total/2)
		}
	}

	// Combined with the subscriber and status filters (an index of their
	// own in some stores), every hit of either subject, its delivery
	// pending.
	var all []string
	for i := total - 1; i >= 0; i-- {
		if i < 40 && i%5 < 2 {
			all = append(all, fmt.Sprintf("evt_lm%05d", i))
		}
	}
	hit := func(body []byte) bool { return bytes.Contains(body, []byte(`"tag":"hit"`)) }
	for _, f := range []gateway.EventFilter{
		{Subscriber: "sub-a", Status: gateway.StatusPending, Limit: 7, Match: hit},
		{Status: gateway.StatusPending, Limit: 50, Match: hit},
		{Subscriber: "sub-a", Limit: 50, Match: hit},
	} {
		if got, _ := listAll(t, s, f); !equalStrings(got, all) {
			t.Errorf("subscriber %q status %q: paged through %v, want %v", f.Subscriber, f.Status, got, all)
		}
	}
	for _, f := range []gateway.EventFilter{
		{Subscriber: "sub-b", Match: hit},
		{Status: gateway.StatusDead, Match: hit},
	} {
		if got, _ := listAll(t, s, f); len(got) != 0 {
			t.Errorf("subscriber %q status %q: listed %v, want none", f.Subscriber, f.Status, got)
		}
	}

	// Without Match the same walk reports how far it searched too: a full
	// page down to its last event.
	page, err := s.List(context.Background(), gateway.EventFilter{Limit: 2})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Events) != 2 || page.SearchedUntil == nil || !page.SearchedUntil.Equal(page.Events[1].ReceivedAt) {
		t.Errorf("unfiltered page of 2: %d events, searched until %v, want the second's receipt", len(page.Events), page.SearchedUntil)
	}
}

// testListMatchBytes: a search reads about gateway.ListMatchBytes of
// bodies per call, and pages on from where that stopped.
func testListMatchBytes(t *testing.T, h harness) {
	s := h.store(t)
	const n = 12
	big := bytes.Repeat([]byte("x"), gateway.ListMatchBytes/4)
	var want []string
	for i := range n {
		id := fmt.Sprintf("evt_lb%03d", i)
		ev := newEvent(id, "big", "big.product.updated", at(time.Duration(i)*time.Millisecond), "sub-a")
		ev.Body = fmt.Appendf(nil, `{"id":%q,"pad":%q}`, id, big)
		put(t, s, ev)
		want = append([]string{id}, want...)
	}
	calls := 0
	f := gateway.EventFilter{Limit: 50, Match: func([]byte) bool { calls++; return true }}
	page, err := s.List(context.Background(), f)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Events) == 0 || len(page.Events) >= n || page.NextCursor == "" {
		t.Errorf("first page of %d bodies of %d bytes: %d events, cursor %q; want some, not all, and a cursor",
			n, len(big), len(page.Events), page.NextCursor)
	}
	if calls > n/2+4 {
		t.Errorf("first page asked Match about %d bodies of %d bytes, want about %d", calls, len(big), gateway.ListMatchBytes/len(big))
	}
	got, _ := listAll(t, s, f)
	if !equalStrings(got, want) {
		t.Errorf("paged through %v, want %v", got, want)
	}
}
