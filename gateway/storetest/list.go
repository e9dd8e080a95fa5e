package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

func testListFilters(t *testing.T, h harness) {
	s := h.store(t)
	put(t, s,
		newEvent("evt_l1", "src1", "src1.product.created", at(1*time.Minute), "sub-a"),
		newEvent("evt_l2", "src2", "src2.option.updated", at(2*time.Minute), "sub-b"),
		newEvent("evt_l3", "src1", "src1.option.updated", at(3*time.Minute), "sub-a", "sub-b"),
		newEvent("evt_l4", "src1", "src1.product.created", at(4*time.Minute)),
		newEvent("evt_l5", "src2", "src2.product.created", at(5*time.Minute), "sub-a"),
	)
	// sub-a: l1 delivered, l3 dead, l5 retrying. sub-b: l2, l3 pending.
	for _, c := range claim(t, s, "sub-a", at(10*time.Minute), 10) {
		switch c.EventID {
		case "evt_l1":
			record(t, s, c, delivered(at(11*time.Minute)))
		case "evt_l3":
			record(t, s, c, dead(at(11*time.Minute), "HTTP 400"))
		case "evt_l5":
			record(t, s, c, retrying(at(11*time.Minute), at(20*time.Minute), "HTTP 500"))
		}
	}

	tests := []struct {
		name string
		f    gateway.EventFilter
		want []string
	}{
		{"everything", gateway.EventFilter{}, []string{"evt_l5", "evt_l4", "evt_l3", "evt_l2", "evt_l1"}},
		{"source", gateway.EventFilter{Source: "src1"}, []string{"evt_l4", "evt_l3", "evt_l1"}},
		{"type", gateway.EventFilter{Type: "src1.option.updated"}, []string{"evt_l3"}},
		{"type no match", gateway.EventFilter{Type: "src1.group.deleted"}, nil},
		{"subscriber a", gateway.EventFilter{Subscriber: "sub-a"}, []string{"evt_l5", "evt_l3", "evt_l1"}},
		{"subscriber b", gateway.EventFilter{Subscriber: "sub-b"}, []string{"evt_l3", "evt_l2"}},
		{"unknown subscriber", gateway.EventFilter{Subscriber: "sub-z"}, nil},
		{"pending", gateway.EventFilter{Status: gateway.StatusPending}, []string{"evt_l3", "evt_l2"}},
		{"retrying", gateway.EventFilter{Status: gateway.StatusRetrying}, []string{"evt_l5"}},
		{"delivered", gateway.EventFilter{Status: gateway.StatusDelivered}, []string{"evt_l1"}},
		{"dead", gateway.EventFilter{Status: gateway.StatusDead}, []string{"evt_l3"}},
		{"unrouted", gateway.EventFilter{Status: gateway.StatusUnrouted}, []string{"evt_l4"}},
		{"subscriber and status", gateway.EventFilter{Subscriber: "sub-b", Status: gateway.StatusPending}, []string{"evt_l3", "evt_l2"}},
		{"status of another subscriber", gateway.EventFilter{Subscriber: "sub-a", Status: gateway.StatusPending}, nil},
		{"source and subscriber", gateway.EventFilter{Source: "src1", Subscriber: "sub-a"}, []string{"evt_l3", "evt_l1"}},
		{"source and type", gateway.EventFilter{Source: "src2", Type: "src2.product.created"}, []string{"evt_l5"}},
		{"source, subscriber and status", gateway.EventFilter{Source: "src2", Subscriber: "sub-a", Status: gateway.StatusRetrying}, []string{"evt_l5"}},
		{"subject", gateway.EventFilter{Subject: "product/evt_l3"}, []string{"evt_l3"}},
		{"subject is matched whole", gateway.EventFilter{Subject: "product/evt_l"}, nil},
		{"subject and subscriber", gateway.EventFilter{Subject: "product/evt_l2", Subscriber: "sub-b"}, []string{"evt_l2"}},
		{"subject of another subscriber", gateway.EventFilter{Subject: "product/evt_l2", Subscriber: "sub-a"}, nil},
	}
	for _, tc := range tests {
		page, err := s.List(context.Background(), tc.f)
		if err != nil {
			t.Fatalf("%s: List: %v", tc.name, err)
		}
		var got []string
		for _, e := range page.Events {
			got = append(got, e.ID)
		}
		if !equalStrings(got, tc.want) || page.NextCursor != "" {
			t.Errorf("%s: List(%+v) = %v, cursor %q; want %v, \"\"", tc.name, tc.f, got, page.NextCursor, tc.want)
		}
	}

	// The rows themselves, with the event status summed up over deliveries
	// and each delivery's own status beside it.
	page, err := s.List(context.Background(), gateway.EventFilter{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := []gateway.EventSummary{
		{ID: "evt_l5", Source: "src2", Type: "src2.product.created", Subject: "product/evt_l5", ReceivedAt: at(5 * time.Minute), Status: gateway.StatusRetrying,
			Deliveries: map[string]gateway.DeliveryStatus{"sub-a": gateway.StatusRetrying}},
		{ID: "evt_l4", Source: "src1", Type: "src1.product.created", Subject: "product/evt_l4", ReceivedAt: at(4 * time.Minute), Status: gateway.StatusUnrouted,
			Deliveries: map[string]gateway.DeliveryStatus{}},
		{ID: "evt_l3", Source: "src1", Type: "src1.option.updated", Subject: "product/evt_l3", ReceivedAt: at(3 * time.Minute), Status: gateway.StatusDead,
			Deliveries: map[string]gateway.DeliveryStatus{"sub-a": gateway.StatusDead, "sub-b": gateway.StatusPending}},
		{ID: "evt_l2", Source: "src2", Type: "src2.option.updated", Subject: "product/evt_l2", ReceivedAt: at(2 * time.Minute), Status: gateway.StatusPending,
			Deliveries: map[string]gateway.DeliveryStatus{"sub-b": gateway.StatusPending}},
		{ID: "evt_l1", Source: "src1", Type: "src1.product.created", Subject: "product/evt_l1", ReceivedAt: at(1 * time.Minute), Status: gateway.StatusDelivered,
			Deliveries: map[string]gateway.DeliveryStatus{"sub-a": gateway.StatusDelivered}},
	}
	for i := range min(len(want), len(page.Events)) {
		got := page.Events[i]
		got.ReceivedAt = got.ReceivedAt.UTC()
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("row %d = %+v, want %+v", i, got, want[i])
		}
	}
}

func testListPagination(t *testing.T, h harness) {
	s := h.store(t)
	var evs []gateway.NewEvent
	for i := range 25 {
		// Three events share each receipt time: the cursor must handle ties.
		src := []string{"src1", "src2"}[i%2]
		evs = append(evs, newEvent(fmt.Sprintf("evt_p%02d", i), src, src+".product.updated", at(time.Duration(i/3)*time.Second), "sub-a"))
	}
	put(t, s, evs...)

	tests := []struct {
		name  string
		f     gateway.EventFilter
		total int
	}{
		{"all", gateway.EventFilter{Limit: 4}, 25},
		{"all, page of one", gateway.EventFilter{Limit: 1}, 25},
		{"filtered by source", gateway.EventFilter{Source: "src2", Limit: 4}, 12},
		{"filtered by subscriber and status", gateway.EventFilter{Subscriber: "sub-a", Status: gateway.StatusPending, Limit: 5}, 25},
	}
	for _, tc := range tests {
		seen := map[string]bool{}
		var last time.Time
		f := tc.f
		for pages := 0; ; pages++ {
			if pages > 30 {
				t.Fatalf("%s: more than 30 pages, the cursor does not advance", tc.name)
			}
			page, err := s.List(context.Background(), f)
			if err != nil {
				t.Fatalf("%s: List(%+v): %v", tc.name, f, err)
			}
			if len(page.Events) > f.Limit {
				t.Errorf("%s: page %d has %d events, over the limit %d", tc.name, pages, len(page.Events), f.Limit)
			}
			for _, e := range page.Events {
				if seen[e.ID] {
					t.Errorf("%s: %s listed twice", tc.name, e.ID)
				}
				seen[e.ID] = true
				if !last.IsZero() && e.ReceivedAt.After(last) {
					t.Errorf("%s: %s received %v after the previous row's %v: not newest first", tc.name, e.ID, e.ReceivedAt, last)
				}
				last = e.ReceivedAt
				if f.Source != "" && e.Source != f.Source {
					t.Errorf("%s: %s has source %s", tc.name, e.ID, e.Source)
				}
			}
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
		if len(seen) != tc.total {
			t.Errorf("%s: pages held %d distinct events, want %d", tc.name, len(seen), tc.total)
		}
	}
}

func testListLimit(t *testing.T, h harness) {
	s := h.store(t)
	var evs []gateway.NewEvent
	for i := range 510 {
		evs = append(evs, newEvent(fmt.Sprintf("evt_n%03d", i), "src1", "src1.product.updated", at(time.Duration(i)*time.Millisecond)))
	}
	put(t, s, evs...)
	tests := []struct {
		limit, want int
	}{
		{0, 50},
		{-1, 50},
		{10, 10},
		{500, 500},
		{1000, 500},
	}
	for _, tc := range tests {
		page, err := s.List(context.Background(), gateway.EventFilter{Limit: tc.limit})
		if err != nil {
			t.Fatalf("List(limit %d): %v", tc.limit, err)
		}
		if len(page.Events) != tc.want || page.NextCursor == "" {
			t.Errorf("List(limit %d) = %d events, cursor %q; want %d and a cursor", tc.limit, len(page.Events), page.NextCursor, tc.want)
		}
		if len(page.Events) > 0 && page.Events[0].ID != "evt_n509" {
			t.Errorf("List(limit %d) starts with %s, want the newest, evt_n509", tc.limit, page.Events[0].ID)
		}
	}
}

// A cursor the store did not hand out is the caller's mistake: ErrInvalid
// (the admin API answers 400), not ErrUnavailable (503).
func testListBadCursor(t *testing.T, h harness) {
	s := h.store(t)
	for _, cur := range []string{"garbage", "!!", "0000"} {
		_, err := s.List(context.Background(), gateway.EventFilter{Cursor: cur})
		wantErr(t, "List(cursor "+cur+")", err, gateway.ErrInvalid)
		if errors.Is(err, gateway.ErrUnavailable) {
			t.Errorf("List(cursor %s): %v also wraps ErrUnavailable", cur, err)
		}
	}
}
